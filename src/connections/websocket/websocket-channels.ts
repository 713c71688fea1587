import { EventEmitter } from 'node:events';
import type { ChannelProtocol } from '../../codecs/channels/protocols.js';
import { ChannelProtocolError, encodeChannelMessage } from '../../codecs/channels/framing.js';
import { ChannelMessageTooLargeError, IncomingChannelMessages } from '../../codecs/channels/incoming.js';
import type { ClientWebSocket, ClientWebSocketCut } from './client-websocket.js';
import { WebSocketPeer, type WebSocketPeerOptions } from './websocket-peer.js';

export interface WebSocketChannelsEvents {
  /** Payload for a channel; a large message arrives as several, in order, as its bytes come in. */
  data: [channel: number, payload: Buffer];
  /** The v5 CLOSE signal: the client will send nothing more on that channel. */
  'channel-close': [channel: number];
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

/** Kubernetes channel framing over one WebSocket, on top of WebSocketPeer's back-pressure. */
export class WebSocketChannels extends EventEmitter<WebSocketChannelsEvents> {
  readonly peer: WebSocketPeer;
  private readonly incoming: IncomingChannelMessages;
  private failed = false;

  constructor(
    socket: ClientWebSocket,
    readonly protocol: ChannelProtocol,
    options: WebSocketPeerOptions = {},
  ) {
    super();
    this.peer = new WebSocketPeer(socket, options);
    // Every channel number is passed on; which ones the session reads is its business.
    this.incoming = new IncomingChannelMessages(protocol, {
      data: (channel, payload) => this.emit('data', channel, payload),
      close: (channel) => this.emit('channel-close', channel),
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

  /** Sends one message on a channel; false means "stop producing until 'drain'". */
  send(channel: number, payload: Buffer): boolean {
    const message = encodeChannelMessage(channel, payload, this.protocol);
    return this.peer.send(message.data, message.binary);
  }

  pauseIncoming(): void {
    this.peer.pauseIncoming();
  }

  resumeIncoming(): void {
    this.peer.resumeIncoming();
  }

  close(code: number, reason: string): void {
    this.peer.close(code, reason);
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
