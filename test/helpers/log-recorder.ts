import type { DestinationStream } from 'pino';

export type LogRecord = Record<string, unknown> & { msg?: string; event?: string };

/** A pino destination that keeps every JSON line, so tests can assert on what the gateway logged. */
export class LogRecorder implements DestinationStream {
  readonly records: LogRecord[] = [];
  private waiters: Array<{ match: (record: LogRecord) => boolean; resolve: (record: LogRecord) => void }> = [];

  write(line: string): void {
    const record = JSON.parse(line) as LogRecord;
    this.records.push(record);
    if (process.env.GATEWAY_TEST_LOGS) process.stderr.write(line);
    this.waiters = this.waiters.filter((waiter) => {
      if (!waiter.match(record)) return true;
      waiter.resolve(record);
      return false;
    });
  }

  find(match: (record: LogRecord) => boolean): LogRecord[] {
    return this.records.filter(match);
  }

  /** Resolves with the first record (already logged or future) that matches. */
  waitFor(match: (record: LogRecord) => boolean): Promise<LogRecord> {
    const existing = this.records.find(match);
    if (existing) return Promise.resolve(existing);
    return new Promise((resolve) => this.waiters.push({ match, resolve }));
  }
}
