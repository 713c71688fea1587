import { EventEmitter } from 'node:events';
import type { ChannelProtocol } from '../../codecs/channels/protocols.js';
import { binaryChannelByte, ChannelProtocolError, encodeChannelMessage } from '../../codecs/channels/framing.js';
import { ChannelMessageTooLargeError, IncomingChannelMessages } from '../../codecs/channels/incoming.js';
import type { ClientWebSocket, ClientWebSocketCut } from './client-websocket.js';
import { WebSocketPeer, type WebSocketPeerOptions } from './websocket-peer.js';
import type { CloseReason, Connection, PayloadReader, Stream } from '../stream.js';

export interface ChannelConnectionEvents {
  /** Everything sent has been written after `send` had returned false. */
  drain: [];
  'protocol-error': [error: ChannelProtocolError];
  /**
   * A message that would have to be held whole is over the limit (`maxBytes`): the session may say so
   * on its error channel; the WebSocket is then closed with 1009.
   */
  'message-too-large': [maxBytes: number];
  /** The WebSocket is closed (by either side); `cut` says why when the gateway cut it. */
  close: [code: number, reason: string, cut: ClientWebSocketCut | undefined];
}

/**
 * Kubernetes channels over one client WebSocket, each channel a Stream (`channel(n)`): v1–v5 and
 * base64 are framings of this one implementation (codecs/channels), back-pressure is WebSocketPeer's.
 * A channel nobody reads drops what arrives on it, as wsstream/conn.go does.
 */
export class ChannelConnection extends EventEmitter<ChannelConnectionEvents> implements Connection {
  readonly peer: WebSocketPeer;
  private readonly incoming: IncomingChannelMessages;
  private readonly channels = new Map<number, ChannelStream>();
  private failed = false;

  constructor(
    socket: ClientWebSocket,
    readonly protocol: ChannelProtocol,
    options: WebSocketPeerOptions = {},
  ) {
    super();
    // Every channel's stream waits on the one 'drain' (a port-forward has up to 64 channels).
    this.setMaxListeners(0);
    this.peer = new WebSocketPeer(socket, options);
    // Every channel number is passed on; which ones the session reads is its business.
    this.incoming = new IncomingChannelMessages(protocol, {
      // A large message arrives as several payloads, in order, as its bytes come in.
      data: (channel, payload) => this.channels.get(channel)?.receive(payload),
      // The v5 CLOSE signal: the client will send nothing more on that channel.
      close: (channel) => this.channels.get(channel)?.receiveEnd(),
    }, undefined, socket.messageLimit);
    socket.receive({
      binaryStart: () => this.incoming.start(),
      binaryData: (piece) => {
        // The hot path of every upload: no closure per piece.
        if (this.failed) return;
        try {
          this.incoming.piece(piece);
        } catch (error) {
          this.protocolError(error);
        }
      },
      binaryEnd: () => this.guarded(() => this.incoming.end()),
      text: (message) => this.guarded(() => this.incoming.whole(message, false)),
      tooLarge: (maxBytes) => {
        this.failed = true;
        this.emit('message-too-large', maxBytes);
      },
    });
    this.peer.on('drain', () => this.emit('drain'));
    this.peer.on('close', (code, reason, cut) => this.emit('close', code, reason, cut));
  }

  /**
   * Sends one message on a channel; false means "stop producing until 'drain'". A binary-framed
   * payload is never copied: the channel byte travels with the frame header (ClientWebSocket.sendPrefixed).
   */
  send(channel: number, payload: Buffer): boolean {
    if (this.protocol.framing === 'binary') return this.peer.sendPrefixed(binaryChannelByte(channel), payload);
    const message = encodeChannelMessage(channel, payload, this.protocol);
    return this.peer.send(message.data, message.binary);
  }

  /** The Stream of one channel (the same object each time). */
  channel(channel: number): ChannelStream {
    let stream = this.channels.get(channel);
    if (!stream) this.channels.set(channel, (stream = new ChannelStream(this, channel)));
    return stream;
  }

  /** Channels are fixed by the protocol and the request: "opening" one names it (`{ channel: '1' }`). */
  openStream(headers: Readonly<Record<string, string>>): ChannelStream {
    return this.channel(Number(headers.channel));
  }

  /** The client cannot open channels: every one exists from the start. */
  acceptStreams(): void {}

  onClose(listener: (reason: CloseReason) => void): void {
    this.peer.once('close', (code, reason, cut) => listener({ code, message: cut?.reason ?? reason, outcome: cut?.outcome }));
  }

  get bytesRead(): number {
    let total = 0;
    for (const stream of this.channels.values()) total += stream.bytesRead;
    return total;
  }

  get bytesWritten(): number {
    let total = 0;
    for (const stream of this.channels.values()) total += stream.bytesWritten;
    return total;
  }

  /** What waits in the WebSocket's send queue. */
  get bufferedBytes(): number {
    return this.peer.unflushedBytes;
  }

  pauseIncoming(): void {
    this.peer.pauseIncoming();
  }

  resumeIncoming(): void {
    this.peer.resumeIncoming();
  }

  /** Starts the closing handshake with a close frame (`reason` as CloseReason, or code and text). */
  close(code: number | CloseReason, reason = ''): void {
    if (typeof code === 'number') this.peer.close(code, reason);
    else this.peer.close(code.code, code.message);
  }

  terminate(): void {
    this.peer.terminate();
  }

  /** After a framing error the connection is ending: the rest of what arrives is not read. */
  private guarded(read: () => void): void {
    if (this.failed) return;
    try {
      read();
    } catch (error) {
      this.protocolError(error);
    }
  }

  private protocolError(error: unknown): void {
    if (!(error instanceof ChannelProtocolError)) throw error;
    this.failed = true;
    if (error instanceof ChannelMessageTooLargeError) this.emit('message-too-large', error.maxBytes);
    else this.emit('protocol-error', error);
  }
}

/**
 * One channel as a Stream. Reading pauses the whole WebSocket (one socket carries every channel);
 * writing is one channel message per payload; the end of reading is the v5 CLOSE signal.
 */
export class ChannelStream implements Stream {
  readonly headers: Readonly<Record<string, string>>;
  bytesRead = 0;
  bytesWritten = 0;
  private reader: PayloadReader | undefined;
  private onEnd: ((error?: Error) => void) | undefined;

  constructor(
    private readonly connection: ChannelConnection,
    readonly channel: number,
  ) {
    this.headers = { channel: String(channel) };
  }

  read(reader: PayloadReader, onEnd?: (error?: Error) => void): void {
    this.reader = reader;
    this.onEnd = onEnd;
  }

  pause(): void {
    this.connection.pauseIncoming();
  }

  resume(): void {
    this.connection.resumeIncoming();
  }

  get writable(): boolean {
    return this.connection.peer.isOpen;
  }

  write(payload: Buffer): boolean {
    this.bytesWritten += payload.length;
    return this.connection.send(this.channel, payload);
  }

  onDrain(listener: () => void): void {
    this.connection.on('drain', listener);
  }

  /** The v5 CLOSE signal where the protocol has one; the gateway, as the kubelet, never needs it toward the client. */
  end(): void {}

  /** A channel cannot be reset alone: the connection's close ends them all. */
  reset(): void {}

  get bufferedBytes(): number {
    return 0;
  }

  /** @internal */
  receive(payload: Buffer): void {
    if (!this.reader) return;
    this.bytesRead += payload.length;
    this.reader(payload);
  }

  /** @internal */
  receiveEnd(): void {
    const onEnd = this.onEnd;
    this.onEnd = undefined;
    onEnd?.();
  }
}
