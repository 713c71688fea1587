import { ChannelProtocolError, decodeChannelMessage } from './framing.js';

/** A message that must be read whole (base64 framing) is larger than the bound it is held to. */
export class ChannelMessageTooLargeError extends ChannelProtocolError {
  override name = 'ChannelMessageTooLargeError';

  constructor(readonly maxBytes: number) {
    super(`message over ${maxBytes} bytes`);
  }
}
import { CLOSE_SIGNAL, type RemoteCommandProtocol } from './protocols.js';

export interface ChannelMessageSink {
  /** Payload for a channel: a whole message's, or the next piece of one that is still arriving. */
  data(channel: number, payload: Buffer): void;
  /** The v5 CLOSE signal for a channel. */
  close(channel: number): void;
}

/** How the rest of the current message is read. */
const Mode = {
  /** Waiting for the message's first byte, the channel. */
  Channel: 0,
  /** Payload bytes go straight to the sink. */
  Stream: 1,
  /** The message is read whole first: a CLOSE signal, or base64 framing. */
  Collect: 2,
  /** A channel the connection does not have: the rest of the message is dropped. */
  Ignore: 3,
} as const;
type Mode = (typeof Mode)[keyof typeof Mode];

/** A CLOSE signal is 2 bytes; the third one already proves it malformed, so no more is kept. */
const CLOSE_SIGNAL_LIMIT = 3;

/**
 * Incoming channel messages read as they arrive, with the rules of `decodeChannelMessage`: the
 * first byte of a binary message names the channel and every later piece of its payload is handed on
 * at once — the bulk of an upload is never reassembled. Only what must be seen whole is collected:
 * the v5 CLOSE signal (≤ 3 bytes) and messages in base64 framing (bounded by the WebSocket's message
 * limit). Whole messages (text frames) go through `whole`.
 */
export class IncomingChannelMessages {
  private mode: Mode = Mode.Channel;
  private channel = 0;
  private delivered = false;
  private collected: Buffer[] = [];
  private collectedBytes = 0;

  constructor(
    private readonly protocol: RemoteCommandProtocol,
    private readonly sink: ChannelMessageSink,
    private readonly channelCount = 256,
    /** Bound on a binary message collected whole (base64 framing); text messages come whole already bounded. */
    private readonly maxCollectedBytes = Number.MAX_SAFE_INTEGER,
  ) {}

  start(): void {
    this.mode = this.protocol.framing === 'base64' ? Mode.Collect : Mode.Channel;
    this.delivered = false;
    this.collected = [];
    this.collectedBytes = 0;
  }

  /** The next piece of the current binary message; throws ChannelProtocolError when it breaks the framing. */
  piece(piece: Buffer): void {
    switch (this.mode) {
      case Mode.Stream:
        this.deliver(piece);
        return;
      case Mode.Channel: {
        const channel = piece[0]!;
        if (this.protocol.supportsClose && channel === CLOSE_SIGNAL) {
          this.mode = Mode.Collect;
          this.collect(piece);
          return;
        }
        if (channel >= this.channelCount) {
          this.mode = Mode.Ignore;
          return;
        }
        this.mode = Mode.Stream;
        this.channel = channel;
        if (piece.length > 1) this.deliver(piece.subarray(1));
        return;
      }
      case Mode.Collect:
        this.collect(piece);
        return;
      case Mode.Ignore:
        return;
    }
  }

  end(): void {
    const mode = this.mode;
    this.mode = Mode.Channel;
    // A message that is only its channel byte still counts as (empty) data, as when read whole.
    if (mode === Mode.Stream && !this.delivered) this.sink.data(this.channel, Buffer.alloc(0));
    if (mode !== Mode.Collect) return;
    const data = this.collected.length === 1 ? this.collected[0]! : Buffer.concat(this.collected);
    this.collected = [];
    this.whole(data, true);
  }

  /** A message read whole (a text frame, whatever the framing); throws ChannelProtocolError as above. */
  whole(data: Buffer, isBinary: boolean): void {
    const message = decodeChannelMessage(data, isBinary, this.protocol, this.channelCount);
    if (message.kind === 'data') this.sink.data(message.channel, message.payload);
    else if (message.kind === 'close') this.sink.close(message.channel);
  }

  private deliver(payload: Buffer): void {
    this.delivered = true;
    this.sink.data(this.channel, payload);
  }

  private collect(piece: Buffer): void {
    this.collected.push(piece);
    this.collectedBytes += piece.length;
    if (this.collectedBytes > this.maxCollectedBytes) throw new ChannelMessageTooLargeError(this.maxCollectedBytes);
    if (this.protocol.framing !== 'base64' && this.collectedBytes >= CLOSE_SIGNAL_LIMIT) {
      throw new ChannelProtocolError(`CLOSE signal must be 2 bytes, got ${this.collectedBytes} or more`);
    }
  }
}
