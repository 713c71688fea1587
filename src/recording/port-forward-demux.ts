import type { Direction } from '../translators/bridge.js';
import { SpdyFrameParser } from '../codecs/spdy/frames.js';
import { HeaderBlockDecoder } from '../codecs/spdy/header-block.js';

/** Bytes of one forwarded connection, one way: `stream` names it as the recording does (`connection:port:direction`). */
export interface ConnectionBytes {
  stream: string;
  payload: Buffer;
}

/** What a port-forward stream carries, read from its SYN_STREAM headers. */
interface StreamInfo {
  connection: string;
  port: string;
  type: string;
  /** Directions that have sent FIN: the stream is forgotten once both have. */
  finished: Set<Direction>;
}

/** Open streams remembered at most: past them the demux gives up rather than grow. */
const MAX_STREAMS = 4096;

/** The bridge's route names of the channel protocol's port-forward (translators/port-forward/channels.ts). */
const CHANNEL_ROUTE = /^port (\d+) (to client|to upstream|error)$/;
/** The tunnel's routes: SPDY bytes each way (translators/port-forward/tunnel.ts). */
const TUNNEL_ROUTES = new Set(['spdy to client', 'spdy to upstream']);

/**
 * Splits a port-forward session's bytes, as the bridge's tap sees them, into each forwarded
 * connection's bytes each way: `to-pod`, `from-pod`, and `error` (what the kubelet reported for the
 * connection). The channel protocol names the port in its route (one connection per port, numbered 0);
 * the tunnel carries kubectl's SPDY, so each direction is parsed (frames, and the header blocks, which
 * must be inflated in order to keep the zlib context) and each DATA frame's stream is mapped to the
 * `requestid` and `port` its SYN_STREAM named. I/O-free; memory is bounded by the parser's and the
 * decoder's limits. A stream it cannot read ends the demux (`failure`), never the session.
 */
export class PortForwardDemux {
  private readonly parsers = { 'to-upstream': new SpdyFrameParser(), 'to-client': new SpdyFrameParser() };
  private readonly decoders = { 'to-upstream': new HeaderBlockDecoder(), 'to-client': new HeaderBlockDecoder() };
  private readonly streams = new Map<number, StreamInfo>();
  /** Why the tunnel's bytes could not be read any further; nothing more is split once set. */
  failure: string | undefined;

  push(direction: Direction, route: string, payload: Buffer): ConnectionBytes[] {
    if (this.failure !== undefined) return [];
    const channel = CHANNEL_ROUTE.exec(route);
    if (channel) return [{ stream: `0:${channel[1]}:${channel[2] === 'error' ? 'error' : channel[2] === 'to client' ? 'from-pod' : 'to-pod'}`, payload }];
    if (!TUNNEL_ROUTES.has(route)) return [];
    try {
      return this.tunnel(direction, payload);
    } catch (error) {
      this.failure = (error as Error).message;
      return [];
    }
  }

  private tunnel(direction: Direction, payload: Buffer): ConnectionBytes[] {
    const out: ConnectionBytes[] = [];
    for (const frame of this.parsers[direction].push(payload)) {
      if (frame.type === 'syn_stream' || frame.type === 'syn_reply' || frame.type === 'headers') {
        const headers = this.decoders[direction].decode(frame.headerBlock);
        // The client opens the streams (kubectl: an error and a data stream per connection).
        if (frame.type === 'syn_stream' && direction === 'to-upstream') {
          if (this.streams.size >= MAX_STREAMS) throw new Error(`more than ${MAX_STREAMS} streams open at once`);
          this.streams.set(frame.streamId, { connection: headers.requestid ?? '?', port: headers.port ?? '?', type: headers.streamtype ?? '?', finished: new Set() });
        }
        if (frame.fin) this.finish(frame.streamId, direction);
      } else if (frame.type === 'data') {
        const info = this.streams.get(frame.streamId);
        if (!info) continue;
        const way = info.type === 'data' ? (direction === 'to-upstream' ? 'to-pod' : 'from-pod') : info.type === 'error' && direction === 'to-client' ? 'error' : undefined;
        if (way && frame.payload.length > 0) out.push({ stream: `${info.connection}:${info.port}:${way}`, payload: frame.payload });
        if (frame.fin) this.finish(frame.streamId, direction);
      } else if (frame.type === 'rst_stream') this.streams.delete(frame.streamId);
    }
    return out;
  }

  private finish(streamId: number, direction: Direction): void {
    const info = this.streams.get(streamId);
    if (!info) return;
    info.finished.add(direction);
    if (info.finished.size === 2) this.streams.delete(streamId);
  }
}
