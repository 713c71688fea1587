import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import type { Logger } from '../observability/logger.js';
import { createPolicyAuthorizer, type PolicyAuthorizer, type PolicyRule } from '../auth/policy.js';
import { SessionTapRefusal, type OpenedTap, type SessionTapFactory, type TappedSession } from '../translators/bridge.js';
import { openRecordingFile, type RecordingSink } from './recording-sink.js';
import { RecordingWriter } from './recording-writer.js';
import { AsciicastRecorder, RawRecorder } from './session-recorder.js';
import { PortForwardContentRecorder, PortForwardRecorder } from './port-forward-recorder.js';

/** A recording rule: the edge policy's shape, and whether port-forward content is recorded too. */
interface RecordingRule extends PolicyRule {
  /** Port-forward sessions this rule selects are recorded with their content, not metadata only. */
  content?: boolean;
}

export interface RecordingSettings {
  directory: string;
  /** Which sessions are recorded, as the edge policy's rules; empty: all. */
  rules: RecordingRule[];
  captureInput: boolean;
  maxBytesPerSession: number;
  /** Fail closed: no session runs unrecorded. */
  required: boolean;
  /** Bytes one recording may hold while its disk is behind (default 8 MiB); past them: gap, or end when required. */
  maxPendingBytes?: number;
}

/** Why a recording failed, a closed set (metrics labels). */
type RecordingFailure = 'open' | 'write' | 'behind';

export interface RecordingObserver {
  written?(bytes: number): void;
  failed?(reason: RecordingFailure): void;
}

/**
 * Told to a client whose session must be recorded and cannot be (the errno and path go to the log).
 * @internal Exported for its unit tests (byte vectors, seams); the product does not import it.
 */
export const RECORDING_UNAVAILABLE = 'session recording is required (recording.required) and the gateway could not start it';
/** @internal Exported for its unit tests (byte vectors, seams); the product does not import it. */
export const RECORDING_FAILED = 'session recording is required (recording.required) and the gateway could not write it: the session was ended';

/** File names are audit IDs: anything else (a path, dots) is never used as one. */
const SAFE_NAME = /^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$/;

/**
 * The recording of every session the rules select, as a SessionTapFactory the translators call:
 * asciicast v2 for terminals, the raw framing otherwise, one file per session named by its audit
 * ID in `directory` (docs/recording.md). Recordings being written are listed for the retention sweep.
 */
export class RecordingTaps implements SessionTapFactory {
  /** File names being written now: the retention sweep leaves them alone. */
  readonly active = new Set<string>();
  /** The writers of the recordings in `active`, so a stopping gateway can wait for their last bytes. */
  private readonly writers = new Set<RecordingWriter>();
  private readonly rules: PolicyAuthorizer | undefined;
  /** The rules with `content: true`: a port-forward one of them selects is recorded with its bytes. */
  private readonly contentRules: PolicyAuthorizer | undefined;
  readonly failClosed: boolean;

  constructor(
    private readonly settings: RecordingSettings,
    private readonly logger: Logger,
    private readonly observer: RecordingObserver = {},
    /** Opens a recording's file (tests replace it to make writes slow or fail). */
    private readonly openSink: (path: string) => Promise<RecordingSink> = openRecordingFile,
  ) {
    this.rules = settings.rules.length > 0 ? createPolicyAuthorizer(settings.rules) : undefined;
    const contentRules = settings.rules.filter((rule) => rule.content === true);
    this.contentRules = contentRules.length > 0 ? createPolicyAuthorizer(contentRules) : undefined;
    this.failClosed = settings.required;
  }

  /**
   * Once the gateway has ended its sessions (drain): writes what every recording still holds and
   * closes them, within `timeoutMs` (a stuck disk must not hold the process).
   */
  async close(timeoutMs = 5_000): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([Promise.all([...this.writers].map((writer) => writer.close())), new Promise((resolve) => (timer = setTimeout(resolve, timeoutMs)))]);
    clearTimeout(timer);
  }

  async open(session: TappedSession): Promise<OpenedTap | undefined> {
    const { subject } = session;
    if (subject.kind === 'upgrade') return undefined;
    const user = session.identity?.user ?? { name: subject.user ?? '', groups: [], extra: {} };
    if (this.rules && session.identity && !this.rules.authorize(user, session.identity.attributes, subject.upstream).allowed) return undefined;
    const id = subject.auditID && SAFE_NAME.test(subject.auditID) ? subject.auditID : randomUUID();
    const portForward = subject.kind === 'portforward';
    const content = portForward && this.contentRules !== undefined && session.identity !== undefined && this.contentRules.authorize(user, session.identity.attributes, subject.upstream).allowed;
    const name = `${id}${portForward && !content ? '.jsonl' : session.tty ? '.cast' : '.rec'}`;
    const path = join(this.settings.directory, name);
    const { required } = this.settings;
    let sink: RecordingSink;
    try {
      sink = await this.openSink(path);
    } catch (error) {
      this.observer.failed?.('open');
      this.logger.error({ event: 'recording-failed', recording: name, auditID: subject.auditID, err: (error as Error).message, required }, 'the session recording could not be opened');
      if (required) throw new SessionTapRefusal(RECORDING_UNAVAILABLE);
      return undefined;
    }
    this.active.add(name);
    let failed = false;
    const fail = (reason: RecordingFailure, detail: string): void => {
      if (failed) return;
      failed = true;
      this.observer.failed?.(reason);
      this.logger.error({ event: 'recording-failed', recording: name, auditID: subject.auditID, err: detail, required }, required ? 'the session recording failed: ending the session' : 'the session recording failed; the session goes on unrecorded');
      if (required) session.fail(RECORDING_FAILED);
    };
    const writer: RecordingWriter = new RecordingWriter(
      {
        write: (buffers) => sink.write(buffers),
        close: () =>
          sink.close().finally(() => {
            this.active.delete(name);
            this.writers.delete(writer);
          }),
      },
      { onFailure: (error) => fail('write', error.message), onWritten: (bytes) => this.observer.written?.(bytes), maxPendingBytes: this.settings.maxPendingBytes },
    );
    this.writers.add(writer);
    const metadata = {
      auditID: subject.auditID,
      user: subject.user,
      groups: session.identity?.user.groups ?? null,
      cluster: subject.upstream,
      namespace: subject.namespace,
      pod: subject.pod,
      container: subject.container,
      kind: subject.kind,
      command: subject.command,
      tty: session.tty,
      startedAt: new Date().toISOString(),
      clientAddress: subject.clientAddress,
      userAgent: subject.userAgent,
      captureInput: this.settings.captureInput,
      ...(portForward ? { ports: session.ports ?? null, content } : {}),
    };
    if (portForward && !content) return { tap: new PortForwardRecorder(writer, metadata), name };
    const options = {
      writer,
      metadata,
      captureInput: this.settings.captureInput,
      maxBytes: this.settings.maxBytesPerSession,
      required,
      onFailure: (reason: string) => fail('behind', reason),
    };
    if (portForward) return { tap: new PortForwardContentRecorder(options), name, content: true };
    return { tap: session.tty ? new AsciicastRecorder(options) : new RawRecorder(options), name };
  }
}
