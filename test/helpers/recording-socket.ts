import { Duplex } from 'node:stream';

/**
 * A socket stand-in that records each call the stream machinery makes on it — one entry per write
 * or writev, with its chunks — so tests can count what would have been syscalls. With `hold`, no
 * call completes until `release()`, as a kernel buffer that is full.
 */
export function recordingSocket(options: { hold?: boolean } = {}): { socket: Duplex; calls: Buffer[][]; release(): void } {
  const calls: Buffer[][] = [];
  let held: (() => void)[] = [];
  let holding = options.hold === true;
  const complete = (done: () => void): void => {
    if (holding) held.push(done);
    else done();
  };
  const socket = new Duplex({
    read: () => undefined,
    write(chunk: Buffer, _encoding, done) {
      calls.push([chunk]);
      complete(() => done());
    },
    writev(chunks, done) {
      calls.push(chunks.map(({ chunk }) => chunk as Buffer));
      complete(() => done());
    },
  });
  return {
    socket,
    calls,
    release: () => {
      holding = false;
      const waiting = held;
      held = [];
      for (const done of waiting) done();
    },
  };
}
