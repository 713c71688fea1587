/**
 * Reads a raw recording (docs/recording.md): a JSON header line, then JSON lines, each followed by
 * `n` payload bytes when it names a stream `s`. Streams are rebuilt by concatenation.
 */
export interface RawRecording {
  header: Record<string, unknown>;
  streams: Map<string, Buffer>;
  lines: Record<string, unknown>[];
}

export function readRawRecording(file: Buffer): RawRecording {
  let at = file.indexOf(10) + 1;
  const header = JSON.parse(file.subarray(0, at - 1).toString()) as Record<string, unknown>;
  const parts = new Map<string, Buffer[]>();
  const lines: Record<string, unknown>[] = [];
  while (at < file.length) {
    const end = file.indexOf(10, at);
    if (end < 0) break; // a line cut by a crash
    const line = JSON.parse(file.subarray(at, end).toString()) as Record<string, unknown>;
    lines.push(line);
    at = end + 1;
    if (typeof line.s === 'string') {
      const bytes = file.subarray(at, at + (line.n as number));
      const list = parts.get(line.s) ?? [];
      list.push(bytes);
      parts.set(line.s, list);
      at += line.n as number;
    }
  }
  return { header, streams: new Map([...parts].map(([name, list]) => [name, Buffer.concat(list)])), lines };
}
