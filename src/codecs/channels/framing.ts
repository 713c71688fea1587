import { closeReason } from '../websocket/frames.js';
import { CLOSE_SIGNAL, REMOTE_COMMAND_CHANNEL_COUNT, type RemoteCommandProtocol } from './protocols.js';

export type ChannelMessage =
  | { kind: 'data'; channel: number; payload: Buffer }
  | { kind: 'close'; channel: number }
  | { kind: 'ignored'; reason: string };

/**
 * A message that breaks the framing: the connection ends. The message is short enough to be a
 * WebSocket close reason (≤ 123 bytes of UTF-8, truncated if need be).
 */
export class ChannelProtocolError extends Error {
  override name = 'ChannelProtocolError';

  constructor(message: string) {
    super(closeReason(message));
  }
}

/** Channels a connection has when the caller does not say: every byte value is a channel. */
const ANY_CHANNEL = 256;

/**
 * One incoming WebSocket message → a channel message, exactly as apimachinery's wsstream/conn.go
 * (Conn.handle) treats it. The WebSocket opcode does not matter there (x/net/websocket hands text and
 * binary messages over alike): a text message on a binary protocol is read as raw bytes, a binary
 * message on a base64 protocol is base64-decoded. Outcomes:
 *
 * - empty message → ignored;
 * - v5 only, first byte 0xFF: exactly `[0xFF, c]` with c < the channel count (5 for remote command)
 *   → `close`; any other length or channel → **fatal** (conn.go stops reading and closes);
 * - channel ≥ `channelCount` → ignored ("possible protocol error", not fatal);
 * - base64 protocols: channel = first byte − '0' (byte arithmetic), payload must be valid standard
 *   base64 with padding (CR/LF skipped, as Go's decoder does); invalid base64 → ignored (conn.go logs
 *   "Unable to write frame" and continues);
 * - otherwise `data`; for binary protocols the payload is a subarray of `data` (no copy).
 *
 * Whether the server reads that channel at all (stdin/resize yes, stdout/stderr/error no) is the
 * caller's business, as are channels that were not requested: conn.go drops those silently.
 * `channelCount`: the connection's number of channels (5 for remote command, 2 × ports for
 * port-forward); by default every channel is passed on. The CLOSE signal only exists in v5, whose
 * connections always have 5 channels, so CLOSE is checked against at most 5.
 */
export function decodeChannelMessage(
  data: Buffer,
  _isBinary: boolean,
  protocol: RemoteCommandProtocol,
  channelCount: number = ANY_CHANNEL,
): ChannelMessage {
  if (data.length === 0) return { kind: 'ignored', reason: 'empty message' };
  if (protocol.supportsClose && data[0] === CLOSE_SIGNAL) {
    if (data.length !== 2) throw new ChannelProtocolError(`CLOSE signal must be 2 bytes, got ${data.length}`);
    const closed = data[1]!;
    if (closed >= Math.min(channelCount, REMOTE_COMMAND_CHANNEL_COUNT)) {
      throw new ChannelProtocolError(`CLOSE signal for unknown channel ${closed}`);
    }
    return { kind: 'close', channel: closed };
  }
  if (protocol.framing === 'base64') {
    const channel = (data[0]! - 0x30) & 0xff;
    if (channel >= channelCount) return { kind: 'ignored', reason: `no channel ${channel}` };
    const payload = decodeStdBase64(data.subarray(1));
    if (!payload) return { kind: 'ignored', reason: `invalid base64 on channel ${channel}` };
    return { kind: 'data', channel, payload };
  }
  const channel = data[0]!;
  if (channel >= channelCount) return { kind: 'ignored', reason: `no channel ${channel}` };
  return { kind: 'data', channel, payload: data.subarray(1) };
}

export interface EncodedMessage {
  /** Buffer for binary framing (send as a binary message), string for base64 (send as text). */
  data: Buffer | string;
  binary: boolean;
}

/**
 * A channel message in the protocol's framing (conn.go write): binary = one channel byte + payload;
 * base64 = the character '0'+channel followed by standard base64 with padding. An empty payload still
 * carries its channel byte (client-go's reader fails on a message without one). Base64 framing can
 * only name channels 0–79 (the character must stay one byte in UTF-8). This copies the payload: the
 * connection sends a large binary message as its channel byte (binaryChannelByte) and the payload as is.
 */
export function encodeChannelMessage(channel: number, payload: Buffer, protocol: RemoteCommandProtocol): EncodedMessage {
  checkChannel(channel);
  if (protocol.framing === 'base64') {
    if (channel > MAX_BASE64_CHANNEL) throw new RangeError(`channel ${channel} cannot be named in base64 framing`);
    return { data: String.fromCharCode(0x30 + channel) + payload.toString('base64'), binary: false };
  }
  const data = Buffer.allocUnsafe(payload.length + 1);
  data[0] = channel;
  payload.copy(data, 1);
  return { data, binary: true };
}

/** The first byte of a binary-framed message on `channel`: the payload follows it unchanged. */
export function binaryChannelByte(channel: number): number {
  checkChannel(channel);
  return channel;
}

/** '0' + 79 = 0x7F, the last character that is one byte in UTF-8. */
const MAX_BASE64_CHANNEL = 0x7f - 0x30;

/** The v5 CLOSE signal for a channel: a binary message `[0xFF, channel]` (client-go websocket.go stream.Close). */
export function encodeCloseSignal(channel: number): Buffer {
  checkChannel(channel);
  return Buffer.from([CLOSE_SIGNAL, channel]);
}

function checkChannel(channel: number): void {
  if (!Number.isInteger(channel) || channel < 0 || channel > 0xff) throw new RangeError(`invalid channel ${channel}`);
}

const BASE64_BODY = /^[A-Za-z0-9+/]*$/;

/**
 * Go's base64.StdEncoding.Decode: CR and LF are skipped, the rest must be whole 4-character groups of
 * the standard alphabet with '=' padding only at the end ("xx==" or "xxx="). Undefined when invalid.
 */
function decodeStdBase64(text: Buffer): Buffer | undefined {
  let s = text.toString('latin1');
  if (s.includes('\r') || s.includes('\n')) s = s.replace(/[\r\n]/g, '');
  if (s.length % 4 !== 0) return undefined;
  const body = s.endsWith('==') ? s.slice(0, -2) : s.endsWith('=') ? s.slice(0, -1) : s;
  if (!BASE64_BODY.test(body)) return undefined;
  return Buffer.from(s, 'base64');
}
