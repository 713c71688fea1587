import { EventEmitter } from 'node:events';
import type { WebSocket, RawData } from 'ws';
import type { ChannelProtocol } from '../codecs/channels/protocols.js';
import { ChannelProtocolError, decodeChannelMessage, encodeChannelMessage } from '../codecs/channels/framing.js';
import { WebSocketPeer, type WebSocketPeerOptions } from './websocket-peer.js';

export interface WebSocketChannelsEvents {
  data: [channel: number, payload: Buffer];
  /** The v5 CLOSE signal: the client will send nothing more on that channel. */
  'channel-close': [channel: number];
  /** Everything sent has been written after `send` had returned false. */
  drain: [];
  'protocol-error': [error: ChannelProtocolError];
  /** The WebSocket is closed (by either side). */
  close: [code: number, reason: string];
}

/** Kubernetes channel framing over one WebSocket, on top of WebSocketPeer's back-pressure. */
export class WebSocketChannels extends EventEmitter<WebSocketChannelsEvents> {
  readonly peer: WebSocketPeer;

  constructor(
    socket: WebSocket,
    readonly protocol: ChannelProtocol,
    options: WebSocketPeerOptions = {},
  ) {
    super();
    this.peer = new WebSocketPeer(socket, options);
    socket.on('message', (data, isBinary) => this.receive(data, isBinary));
    this.peer.on('drain', () => this.emit('drain'));
    this.peer.on('close', (code, reason) => this.emit('close', code, reason));
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

  private receive(data: RawData, isBinary: boolean): void {
    let message;
    try {
      message = decodeChannelMessage(toBuffer(data), isBinary, this.protocol);
    } catch (error) {
      if (error instanceof ChannelProtocolError) {
        this.emit('protocol-error', error);
        return;
      }
      throw error;
    }
    if (message.kind === 'data') this.emit('data', message.channel, message.payload);
    else if (message.kind === 'close') this.emit('channel-close', message.channel);
  }
}

/** ws hands out a Buffer for the default binaryType; fragments and ArrayBuffers only for others. */
export function toBuffer(data: RawData): Buffer {
  return Buffer.isBuffer(data) ? data : Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data);
}
