/**
 * Runs until SIGINT or SIGTERM, then stops cleanly and exits 0; a second signal exits at once
 * (an operator who presses Ctrl-C twice means it).
 */
export function stopOnSignal(stop: () => Promise<void>): Promise<void> {
  return new Promise((resolve) => {
    let stopping = false;
    const onSignal = (signal: NodeJS.Signals): void => {
      if (stopping) {
        process.exit(signal === 'SIGINT' ? 130 : 143);
      }
      stopping = true;
      stop().then(
        () => resolve(),
        (error: unknown) => {
          process.stderr.write(`kube-stream-gateway: error while stopping: ${(error as Error).message}\n`);
          process.exit(1);
        },
      );
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
}
