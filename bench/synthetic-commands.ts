import type { Readable, Writable } from 'node:stream';
import { exitCodeStatus, successStatus, type Status } from '../src/codecs/k8s/status.js';
import type { Execution, SessionStreams } from '../src/legacy-cluster/remote-command.js';

/**
 * The commands the synthetic upstream runs in-process instead of spawning them — exactly the ones the
 * benchmark uses, each producing the bytes the real command would:
 *
 * | command                                       | does                                                          |
 * |-----------------------------------------------|---------------------------------------------------------------|
 * | `cat`                                         | stdin → stdout (back-pressure through pipe) until stdin ends  |
 * | `echo ARG…`                                   | the arguments joined by spaces, then `\n`                     |
 * | `head -c N /dev/zero`                         | N zero bytes                                                  |
 * | `sh -c 'cat > /dev/null'`                     | reads and drops stdin until it ends                           |
 * | `sh -c 'read go; exec head -c N /dev/zero'`   | waits for a line on stdin (or its end), then N zero bytes     |
 *
 * Anything else fails with exit code 127 and a message naming the command, so a benchmark that asks
 * for something this stand-in does not do fails loudly instead of measuring nothing.
 */
const SYNTHETIC_COMMANDS = ['cat', 'echo ARG…', 'head -c N /dev/zero', "sh -c 'cat > /dev/null'", "sh -c 'read go; exec head -c N /dev/zero'"];

/**
 * One zero-filled chunk shared by every `head -c N /dev/zero`: it is never written to, so sessions
 * can share it and nothing is allocated per chunk (sockets hold references to it until written).
 */
const ZEROS = Buffer.alloc(32 * 1024);
const HEAD_ZEROS = /^\d+$/;
const READ_THEN_HEAD = /^read go; exec head -c (\d+) \/dev\/zero$/;

/** Starts `argv` on the session's streams; the Status comes once it is done. */
export function runSyntheticCommand(argv: readonly string[], streams: SessionStreams): Execution {
  const aborted = new AbortController();
  // No terminal here: sizes are read and dropped.
  streams.resize?.resume();
  const status = run(argv, streams, aborted.signal);
  return {
    status,
    async abort() {
      aborted.abort();
      await status;
    },
  };
}

async function run(argv: readonly string[], streams: SessionStreams, signal: AbortSignal): Promise<Status> {
  const { stdin, stdout } = streams;
  const [name, ...args] = argv;
  if (name === 'cat' && args.length === 0) {
    await echoInput(stdin, stdout, signal);
    return successStatus();
  }
  if (name === 'echo') {
    // Ignores stdin, as echo does.
    stdin?.resume();
    if (stdout) await write(stdout, Buffer.from(`${args.join(' ')}\n`), signal);
    return successStatus();
  }
  if (name === 'head' && args.length === 3 && args[0] === '-c' && HEAD_ZEROS.test(args[1]!) && args[2] === '/dev/zero') {
    stdin?.resume();
    await writeZeros(Number(args[1]), stdout, signal);
    return successStatus();
  }
  if (name === 'sh' && args.length === 2 && args[0] === '-c') {
    if (args[1] === 'cat > /dev/null') {
      await echoInput(stdin, undefined, signal);
      return successStatus();
    }
    const readThenHead = READ_THEN_HEAD.exec(args[1]!);
    if (readThenHead) {
      await lineOrEnd(stdin, signal);
      // Whatever follows the line is left to a reader that never comes (head does not read stdin).
      stdin?.resume();
      await writeZeros(Number(readThenHead[1]), stdout, signal);
      return successStatus();
    }
  }
  stdin?.resume();
  return exitCodeStatus(127, `synthetic upstream has no built-in command ${JSON.stringify(argv)}; it runs: ${SYNTHETIC_COMMANDS.join(', ')}`);
}

/** stdin → stdout (or dropped when there is no stdout) until stdin ends. */
async function echoInput(stdin: Readable | undefined, stdout: Writable | undefined, signal: AbortSignal): Promise<void> {
  if (!stdin) return;
  // Output streams end with RST_STREAM after the Status, never FIN: do not end stdout here.
  if (stdout) stdin.pipe(stdout, { end: false });
  else stdin.resume();
  await settled(stdin, ['end', 'close'], signal);
  if (stdout) stdin.unpipe(stdout);
}

/** `count` zero bytes from the one shared chunk, waiting for 'drain' whenever write() says so. */
async function writeZeros(count: number, stdout: Writable | undefined, signal: AbortSignal): Promise<void> {
  if (!stdout) return;
  for (let left = count; left > 0 && !signal.aborted && !stdout.destroyed; ) {
    const chunk = left >= ZEROS.length ? ZEROS : ZEROS.subarray(0, left);
    left -= chunk.length;
    if (!stdout.write(chunk)) await settled(stdout, ['drain', 'close'], signal);
  }
}

async function write(stdout: Writable, chunk: Buffer, signal: AbortSignal): Promise<void> {
  if (!stdout.write(chunk)) await settled(stdout, ['drain', 'close'], signal);
}

/** Resolves at the first newline on stdin, at its end, or at once without stdin (sh's `read`). */
function lineOrEnd(stdin: Readable | undefined, signal: AbortSignal): Promise<void> {
  if (!stdin) return Promise.resolve();
  const sawLine = new AbortController();
  const onData = (chunk: Buffer): void => {
    if (chunk.includes(0x0a)) sawLine.abort();
  };
  stdin.on('data', onData);
  return settled(stdin, ['end', 'close'], AbortSignal.any([signal, sawLine.signal])).then(() => void stdin.off('data', onData));
}

/** Resolves on the first of `events` on `emitter`, or when `signal` aborts (the client is gone). */
function settled(emitter: Readable | Writable, events: string[], signal: AbortSignal): Promise<void> {
  if (signal.aborted || emitter.destroyed || (events.includes('end') && (emitter as Readable).readableEnded)) return Promise.resolve();
  return new Promise((resolve) => {
    const done = (): void => {
      for (const event of events) emitter.off(event, done);
      signal.removeEventListener('abort', done);
      resolve();
    };
    for (const event of events) emitter.once(event, done);
    signal.addEventListener('abort', done, { once: true });
  });
}
