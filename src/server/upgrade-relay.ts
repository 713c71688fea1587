import type { IncomingMessage, OutgoingHttpHeaders } from 'node:http';
import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { SessionLog, sessionSubject } from '../translators/session-log.js';
import type { Logger } from '../observability/logger.js';
import { gatewayIdentityRefusal, UPSTREAM_UNAVAILABLE, type UpstreamCall } from '../translators/upstream-call.js';
import { SessionEnding, type LiveSession } from '../translators/live-session.js';
import type { OpenedTap, SessionTap } from '../translators/bridge.js';
import { dialUpstream, upstreamHost, upstreamPath } from '../upstream/request-options.js';
import { describeDialError } from '../upstream/dial-outcome.js';
import { HttpStatusError, headerLines, noteAnswer, replayResponse, sendStatusOnSocket } from '../net/http-answers.js';

const MAX_REPLAYED_BODY = 1024 * 1024;

/**
 * Passes an upgrade the gateway does not translate (the SPDY upgrade of kubectl ≤ 1.30, or any other
 * upgrade) to the upstream byte for byte. http-proxy and http-proxy-3 destroy every upgrade that is not
 * `GET` + `Upgrade: websocket` (docs/decisions.md), hence this relay. `method` is the upstream
 * request's: the gateway sends streaming upgrades as POST whatever the client used.
 */
export function relayUpgrade(
  call: UpstreamCall,
  req: IncomingMessage,
  clientSocket: Duplex,
  head: Buffer,
  logger: Logger,
  method: string = req.method ?? 'GET',
  /**
   * Asked with the status of a refusal (a non-101 answer) before it is replayed: a session to start
   * instead (`upstreams[].streaming: auto` trying WebSocket after SPDY was refused), or undefined.
   */
  fallback?: (statusCode: number, replayThisRefusal: () => void) => (() => Promise<LiveSession | undefined>) | undefined,
  /**
   * A port-forward's recording: told the bytes each way (the SPDY bytes) and why it ended, as a tunnel's
   * is; handed the bytes themselves only when it records content.
   */
  tapped?: OpenedTap,
): Promise<LiveSession | undefined> {
  let settle!: (session: LiveSession | undefined) => void;
  let tapEnded = false;
  const endTap = (detail: Record<string, unknown>): void => {
    if (!tapEnded) tapped?.tap.event('end', detail);
    tapEnded = true;
  };
  const result = new Promise<LiveSession | undefined>((resolve) => (settle = resolve));
  void result.then((session) => session ?? endTap({ reason: 'the session did not start' }));
  const { target } = call;
  const clientMethod = method === req.method ? {} : { clientMethod: req.method };
  const recording = tapped?.name ? { recording: tapped.name } : {};
  const sessionLog = new SessionLog(logger, sessionSubject(call, req, 'relay'), { method, ...clientMethod, path: call.path.split('?')[0], ...recording });
  const log = sessionLog.logger;
  const upstreamReq = dialUpstream(target, {
    method,
    path: upstreamPath(target, call.path),
    headers: upstreamHeaders(call, req, method),
  });
  let answered = false;
  clientSocket.on('error', () => upstreamReq.destroy());
  clientSocket.on('close', () => {
    if (answered) return;
    upstreamReq.destroy();
    settle(undefined);
  });

  upstreamReq.on('upgrade', (res: IncomingMessage, upstreamSocket: Socket, upstreamHead: Buffer) => {
    answered = true;
    if (clientSocket.destroyed) {
      upstreamSocket.destroy();
      settle(undefined);
      return;
    }
    upstreamSocket.setNoDelay(true);
    const headers = headerLines(res.rawHeaders, () => true).map((line) => `${line}\r\n`);
    clientSocket.write(statusLine(res) + headers.join('') + '\r\n', 'latin1');
    noteAnswer(clientSocket, res.statusCode ?? 101);
    if (upstreamHead.length) clientSocket.write(upstreamHead);
    if (head.length) upstreamSocket.write(head);
    if (tapped?.content) tapContent(tapped.tap, clientSocket, upstreamSocket, head, upstreamHead);
    // Bytes are counted at the pipes' sources, off the hot path: sockets count their own reads.
    const clientBytesBefore = (clientSocket as Socket).bytesRead ?? 0;
    const upstreamBytesBefore = upstreamSocket.bytesRead;
    upstreamSocket.pipe(clientSocket);
    clientSocket.pipe(upstreamSocket);
    let ended = false;
    let endReason = 'the connection closed';
    const ending = new SessionEnding();
    const bytesFromClient = (): number => ((clientSocket as Socket).bytesRead ?? 0) - clientBytesBefore;
    const bytesToClient = (): number => upstreamSocket.bytesRead - upstreamBytesBefore;
    const end = (): void => {
      if (ended) return;
      ended = true;
      upstreamSocket.destroy();
      clientSocket.destroy();
      sessionLog.end({ bytesFromClient: bytesFromClient(), bytesToClient: bytesToClient(), outcome: ending.outcome, reason: endReason }, { status: res.statusCode });
      endTap({ bytesFromClient: bytesFromClient(), bytesToClient: bytesToClient(), reason: endReason });
      ending.settle();
    };
    const endedBy = (reason: string) => (): void => {
      if (!ended) endReason = reason;
      end();
    };
    upstreamSocket.on('close', endedBy('the upstream closed the connection'));
    clientSocket.on('close', endedBy('the client closed the connection'));
    upstreamSocket.on('error', endedBy('upstream connection error'));
    clientSocket.on('error', endedBy('client connection error'));
    const upstreamProtocol = res.headers['x-stream-protocol-version'];
    // The client asked for SPDY and gets the upstream's answer unchanged: both sides speak the same.
    sessionLog.start({ clientProtocol: String(res.headers.upgrade ?? 'relay'), upstreamProtocol: typeof upstreamProtocol === 'string' ? upstreamProtocol : null });
    settle({
      kind: 'relay',
      clientProtocol: String(res.headers['x-stream-protocol-version'] ?? res.headers.upgrade ?? 'relay'),
      done: ending.done,
      get bytesFromClient() {
        return bytesFromClient();
      },
      get bytesToClient() {
        return bytesToClient();
      },
      get bufferedBytes() {
        return clientSocket.writableLength + upstreamSocket.writableLength;
      },
      // Bytes of a protocol the gateway does not speak: it can only cut the connection, and log why.
      end(status, why) {
        ending.outcome = why;
        if (!ended) endReason = status.message ?? why;
        end();
      },
    });
  });

  upstreamReq.on('response', (res: IncomingMessage) => {
    answered = true;
    const chunks: Buffer[] = [];
    let size = 0;
    res.on('data', (chunk: Buffer) => {
      if (size < MAX_REPLAYED_BODY) chunks.push(chunk);
      size += chunk.length;
    });
    res.on('error', () => {
      clientSocket.destroy();
      settle(undefined);
    });
    res.on('end', () => {
      const body = Buffer.concat(chunks).subarray(0, MAX_REPLAYED_BODY);
      const replay = (): void => {
        const masked = gatewayIdentityRefusal(call, res.statusCode ?? 502, body, log);
        if (masked) sendStatusOnSocket(clientSocket, new HttpStatusError(403, 'Forbidden', masked));
        else replayResponse(clientSocket, res.statusCode ?? 502, res.rawHeaders, body);
      };
      const instead = fallback?.(res.statusCode ?? 502, replay);
      log.info({ status: res.statusCode }, instead ? 'upgrade refused by upstream; trying WebSocket' : 'upgrade refused by upstream');
      if (!instead) {
        replay();
        return settle(undefined);
      }
      // Served toward a WebSocket upstream, where this tap does not reach.
      endTap({ reason: 'served toward a WebSocket upstream, unrecorded' });
      instead().then(settle, () => settle(undefined));
    });
  });

  upstreamReq.on('error', (error) => {
    if (answered) return;
    answered = true;
    const message = describeDialError(error);
    log.warn({ err: message }, 'upgrade relay could not reach the upstream');
    sendStatusOnSocket(clientSocket, new HttpStatusError(503, 'ServiceUnavailable', UPSTREAM_UNAVAILABLE));
    settle(undefined);
  });
  upstreamReq.end();
  return result;
}

/**
 * Hands a content tap every byte the relay carries each way, from the first after the 101, under the
 * tunnel's route names: a relayed SPDY port-forward is the same SPDY as a tunnel's, read by the same
 * demux. A second `data` listener beside the pipe: the pipe's back-pressure is unchanged.
 */
function tapContent(tap: SessionTap, clientSocket: Duplex, upstreamSocket: Socket, head: Buffer, upstreamHead: Buffer): void {
  if (head.length) tap.bytes('to-upstream', 'spdy to upstream', head);
  if (upstreamHead.length) tap.bytes('to-client', 'spdy to client', upstreamHead);
  clientSocket.on('data', (chunk: Buffer) => tap.bytes('to-upstream', 'spdy to upstream', chunk));
  upstreamSocket.on('data', (chunk: Buffer) => tap.bytes('to-client', 'spdy to client', chunk));
}

/**
 * The client's headers as access control rewrites them. A method changed to POST also says it has no
 * body, as kubectl's SPDY POST does: Node would otherwise send a chunked body, whose terminator the
 * upstream could read as the first bytes of the upgraded stream.
 */
function upstreamHeaders(call: UpstreamCall, req: IncomingMessage, method: string): OutgoingHttpHeaders {
  const headers: OutgoingHttpHeaders = { ...call.rewriteHeaders(req.headers), host: upstreamHost(call.target) };
  if (method !== req.method) {
    delete headers['transfer-encoding'];
    headers['content-length'] = '0';
  }
  return headers;
}

function statusLine(res: IncomingMessage): string {
  const code = res.statusCode ?? 101;
  return `HTTP/1.1 ${code} ${res.statusMessage || STATUS_CODES[code] || ''}\r\n`;
}
