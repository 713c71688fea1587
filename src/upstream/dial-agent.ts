import http from 'node:http';
import https from 'node:https';
import type { Duplex } from 'node:stream';
import type { ConnectionOptions, TLSSocket } from 'node:tls';

/** What the agent hands createConnection: the request's options with the TLS ones (`session` too). */
type DialOptions = https.RequestOptions & ConnectionOptions;

/**
 * The agent of every dial that gets a connection of its own (upgrades and one-off calls), one per
 * scheme for the whole process: keepAlive off, so each request still opens its own connection and
 * closes it after a plain answer (an upgraded socket leaves the agent at once), as `agent: false`
 * did, without building an Agent per dial. TLS sessions are tls-reuse.ts's to offer and keep: this
 * agent caches none, so it never offers one that tls-reuse has dropped or would not offer.
 */
class DialAgent extends https.Agent {
  constructor() {
    super({ keepAlive: false, maxCachedSessions: 0 });
  }

  /**
   * The pool key. Connections are never pooled here, so host and port are enough; Node's own key
   * appends the CA bundle, client certificate, key and cipher list, a few KiB built per dial.
   */
  override getName(options?: https.RequestOptions): string {
    return http.Agent.prototype.getName.call(this, options);
  }

  /**
   * Offers the session once: given `options.session`, Node's tls.connect decodes it twice (in the
   * TLSSocket and again after), each time with its certificate. Set before the TCP connection
   * exists, so the handshake offers it as before.
   */
  override createConnection(options: DialOptions, callback?: (err: Error | null, stream: Duplex) => void): Duplex | null | undefined {
    const { session } = options;
    if (!session) return super.createConnection(options, callback);
    const socket = super.createConnection({ ...options, session: undefined } as DialOptions, callback) as TLSSocket & { setSession(session: Buffer): void };
    socket.setSession(session);
    return socket;
  }
}

export const TLS_DIAL_AGENT: https.Agent = new DialAgent();
export const PLAIN_DIAL_AGENT: http.Agent = new http.Agent({ keepAlive: false });
