/**
 * Audit events in the shape of Kubernetes `audit.k8s.io/v1` Event, level Metadata, one JSON line
 * each, so existing audit pipelines read them: one per streaming session (ResponseStarted when it
 * opens, ResponseComplete when it ends) and one per denied request.
 *
 *   auditEvent(input) → AuditEvent                  (keys in Go's field order, empty fields omitted)
 *   microTime(epochMicroseconds) / nowMicros()      (metav1.MicroTime text: 2006-01-02T15:04:05.000000Z)
 *   createAuditWriter(path | '-' | Writable, { maxQueuedEvents?, rotation?, onWritten?, onDropped? })
 *     → { write(event), close(), dropped }
 *
 * Metadata level: no request or response bodies. Nothing here reads headers: callers pass the
 * identity, never a credential, so tokens cannot reach the audit log. The writer never blocks the
 * gateway: while the destination pushes back (write() returned false) events wait in a bounded
 * queue (default 10 000); beyond it they are dropped and counted. A file path is rotated as
 * kube-apiserver's audit log is (rotating-file.ts).
 */
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { performance } from 'node:perf_hooks';
import type { Writable } from 'node:stream';
import type { UserInfo } from '../../auth/identity.js';
import type { RequestAttributes } from '../../auth/request-attributes.js';
import { RotatingFileStream, type RotationOptions } from './rotating-file.js';

export type AuditStage = 'RequestReceived' | 'ResponseStarted' | 'ResponseComplete' | 'Panic';

interface AuditUser {
  username?: string;
  uid?: string;
  groups?: string[];
  extra?: Record<string, string[]>;
}

export interface AuditEvent {
  kind: 'Event';
  apiVersion: 'audit.k8s.io/v1';
  level: 'Metadata';
  auditID: string;
  stage: AuditStage;
  requestURI: string;
  verb: string;
  user: AuditUser;
  impersonatedUser?: AuditUser;
  sourceIPs?: string[];
  userAgent?: string;
  objectRef?: Record<string, string>;
  responseStatus?: { metadata: Record<string, never>; status?: string; message?: string; reason?: string; code?: number };
  requestReceivedTimestamp: string;
  stageTimestamp: string;
  annotations?: Record<string, string>;
}

export interface AuditInput {
  /** One ID for every stage of a request or session; a new UUID when absent. */
  auditID?: string;
  stage: AuditStage;
  requestURI: string;
  attributes: RequestAttributes;
  /** The authenticated caller; absent when authentication failed. */
  user?: UserInfo;
  /** Whom the caller acted as (its own Impersonate-* headers); in edge mode the caller itself is what upstream sees. */
  impersonatedUser?: UserInfo;
  sourceIPs: string[];
  userAgent?: string;
  responseStatus?: { code: number; status?: 'Success' | 'Failure'; reason?: string; message?: string };
  /** Microseconds since the epoch (nowMicros()). */
  requestReceivedMicros: number;
  stageMicros?: number;
  annotations?: Record<string, string>;
}

export function auditEvent(input: AuditInput): AuditEvent {
  const a = input.attributes;
  // Spread in Go's field order, so the JSON reads like kube-apiserver's; absent fields are omitted (omitempty).
  return {
    kind: 'Event',
    apiVersion: 'audit.k8s.io/v1',
    level: 'Metadata',
    auditID: input.auditID ?? randomUUID(),
    stage: input.stage,
    requestURI: input.requestURI,
    verb: a.verb,
    user: auditUser(input.user),
    ...(input.impersonatedUser ? { impersonatedUser: auditUser(input.impersonatedUser) } : {}),
    ...(input.sourceIPs.length > 0 ? { sourceIPs: [...input.sourceIPs] } : {}),
    ...(input.userAgent ? { userAgent: input.userAgent } : {}),
    ...(a.resourceRequest ? { objectRef: objectRef(a) } : {}),
    ...(input.responseStatus ? { responseStatus: responseStatus(input.responseStatus) } : {}),
    requestReceivedTimestamp: microTime(input.requestReceivedMicros),
    stageTimestamp: microTime(input.stageMicros ?? nowMicros()),
    ...(input.annotations && Object.keys(input.annotations).length > 0 ? { annotations: { ...input.annotations } } : {}),
  };
}

/** audit.ObjectReference, fields in its order: resource, namespace, name, apiGroup, apiVersion, subresource. */
function objectRef(a: RequestAttributes): Record<string, string> {
  const ref: Record<string, string> = {};
  for (const key of ['resource', 'namespace', 'name', 'apiGroup', 'apiVersion', 'subresource'] as const) {
    if (a[key]) ref[key] = a[key];
  }
  return ref;
}

/** metav1.Status fields in Go's order: metadata, status, message, reason, code. */
function responseStatus(input: NonNullable<AuditInput['responseStatus']>): NonNullable<AuditEvent['responseStatus']> {
  return {
    metadata: {},
    ...(input.status ? { status: input.status } : {}),
    ...(input.message ? { message: input.message } : {}),
    ...(input.reason ? { reason: input.reason } : {}),
    code: input.code,
  };
}

function auditUser(user: UserInfo | undefined): AuditUser {
  if (!user) return {};
  const out: AuditUser = { username: user.name };
  if (user.uid) out.uid = user.uid;
  if (user.groups.length > 0) out.groups = [...user.groups];
  if (Object.keys(user.extra).length > 0) out.extra = structuredClone(user.extra);
  return out;
}

/** Wall-clock microseconds since the epoch (Date has milliseconds only). */
export function nowMicros(): number {
  return Math.floor((performance.timeOrigin + performance.now()) * 1000);
}

/**
 * metav1.MicroTime's RFC 3339 form, always six fractional digits, UTC.
 * @internal Exported for its unit test; the product uses it only here.
 */
export function microTime(epochMicros: number): string {
  const millis = Math.floor(epochMicros / 1000);
  const micros = String(Math.floor(epochMicros) - millis * 1000).padStart(3, '0');
  return new Date(millis).toISOString().replace(/\.(\d{3})Z$/, `.$1${micros}Z`);
}

export interface AuditWriter {
  /** Queues one event; false when it was dropped because the queue is full or the writer closed. */
  write(event: AuditEvent): boolean;
  /** Writes what is queued, then ends a file destination (stdout is left open). */
  close(): Promise<void>;
  readonly dropped: number;
  /** The destination's error, if it failed; events are dropped from then on. */
  readonly error: Error | undefined;
}

export interface AuditWriterOptions {
  maxQueuedEvents?: number;
  /** For a file path: when to rotate it; absent: never. */
  rotation?: RotationOptions;
  /** Told of each event handed to the destination, and of each dropped one (metrics). */
  onWritten?: () => void;
  onDropped?: (count: number) => void;
}

const NO_ROTATION: RotationOptions = { maxSizeBytes: 0, maxBackups: 0, maxAgeDays: 0 };

/** Throws when a file path cannot be opened for appending (at start, not silently later). */
export function createAuditWriter(destination: string | Writable, options: AuditWriterOptions = {}): AuditWriter {
  const maxQueued = options.maxQueuedEvents ?? 10_000;
  const ownStream = typeof destination === 'string' && destination !== '-';
  const stream: Writable =
    typeof destination !== 'string' ? destination : destination === '-' ? process.stdout : new RotatingFileStream(destination, options.rotation ?? NO_ROTATION);
  const queue: string[] = [];
  let waitingForDrain = false;
  let closed = false;
  let dropped = 0;
  let failure: Error | undefined;
  const drained = new Set<() => void>();

  stream.on('error', (error: Error) => {
    failure ??= error;
    waitingForDrain = false; // a failed stream never drains
    drop(queue.length);
    queue.length = 0;
    for (const resolve of drained) resolve();
  });

  function drop(count: number): void {
    if (count === 0) return;
    dropped += count;
    options.onDropped?.(count);
  }

  function pump(): void {
    while (queue.length > 0 && !waitingForDrain && !failure) {
      const accepted = stream.write(queue.shift()!);
      options.onWritten?.();
      if (!accepted) {
        waitingForDrain = true;
        stream.once('drain', () => {
          waitingForDrain = false;
          pump();
        });
      }
    }
    if (queue.length === 0 && !waitingForDrain) for (const resolve of drained) resolve();
  }

  return {
    write(event) {
      if (closed || failure || queue.length >= maxQueued) {
        drop(1);
        return false;
      }
      queue.push(`${JSON.stringify(event)}\n`);
      pump();
      return true;
    },
    async close() {
      closed = true;
      if (!failure && (queue.length > 0 || waitingForDrain)) {
        await new Promise<void>((resolve) => {
          const done = (): void => {
            drained.delete(done);
            resolve();
          };
          drained.add(done);
        });
      }
      if (ownStream && !failure) {
        stream.end();
        await once(stream, 'finish');
      }
    },
    get dropped() {
      return dropped;
    },
    get error() {
      return failure;
    },
  };
}
