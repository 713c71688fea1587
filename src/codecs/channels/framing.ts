import { CLOSE_SIGNAL, type ChannelProtocol } from './protocols.js';

export type ChannelMessage =
  | { kind: 'data'; channel: number; payload: Buffer }
  | { kind: 'close'; channel: number }
  | { kind: 'ignored'; reason: string };

/** A message that breaks the framing; the connection ends (close code 1002) with this message. */
export class ChannelProtocolError extends Error {
  override name = 'ChannelProtocolError';
}

/** Channels a client may name in a CLOSE signal: stdin … resize. */
const HIGHEST_CHANNEL = 4;

/**
 * One WebSocket message → a channel message, without copying the payload. Mirrors wsstream/conn.go:
 * empty messages are ignored; v5 `0xFF` must be exactly `[0xFF, channel]`.
 */
export function decodeChannelMessage(data: Buffer, isBinary: boolean, protocol: ChannelProtocol): ChannelMessage {
  if (data.length === 0) return { kind: 'ignored', reason: 'empty message' };
  if (protocol.framing === 'base64') {
    if (isBinary) throw new ChannelProtocolError('binary message on a base64 channel protocol');
    // '0' + channel: digits for channels 0–9, the characters after '9' for port-forward's higher channels.
    const channel = data[0]! - 0x30;
    if (channel < 0) throw new ChannelProtocolError('base64 message without a channel digit');
    return { kind: 'data', channel, payload: Buffer.from(data.subarray(1).toString('latin1'), 'base64') };
  }
  if (!isBinary) throw new ChannelProtocolError('text message on a binary channel protocol');
  const channel = data[0]!;
  if (channel === CLOSE_SIGNAL && protocol.supportsClose) {
    if (data.length !== 2) throw new ChannelProtocolError(`CLOSE signal must be 2 bytes, got ${data.length}`);
    const closed = data[1]!;
    if (closed > HIGHEST_CHANNEL) throw new ChannelProtocolError(`CLOSE signal for unknown channel ${closed}`);
    return { kind: 'close', channel: closed };
  }
  return { kind: 'data', channel, payload: data.subarray(1) };
}

export interface EncodedMessage {
  data: Buffer | string;
  binary: boolean;
}

/** A channel message in the protocol's framing: channel byte + payload, or digit + base64 text. */
export function encodeChannelMessage(channel: number, payload: Buffer, protocol: ChannelProtocol): EncodedMessage {
  if (protocol.framing === 'base64') {
    return { data: String.fromCharCode(0x30 + channel) + payload.toString('base64'), binary: false };
  }
  const data = Buffer.allocUnsafe(payload.length + 1);
  data[0] = channel;
  payload.copy(data, 1);
  return { data, binary: true };
}

export function encodeCloseSignal(channel: number): Buffer {
  return Buffer.from([CLOSE_SIGNAL, channel]);
}
