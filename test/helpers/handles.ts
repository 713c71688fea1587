/**
 * Leak checks for a test process where gateway, cluster and client run together: active handles by
 * kind (process.getActiveResourcesInfo(); unref'd timers are not listed there).
 */

/** Active handles of this process by kind (TCPSocketWrap, Timeout, ProcessWrap, PipeWrap, …). */
export function handleCounts(): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const kind of process.getActiveResourcesInfo()) counts[kind] = (counts[kind] ?? 0) + 1;
  return counts;
}

/** Kinds that would be a leak if they outlived the session. */
const LEAKABLE = ['TCPSocketWrap', 'TCPServerWrap', 'Timeout', 'ProcessWrap', 'PipeWrap', 'TTYWrap'];

/**
 * Waits (bounded) until no leakable kind counts more handles than in `baseline`. Polls with an
 * unref'd timer, which getActiveResourcesInfo() does not list, so the wait does not count itself.
 */
export async function noHandlesLeft(t: { same(found: unknown, wanted: unknown, message: string): unknown }, baseline: Record<string, number>): Promise<void> {
  const excess = (): Record<string, number> => {
    const now = handleCounts();
    const over: Record<string, number> = {};
    for (const kind of LEAKABLE) if ((now[kind] ?? 0) > (baseline[kind] ?? 0)) over[kind] = (now[kind] ?? 0) - (baseline[kind] ?? 0);
    return over;
  };
  const deadline = Date.now() + 10_000;
  while (Object.keys(excess()).length > 0 && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 10).unref());
  }
  t.same(excess(), {}, `no sockets, timers, pipes or processes left over (baseline ${JSON.stringify(baseline)})`);
}
