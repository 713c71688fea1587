import type { RemoteCommandRequest } from '../../codecs/k8s/remote-command-request.js';
import { upstreamRemoteCommandProtocol } from '../../codecs/channels/protocols.js';
import { errorStatus, exitCodeOf, parseStatus, successStatus, textToStatus, type Status } from '../../codecs/k8s/status.js';
import { ResizeSizes } from '../resize-sizes.js';
import { SpdyPingFloodError, type SpdyConnection, type SpdyStream } from '../../connections/spdy/spdy-connection.js';
import { SpdyStreamView } from '../../connections/spdy/spdy-streams.js';
import { Bridge, type SessionTap } from '../bridge.js';
import { SessionEnding, type EndedFromOutside, type LiveSession, type SessionOutcome } from '../live-session.js';
import type { SessionLog } from '../session-log.js';
import { flushed, statusForSpdyClient } from '../to-websocket/spdy-client-upgrade.js';

/** A Status is a few hundred bytes; anything far larger on the error stream is not one (it still passes, unread). */
const MAX_STATUS_BYTES = 64 * 1024;

/** Bound on the streams one session bridges (kubectl opens at most five). */
const MAX_BRIDGED_STREAMS = 16;

type StreamType = 'error' | 'stdin' | 'stdout' | 'stderr' | 'resize';
/** The client writes these; the upstream writes the others. */
const INPUTS: ReadonlySet<string> = new Set(['stdin', 'resize']);
const OUTPUTS: ReadonlySet<string> = new Set(['error', 'stdout', 'stderr']);

export interface SpdyRemoteCommandBridgeOptions {
  request: RemoteCommandRequest;
  /** The client's connection, the gateway in the server role. */
  client: SpdyConnection;
  /** The upstream's, the gateway in the client role. */
  upstream: SpdyConnection;
  /** The version both sides agreed (the upstream's choice among the client's). */
  version: string;
  log: SessionLog;
  tap?: SessionTap;
  upstreamPingIntervalMs: number;
}

/**
 * One exec/attach between a SPDY client and a SPDY upstream, stream by stream: each stream the client
 * opens (by its `streamtype`) is opened upstream with the same headers and replied to, then its bytes
 * pass the Bridge unchanged — stdin and resize toward the upstream, error, stdout and stderr back —
 * with half-closes passed on (a FIN or reset of the source ends the destination). Its quirks: resizes
 * are read (not changed) for the tap, the upstream's Status is read (not changed) for the exit code,
 * and the session ends as the kubelet ends it: once the upstream has ended its output streams and
 * closed, the client's streams are reset after their last byte and its connection closed. Pings are
 * answered by each connection; the upstream is pinged for liveness.
 */
export class SpdyRemoteCommandBridge implements LiveSession {
  private readonly bridge: Bridge;
  private readonly ending = new SessionEnding();
  private readonly clientStreams = new Map<StreamType, SpdyStream>();
  private readonly all: SpdyStream[] = [];
  /** Output streams the upstream has not ended yet. */
  private readonly pendingOutputs = new Set<SpdyStream>();
  private bridged = 0;
  private readonly resizeSizes: ResizeSizes;
  private statusBytes: Buffer[] = [];
  private statusSize = 0;
  private statusPassed = false;
  private upstreamClosed = false;
  private upstreamLost: string | undefined;
  private ended = false;
  private readonly pingTimer: NodeJS.Timeout;
  private pingOutstanding = false;

  constructor(private readonly options: SpdyRemoteCommandBridgeOptions) {
    const { client, upstream, log, version } = options;
    this.bridge = new Bridge(options.tap);
    // Read for the tap only: the sizes pass unchanged, and a bad one is the upstream's to refuse.
    this.resizeSizes = new ResizeSizes(log.logger, options.tap);
    client.on('error', () => undefined);
    upstream.on('error', (error: Error) => {
      if (error instanceof SpdyPingFloodError) this.ending.outcome = 'control-flood';
      this.upstreamLost ??= `upstream SPDY error: ${error.message}`;
    });
    client.on('stream', (stream) => this.accept(stream));
    client.on('close', () => this.finish(undefined, this.statusPassed ? 'completed' : 'client-error', 'the client closed the connection'));
    upstream.on('close', () => {
      this.upstreamClosed = true;
      this.endWhenOutputsDone();
    });
    this.pingTimer = setInterval(() => this.pingUpstream(), options.upstreamPingIntervalMs);
    this.pingTimer.unref();
    log.start({ clientProtocol: `SPDY/3.1 ${version}`, upstreamProtocol: version });
  }

  get kind(): 'exec' | 'attach' {
    return this.options.request.kind;
  }

  get clientProtocol(): string {
    return this.options.version;
  }

  get done(): Promise<SessionOutcome> {
    return this.ending.done;
  }

  get bytesFromClient(): number {
    return this.bridge.bytesFromClient;
  }

  get bytesToClient(): number {
    return this.bridge.bytesToClient;
  }

  get bufferedBytes(): number {
    return this.all.reduce((sum, stream) => sum + stream.unreadBytes + stream.writableLength, 0);
  }

  /** Ends the session from outside (shutdown, a limit, a failed recording): the Status on the client's error stream says why. */
  end(status: Status, outcome: EndedFromOutside): void {
    if (this.ended) return;
    this.ending.outcome = outcome;
    this.finish(status, outcome, status.message ?? outcome);
  }

  private accept(stream: SpdyStream): void {
    stream.on('error', () => undefined);
    const type = stream.headers.streamtype as StreamType | undefined;
    // Streams of known types are bridged, a later one of a type too (the upstream replaces the earlier,
    // as the kubelet does), up to a bound; any other is reset at once, so a client opening streams
    // without end holds nothing (the kubelet would ignore them; kubectl opens none).
    if (this.ended || !type || !(INPUTS.has(type) || OUTPUTS.has(type)) || this.bridged >= MAX_BRIDGED_STREAMS) {
      stream.reset();
      return;
    }
    this.all.push(stream);
    this.bridged++;
    this.clientStreams.set(type, stream);
    const toUpstream = this.options.upstream.openStream({ ...stream.headers });
    toUpstream.on('error', () => undefined);
    this.all.push(toUpstream);
    stream.reply();
    const clientSide = new SpdyStreamView(stream);
    const upstreamSide = new SpdyStreamView(toUpstream);
    if (INPUTS.has(type)) {
      const resize = type === 'resize';
      this.bridge.pump({ name: type, direction: 'to-upstream', from: clientSide, to: upstreamSide, counted: !resize, transform: resize ? (payload) => (this.resizeSizes.push(payload), [payload]) : undefined });
      upstreamSide.writeOnly();
      return;
    }
    this.pendingOutputs.add(toUpstream);
    this.bridge.pump({
      name: type,
      direction: 'to-client',
      from: upstreamSide,
      to: clientSide,
      counted: type !== 'error',
      transform: type === 'error' ? (payload) => this.readStatus(payload) : undefined,
      onEnd: (error) => {
        if (error) this.upstreamLost ??= `upstream ${type} stream failed: ${error.message}`;
        if (type === 'error' && !error) this.statusPassed = true;
        clientSide.end();
        this.pendingOutputs.delete(toUpstream);
        this.endWhenOutputsDone();
      },
    });
    clientSide.writeOnly();
  }

  private readStatus(payload: Buffer): Buffer[] {
    if (this.statusSize + payload.length <= MAX_STATUS_BYTES) {
      this.statusBytes.push(Buffer.from(payload));
      this.statusSize += payload.length;
    }
    return [payload];
  }

  /** The upstream is done once it has closed and every output stream it carried has ended. */
  private endWhenOutputsDone(): void {
    if (this.ended || this.pendingOutputs.size > 0) return;
    if (!this.upstreamClosed && !this.statusPassed) return;
    const lost = !this.statusPassed && this.statusBytes.length === 0;
    if (lost) this.upstreamLost ??= 'the upstream closed the connection without a status';
    this.finish(lost ? errorStatus(500, 'InternalError', `Internal error occurred: ${this.upstreamLost}`) : undefined, lost ? 'upstream-error' : 'completed', lost ? this.upstreamLost! : 'the session ended');
  }

  /** The upstream's Status as its version writes it (JSON from v4, text before): for the exit code only. */
  private upstreamStatus(): Status | undefined {
    // v1–v3 write nothing on success: an error stream ended empty is one.
    if (this.statusBytes.length === 0) return this.statusPassed ? successStatus() : undefined;
    const text = Buffer.concat(this.statusBytes).toString('utf8');
    if (upstreamRemoteCommandProtocol(this.options.version)?.statusFormat === 'json') {
      try {
        return parseStatus(text);
      } catch {
        return textToStatus(text);
      }
    }
    return textToStatus(text);
  }

  /**
   * `failure`: a Status of the gateway's own for the client's error stream (the upstream's was not
   * passed). Every byte of output reaches the client before it, and it before the resets.
   */
  private finish(failure: Status | undefined, outcome: SessionOutcome, reason: string): void {
    if (this.ended) return;
    this.ended = true;
    if (this.ending.outcome === 'completed') this.ending.outcome = outcome;
    clearInterval(this.pingTimer);
    const { client, upstream, version } = this.options;
    const status = this.upstreamStatus() ?? failure;
    void (async () => {
      const errorStream = this.clientStreams.get('error');
      if (failure && !this.statusPassed && errorStream && !client.isClosed) {
        this.bridge.stop();
        await Promise.all([flushed(this.clientStreams.get('stdout')), flushed(this.clientStreams.get('stderr'))]);
        const text = statusForSpdyClient(version, failure);
        if (text !== undefined && !errorStream.writableEnded) errorStream.write(text);
      }
      await Promise.all([flushed(this.clientStreams.get('stdout')), flushed(this.clientStreams.get('stderr')), flushed(errorStream)]);
      this.bridge.stop();
      for (const stream of this.all) if (!stream.destroyed) stream.reset();
      if (!client.isClosed) {
        client.goAway();
        client.close();
      }
      upstream.close();
      const exitCode = status ? (exitCodeOf(status) ?? (status.status === 'Success' ? 0 : null)) : null;
      this.options.tap?.event('end', { exitCode: exitCode ?? undefined, reason });
      this.options.log.end(
        { bytesFromClient: this.bridge.bytesFromClient, bytesToClient: this.bridge.bytesToClient, exitCode, outcome: this.ending.outcome, reason },
        { upstreamBytesRead: upstream.bytesRead, upstreamBytesWritten: upstream.bytesWritten },
      );
      this.ending.settle();
    })();
  }

  /** An upstream that does not answer one ping by the next is treated as gone. */
  private pingUpstream(): void {
    if (this.pingOutstanding) {
      this.upstreamLost ??= 'the upstream stopped answering SPDY pings';
      this.options.upstream.destroy();
      return;
    }
    this.pingOutstanding = true;
    this.options.upstream.ping().then(
      () => (this.pingOutstanding = false),
      () => undefined,
    );
  }
}
