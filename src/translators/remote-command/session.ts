import { closeReason } from '../../codecs/websocket/frames.js';
import type { SessionLog } from '../session-log.js';
import { SpdyPingFloodError } from '../../connections/spdy/spdy-connection.js';
import type { SpdyStreams, SpdyStreamView } from '../../connections/spdy/spdy-streams.js';
import type { ChannelConnection } from '../../connections/websocket/channel-connection.js';
import { Bridge, type SessionTap } from '../bridge.js';
import { Channel, upstreamRemoteCommandProtocol } from '../../codecs/channels/protocols.js';
import {
  errorStatus,
  exitCodeOf,
  parseStatus,
  statusToText,
  successStatus,
  textToStatus,
  translatorStatus,
  type Status,
} from '../../codecs/k8s/status.js';
import { encodeTerminalSize } from '../../codecs/k8s/terminal-size.js';
import { ResizeSizes } from '../resize-sizes.js';
import type { RemoteCommandRequest } from '../../codecs/k8s/remote-command-request.js';
import { SessionEnding, type EndedFromOutside, type LiveSession, type SessionOutcome } from '../live-session.js';

/** A Status is a few hundred bytes; anything far larger on the error stream is not one. */
const MAX_ERROR_STREAM_BYTES = 64 * 1024;

export interface RemoteCommandSessionOptions {
  request: RemoteCommandRequest;
  channels: ChannelConnection;
  upstream: SpdyStreams;
  /** The version the upstream chose in `X-Stream-Protocol-Version`. */
  upstreamProtocol: string;
  /** Its start and end lines (and the logger for the rest). */
  log: SessionLog;
  upstreamPingIntervalMs: number;
  /** Sees every byte of the session (recording, live views); none by default. */
  tap?: SessionTap;
}

type OutputName = 'stdout' | 'stderr' | 'error';

/**
 * One exec/attach: the client's WebSocket channels on one side, the upstream's SPDY streams on the
 * other, bridged by a table (channel number ↔ streamtype). Its quirks: the first empty message, the
 * upstream's Status collected from the error stream and re-sent in the client protocol's shape,
 * resize JSON re-encoded, stdin's v5 CLOSE as the stdin stream's FIN, and pings as upstream liveness.
 * It ends when the upstream has closed every output stream (the Status is then known), or when
 * either side goes away.
 */
export class RemoteCommandSession implements LiveSession {
  private readonly stdin?: SpdyStreamView;
  private readonly resize?: SpdyStreamView;
  private readonly outputs = new Map<OutputName, SpdyStreamView>();
  private readonly bridge: Bridge;
  private readonly pendingOutputs = new Set<OutputName>();
  private readonly resizeSizes: ResizeSizes;
  private errorBytes: Buffer[] = [];
  private errorSize = 0;
  private upstreamLost: string | undefined;
  private ended = false;
  private readonly pingTimer: NodeJS.Timeout;
  private pingOutstanding = false;
  private readonly ending = new SessionEnding();

  constructor(private readonly options: RemoteCommandSessionOptions) {
    const { request, channels, upstream, upstreamProtocol } = options;
    // stdin bytes from the client and stdout+stderr bytes to it count for the session's log line.
    this.bridge = new Bridge(options.tap);
    this.resizeSizes = new ResizeSizes(options.log.logger, options.tap);

    // client-go creates the error stream first, then the others (PROTOCOLS.md §7); the server waits
    // for the whole set, so they are opened together without waiting for each reply.
    this.openOutput('error');
    if (request.stdin) this.stdin = this.openInput('stdin');
    if (request.stdout) this.openOutput('stdout');
    if (request.stderr) this.openOutput('stderr');
    if (request.tty && upstreamRemoteCommandProtocol(upstreamProtocol)?.resize) this.resize = this.openInput('resize');

    // Clients may wait for this first, empty message before they send anything (websocket.go in the kubelet).
    channels.send(request.stdout ? Channel.stdout : request.stderr ? Channel.stderr : Channel.error, Buffer.alloc(0));

    if (this.stdin) this.bridge.pump({ name: 'stdin', direction: 'to-upstream', from: channels.channel(Channel.stdin), to: this.stdin });
    if (this.resize) {
      const resize = this.resize;
      this.bridge.pump({ name: 'resize', direction: 'to-upstream', from: channels.channel(Channel.resize), to: resize, counted: false, transform: (payload) => this.resizeSizes.push(payload).map(encodeTerminalSize) });
    }
    // Other channels are not readable by the server; Kubernetes ignores them too (wsstream/conn.go).

    channels.on('protocol-error', (error) => this.abort(`client protocol error: ${error.message}`, 1002));
    // The Status names the limit (kubectl and client-node print it), then the close says 1009.
    channels.on('message-too-large', (maxBytes) => {
      if (this.ended) return;
      const message = `a WebSocket message over ${maxBytes} bytes was refused (limits.maxMessageBytes)`;
      this.ending.outcome = 'message-too-large';
      this.finish(errorStatus(413, 'RequestEntityTooLarge', message), message, 1009);
    });
    channels.on('close', (code, _reason, cut) => {
      if (!this.ended) {
        if (cut) this.abort(cut.reason, undefined, cut.outcome);
        else this.abort(`client closed the connection (code ${code})`);
      }
      // 1000 here means the client's close frame was read; 1006 after a normal end means it was not.
      else options.log.logger.debug({ event: 'client-closed', code }, 'client connection closed');
    });

    // A lost connection fails the streams still expecting data (their 'error' below); streams the
    // upstream had already ended normally are not a loss.
    upstream.spdy.on('error', (error: Error) => {
      if (error instanceof SpdyPingFloodError) this.ending.outcome = 'control-flood';
      this.upstreamLost ??= `upstream SPDY error: ${error.message}`;
    });

    this.pingTimer = setInterval(() => this.pingUpstream(), options.upstreamPingIntervalMs);
    this.pingTimer.unref();
    options.log.start({ clientProtocol: channels.protocol.name, upstreamProtocol });
  }

  /** Bytes this session holds in user space right now, both directions: the figure the budget bounds. */
  get bufferedBytes(): number {
    let total = this.options.channels.bufferedBytes + (this.stdin?.bufferedBytes ?? 0);
    for (const stream of this.outputs.values()) total += stream.bufferedBytes;
    return total;
  }

  get done(): Promise<SessionOutcome> {
    return this.ending.done;
  }

  get kind(): 'exec' | 'attach' {
    return this.options.request.kind;
  }

  get clientProtocol(): string {
    return this.options.channels.protocol.name;
  }

  get bytesFromClient(): number {
    return this.bridge.bytesFromClient;
  }

  get bytesToClient(): number {
    return this.bridge.bytesToClient;
  }

  /** Ends the session from outside (shutdown, a limit): the Status on the error channel says why. */
  end(status: Status, outcome: EndedFromOutside): void {
    if (this.ended) return;
    this.ending.outcome = outcome;
    this.finish(status, status.message ?? outcome);
  }

  private openOutput(name: OutputName): void {
    const stream = this.options.upstream.openStream({ streamtype: name });
    this.outputs.set(name, stream);
    this.pendingOutputs.add(name);
    // Ended by the peer's FIN or RST_STREAM (after all its data), or failed with the connection.
    const done = (error?: Error): void => {
      if (error) this.upstreamLost ??= `upstream ${name} stream failed: ${error.message}`;
      if (!this.pendingOutputs.delete(name)) return;
      if (this.pendingOutputs.size === 0) this.complete();
    };
    if (name === 'error') {
      stream.read((chunk) => this.collectStatus(chunk), done);
    } else {
      const channel = name === 'stdout' ? Channel.stdout : Channel.stderr;
      this.bridge.pump({ name, direction: 'to-client', from: stream, to: this.options.channels.channel(channel), onEnd: done });
    }
    // client-go never half-closes the output streams (captures), so neither does the gateway.
  }

  private openInput(name: 'stdin' | 'resize'): SpdyStreamView {
    // Nothing arrives on input streams, but reading lets them finish when the peer resets them (its
    // RST_STREAM at the end of the command; the output streams decide when the session ends).
    return this.options.upstream.openStream({ streamtype: name }).writeOnly();
  }

  private collectStatus(chunk: Buffer): void {
    if (this.errorSize < MAX_ERROR_STREAM_BYTES) {
      this.errorBytes.push(chunk);
      this.errorSize += chunk.length;
    }
  }

  private complete(): void {
    if (this.ended) return;
    const status = this.upstreamStatus();
    const exitCode = exitCodeOf(status);
    this.finish(status, exitCode === undefined && status.status !== 'Success' ? status.message ?? 'failed' : 'completed');
  }

  /** The Status the upstream reported, in the shape its protocol version uses (PROTOCOLS.md §2). */
  private upstreamStatus(): Status {
    const text = Buffer.concat(this.errorBytes).toString('utf8');
    if (text.length > 0) {
      if (upstreamRemoteCommandProtocol(this.options.upstreamProtocol)?.statusFormat === 'json') {
        try {
          const status = parseStatus(text);
          // A v5 client is the one the API server itself would translate for: it gets the translator's Status.
          return this.options.channels.protocol.version === 5 ? translatorStatus(status) : status;
        } catch {
          return textToStatus(text);
        }
      }
      return textToStatus(text);
    }
    if (this.upstreamLost) {
      if (this.ending.outcome === 'completed') this.ending.outcome = 'upstream-error';
      return errorStatus(500, 'InternalError', `Internal error occurred: ${this.upstreamLost}`);
    }
    return successStatus();
  }

  private finish(status: Status, reason: string, closeCode = 1000): void {
    if (this.ended) return;
    this.ended = true;
    const { channels } = this.options;
    if (channels.protocol.statusFormat === 'json') {
      channels.send(Channel.error, Buffer.from(JSON.stringify(status)));
    } else if (status.status !== 'Success') {
      channels.send(Channel.error, Buffer.from(statusToText(status)));
    }
    // The close frame is queued behind every message on the socket, and the closing handshake waits
    // (bounded by closeTimeoutMs) for the client's close frame, so a slow reader still receives all output.
    channels.close(closeCode, closeCode === 1000 ? '' : closeReason(reason));
    this.release();
    this.options.tap?.event('end', { exitCode: exitCodeOf(status), reason });
    this.logEnd(reason, exitCodeOf(status));
  }

  /** The client is gone or broke the protocol: nothing more can be delivered to it. */
  private abort(reason: string, closeCode?: number, outcome: SessionOutcome = 'client-error'): void {
    if (this.ended) return;
    this.ended = true;
    this.ending.outcome = outcome;
    if (closeCode !== undefined) this.options.channels.close(closeCode, reason);
    else this.options.channels.terminate();
    this.release();
    this.options.tap?.event('end', { reason });
    this.logEnd(reason, undefined);
  }

  private release(): void {
    this.bridge.stop();
    clearInterval(this.pingTimer);
    this.options.channels.resumeIncoming();
    for (const stream of [...this.outputs.values(), this.stdin, this.resize]) stream?.reset();
    this.options.upstream.spdy.close();
    this.ending.settle();
  }

  private logEnd(reason: string, exitCode: number | undefined): void {
    const { upstream } = this.options;
    this.options.log.end(
      { bytesFromClient: this.bridge.bytesFromClient, bytesToClient: this.bridge.bytesToClient, exitCode, outcome: this.ending.outcome, reason },
      { upstreamBytesRead: upstream.bytesRead, upstreamBytesWritten: upstream.bytesWritten },
    );
  }

  /** An upstream that does not answer one ping by the next is treated as gone. */
  private pingUpstream(): void {
    if (this.pingOutstanding) {
      this.upstreamLost ??= 'the upstream stopped answering SPDY pings';
      this.options.upstream.spdy.destroy();
      return;
    }
    this.pingOutstanding = true;
    this.options.upstream.spdy.ping().then(
      () => (this.pingOutstanding = false),
      () => undefined,
    );
  }
}
