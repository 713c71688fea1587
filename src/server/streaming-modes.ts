/** `upstreams[].streaming`: what an upstream speaks for exec, attach and port-forward. */
export type StreamingSetting = 'spdy' | 'websocket' | 'auto';
export type StreamingProtocol = 'spdy' | 'websocket';

/**
 * How long `auto` keeps what it learnt about an upstream before trying SPDY first again.
 * @internal Exported for its unit tests (byte vectors, seams); the product does not import it.
 */
export const STREAMING_MEMORY_MS = 10 * 60_000;

/**
 * Per upstream, the protocol to ask it for first. `spdy` and `websocket` are as configured. `auto`
 * tries SPDY first — today's behaviour toward SPDY-only clusters, unchanged — and switches to
 * WebSocket when an upstream refuses a SPDY upgrade (400, as an API server or a WebSocket-only hop
 * answers an upgrade it does not take) and then accepts the WebSocket one. That is remembered for
 * STREAMING_MEMORY_MS from the last success, so only the first session pays the extra round trip;
 * the memory running out forgets it: the next session then learns again, SPDY first. A WebSocket
 * refusal while remembered forgets it too, and the gateway retries that session over SPDY.
 */
export class StreamingModes {
  private readonly webSocketSince = new Map<string, number>();

  constructor(
    private readonly memoryMs = STREAMING_MEMORY_MS,
    private readonly now: () => number = Date.now,
  ) {}

  /** The protocol to ask `upstream` for first. */
  first(upstream: string, setting: StreamingSetting | undefined): StreamingProtocol {
    if (setting === 'spdy' || setting === 'websocket') return setting;
    const since = this.webSocketSince.get(upstream);
    if (since === undefined) return 'spdy';
    if (this.now() - since < this.memoryMs) return 'websocket';
    this.webSocketSince.delete(upstream);
    return 'spdy';
  }

  /** Whether a refusal of a SPDY upgrade with `statusCode` is worth a WebSocket attempt under `auto`. */
  static refusesSpdy(statusCode: number): boolean {
    return statusCode === 400;
  }

  /** `auto` saw the upstream take a WebSocket upgrade after refusing SPDY. */
  learnWebSocket(upstream: string): void {
    this.webSocketSince.set(upstream, this.now());
  }

  /** A remembered WebSocket upstream refused a WebSocket upgrade: ask SPDY first next time. */
  forget(upstream: string): void {
    this.webSocketSince.delete(upstream);
  }
}
