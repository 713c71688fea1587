/**
 * Waits for observable state that no event announces (a counter reaching zero), checking every 10 ms
 * and failing with `what` after `limitMs`: a bounded wait-until, never a fixed sleep.
 */
export function until(condition: () => boolean, what: string, limitMs = 20_000): Promise<void> {
  const deadline = Date.now() + limitMs;
  return new Promise((resolve, reject) => {
    const check = (): void => {
      if (condition()) resolve();
      else if (Date.now() > deadline) reject(new Error(`timed out after ${limitMs} ms waiting for ${what}`));
      else setTimeout(check, 10);
    };
    check();
  });
}
