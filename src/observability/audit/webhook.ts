/**
 * Audit events delivered to an HTTP endpoint as kube-apiserver's batching audit webhook does:
 * `audit.k8s.io/v1` `EventList` documents POSTed as JSON, one batch when `batchMaxSize` events are
 * waiting or `batchMaxWaitMs` after the first of them, a failed batch retried with exponential
 * backoff (transport errors, 429 and 5xx) up to `maxAttempts` times, then dropped and counted.
 *
 *   createAuditWebhook({ post, batchMaxSize, batchMaxWaitMs, bufferSize, initialBackoffMs, maxAttempts })
 *     → { write(event), close(timeoutMs), dropped }
 *
 * Memory is bounded whatever the receiver does: at most `bufferSize` events wait, plus the one batch
 * in flight (one at a time, so a slow receiver slows delivery, not the gateway); beyond that events
 * are dropped. write() never waits.
 */
import type { AuditEvent } from './events.js';

interface AuditEventList {
  kind: 'EventList';
  apiVersion: 'audit.k8s.io/v1';
  metadata: Record<string, never>;
  items: AuditEvent[];
}

export interface AuditWebhookOptions {
  /** POSTs one EventList: resolves with the HTTP status, rejects when no answer came. */
  post(list: AuditEventList): Promise<number>;
  batchMaxSize: number;
  batchMaxWaitMs: number;
  /** Events waiting for delivery, at most. */
  bufferSize: number;
  /** Wait before the second attempt; each further wait is 1.5 times longer. */
  initialBackoffMs: number;
  /** Attempts per batch, the first included. */
  maxAttempts: number;
  onWritten?: (count: number) => void;
  onDropped?: (count: number) => void;
  /** One line per failed attempt, for the log: no event content. */
  onError?: (message: string) => void;
}

export interface AuditWebhook {
  /** Queues one event; false when it was dropped (buffer full, or closed). */
  write(event: AuditEvent): boolean;
  /** Delivers what waits, for at most `timeoutMs` (retries included); drops the rest. */
  close(timeoutMs: number): Promise<void>;
  readonly dropped: number;
}

const BACKOFF_FACTOR = 1.5;

export function createAuditWebhook(options: AuditWebhookOptions): AuditWebhook {
  const queue: AuditEvent[] = [];
  let dropped = 0;
  let closed = false;
  let deadline = Infinity;
  let batchTimer: NodeJS.Timeout | undefined;
  let sending: Promise<void> | undefined;
  let wakeUp: (() => void) | undefined;

  function drop(count: number): void {
    if (count === 0) return;
    dropped += count;
    options.onDropped?.(count);
  }

  function schedule(): void {
    if (sending || queue.length === 0) return;
    if (closed || queue.length >= options.batchMaxSize) {
      clearTimeout(batchTimer);
      batchTimer = undefined;
      sending = sendAll().finally(() => {
        sending = undefined;
        schedule();
      });
      return;
    }
    batchTimer ??= setTimeout(() => {
      batchTimer = undefined;
      sending = sendAll().finally(() => {
        sending = undefined;
        schedule();
      });
    }, options.batchMaxWaitMs);
  }

  /** Sends full batches back to back, then whatever is left (the wait for it is over). */
  async function sendAll(): Promise<void> {
    do {
      const batch = queue.splice(0, options.batchMaxSize);
      await deliver(batch);
    } while (queue.length >= options.batchMaxSize || (closed && queue.length > 0 && Date.now() < deadline));
    if (closed && Date.now() >= deadline) {
      drop(queue.length);
      queue.length = 0;
    }
  }

  async function deliver(items: AuditEvent[]): Promise<void> {
    const list: AuditEventList = { kind: 'EventList', apiVersion: 'audit.k8s.io/v1', metadata: {}, items };
    let wait = options.initialBackoffMs;
    for (let attempt = 1; ; attempt++) {
      let failure: string;
      try {
        const status = await options.post(list);
        if (status >= 200 && status < 300) {
          options.onWritten?.(items.length);
          return;
        }
        failure = `the receiver answered ${status}`;
        if (status !== 429 && status < 500) {
          options.onError?.(`${failure}; ${items.length} events dropped`);
          drop(items.length);
          return;
        }
      } catch (error) {
        failure = (error as Error).message;
      }
      if (attempt >= options.maxAttempts || Date.now() + wait >= deadline) {
        options.onError?.(`${failure}; ${items.length} events dropped after ${attempt} attempts`);
        drop(items.length);
        return;
      }
      options.onError?.(`${failure}; retrying in ${Math.round(wait)} ms`);
      await sleep(wait);
      wait *= BACKOFF_FACTOR;
    }
  }

  /** A backoff wait that close() can cut short. */
  function sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done(): void {
        clearTimeout(timer);
        wakeUp = undefined;
        resolve();
      }
      wakeUp = done;
    });
  }

  return {
    write(event) {
      if (closed || queue.length >= options.bufferSize) {
        drop(1);
        return false;
      }
      queue.push(event);
      schedule();
      return true;
    },
    async close(timeoutMs) {
      if (!closed) {
        closed = true;
        deadline = Date.now() + timeoutMs;
        clearTimeout(batchTimer);
        batchTimer = undefined;
        schedule();
      }
      let timer: NodeJS.Timeout | undefined;
      const expired = new Promise<void>((resolve) => (timer = setTimeout(resolve, Math.max(0, deadline - Date.now()))));
      while (sending) {
        const current = sending;
        await Promise.race([current, expired.then(() => wakeUp?.())]);
        if (Date.now() >= deadline) break;
      }
      clearTimeout(timer);
      // Past the deadline: what never left is dropped (a batch still in flight is counted when it ends).
      drop(queue.length);
      queue.length = 0;
    },
    get dropped() {
      return dropped;
    },
  };
}
