import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from '../observability/logger.js';
import { badRequest } from './api-objects.js';

/** Lines kept per container, like a kubelet's rotated log file: the oldest go first. */
const MAX_LINES = 10_000;
/** A line longer than this is cut into pieces (the CRI log format splits long lines too). */
const MAX_LINE_BYTES = 16 * 1024;

export interface LogLine {
  /** When the container wrote it (the CRI log's timestamp). */
  time: Date;
  /** The line with its newline. */
  text: string;
}

/**
 * A container's log, as the kubelet keeps it: timestamped lines, bounded, with followers who get
 * each line the moment it is written (`kubectl logs -f`). The main process's stdout and stderr are
 * written here; tests (and the demo) append lines directly.
 */
export class ContainerLog {
  private readonly lines: LogLine[] = [];
  private readonly followers = new Set<(line: LogLine) => void>();
  private partial = '';

  /** Appends one line (a newline is added when missing). */
  appendLine(text: string, time = new Date()): void {
    const line = { time, text: text.endsWith('\n') ? text : `${text}\n` };
    this.lines.push(line);
    if (this.lines.length > MAX_LINES) this.lines.shift();
    for (const follower of this.followers) follower(line);
  }

  /** Output of the container's process: whole lines are logged, the rest waits for its newline. */
  write(chunk: Buffer | string): void {
    let text = this.partial + chunk.toString();
    let newline: number;
    while ((newline = text.indexOf('\n')) >= 0) {
      this.appendLine(text.slice(0, newline + 1));
      text = text.slice(newline + 1);
    }
    while (Buffer.byteLength(text) > MAX_LINE_BYTES) {
      this.appendLine(text.slice(0, MAX_LINE_BYTES));
      text = text.slice(MAX_LINE_BYTES);
    }
    this.partial = text;
  }

  /** The kept lines that pass `since`, the last `tail` of them. */
  snapshot(since: Date | undefined, tail: number | undefined): LogLine[] {
    const recent = since ? this.lines.filter((line) => line.time >= since) : [...this.lines];
    return tail === undefined ? recent : tail === 0 ? [] : recent.slice(-tail);
  }

  /** Calls `listener` with every line from now on; returns the unsubscribe. */
  follow(listener: (line: LogLine) => void): () => void {
    this.followers.add(listener);
    return () => this.followers.delete(listener);
  }

  get followerCount(): number {
    return this.followers.size;
  }
}

export interface LogOptions {
  follow: boolean;
  tailLines?: number;
  since?: Date;
  timestamps: boolean;
}

/** PodLogOptions from the query, with the API server's validation messages. */
export function parseLogOptions(query: URLSearchParams, now = new Date()): LogOptions {
  const flag = (name: string): boolean => {
    const value = query.get(name);
    if (value === null || value === '' || value === 'false' || value === '0') return false;
    if (value === 'true' || value === '1') return true;
    throw badRequest(`invalid value for ${name}: ${JSON.stringify(value)}`);
  };
  const integer = (name: string): number | undefined => {
    const value = query.get(name);
    if (value === null) return undefined;
    const parsed = Number(value);
    if (!/^-?\d+$/.test(value) || !Number.isSafeInteger(parsed)) throw badRequest(`invalid value for ${name}: ${JSON.stringify(value)}`);
    return parsed;
  };
  const options: LogOptions = { follow: flag('follow'), timestamps: flag('timestamps') };
  const tailLines = integer('tailLines');
  if (tailLines !== undefined) {
    if (tailLines < 0) throw badRequest('PodLogOptions.tailLines: Invalid value: must be greater than or equal to 0');
    options.tailLines = tailLines;
  }
  const sinceSeconds = integer('sinceSeconds');
  const sinceTime = query.get('sinceTime');
  if (sinceSeconds !== undefined && sinceTime !== null) throw badRequest('PodLogOptions: Forbidden: at most one of `sinceTime` or `sinceSeconds` may be specified');
  if (sinceSeconds !== undefined) {
    if (sinceSeconds < 1) throw badRequest('PodLogOptions.sinceSeconds: Invalid value: must be greater than 0');
    options.since = new Date(now.getTime() - sinceSeconds * 1000);
  }
  if (sinceTime !== null) {
    const parsed = new Date(sinceTime);
    if (Number.isNaN(parsed.getTime())) throw badRequest(`invalid value for sinceTime: ${JSON.stringify(sinceTime)}`);
    options.since = parsed;
  }
  return options;
}

/**
 * RFC 3339 with nanoseconds, trailing zeros trimmed, as Go's time.RFC3339Nano prints.
 * @internal Exported for its unit test; the product uses it only here.
 */
export function rfc3339Nano(time: Date): string {
  return time.toISOString().replace(/\.(\d*?)0*Z$/, (_, digits: string) => (digits ? `.${digits}Z` : 'Z'));
}

/**
 * Answers `GET …/pods/NAME/log` as the kubelet does: `text/plain`, the kept lines, and with
 * `follow` every new line as its own chunk the moment it is written, until the client goes away.
 */
export function serveContainerLog(req: IncomingMessage, res: ServerResponse, log: ContainerLog, options: LogOptions, logger: Logger): void {
  const format = (line: LogLine): string => (options.timestamps ? `${rfc3339Nano(line.time)} ${line.text}` : line.text);
  res.writeHead(200, { 'Content-Type': 'text/plain', 'Cache-Control': 'no-cache, private', 'X-Content-Type-Options': 'nosniff' });
  // kubectl waits for the headers before it prints anything: send them now, not with the first line.
  res.flushHeaders();
  const past = log.snapshot(options.since, options.tailLines).map(format).join('');
  if (past) res.write(past);
  if (!options.follow) {
    res.end();
    return;
  }
  const started = Date.now();
  logger.info({ event: 'logs-follow-start' }, 'following a container log');
  const unfollow = log.follow((line) => res.write(format(line)));
  res.once('close', () => {
    unfollow();
    logger.info({ event: 'logs-follow-end', durationMs: Date.now() - started }, 'stopped following a container log');
  });
  req.resume();
}
