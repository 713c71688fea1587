import type { IncomingMessage } from 'node:http';
import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Logger } from '../observability/logger.js';
import { gatewayIdentityRefusal, UPSTREAM_UNAVAILABLE, type UpstreamCall } from '../translators/upstream-call.js';
import { SessionEnding, type LiveSession } from '../translators/live-session.js';
import { connectionOptions, requestFunction, upstreamHost, upstreamPath } from '../upstream/request-options.js';
import { describeDialError } from '../upstream/spdy-dialer.js';
import { HttpStatusError, headerLines, replayResponse, sendStatusOnSocket } from '../sessions/http-answers.js';

const MAX_REPLAYED_BODY = 1024 * 1024;

/**
 * Passes an upgrade the gateway does not translate (the SPDY upgrade of kubectl ≤ 1.30, or any other
 * upgrade) to the upstream byte for byte. http-proxy and http-proxy-3 destroy every upgrade that is not
 * `GET` + `Upgrade: websocket` (docs/decisions.md), hence this relay.
 */
export function relayUpgrade(
  call: UpstreamCall,
  req: IncomingMessage,
  clientSocket: Duplex,
  head: Buffer,
  logger: Logger,
): Promise<LiveSession | undefined> {
  let settle!: (session: LiveSession | undefined) => void;
  const result = new Promise<LiveSession | undefined>((resolve) => (settle = resolve));
  const { target } = call;
  const log = logger.child({ kind: 'upgrade-relay', upstream: call.upstreamName, user: call.user, method: req.method, path: call.path.split('?')[0] });
  const upstreamReq = requestFunction(target)({
    ...connectionOptions(target),
    agent: false,
    method: req.method,
    path: upstreamPath(target, call.path),
    headers: { ...call.rewriteHeaders(req.headers), host: upstreamHost(target) },
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
    if (upstreamHead.length) clientSocket.write(upstreamHead);
    if (head.length) upstreamSocket.write(head);
    // Bytes are counted at the pipes' sources, off the hot path: sockets count their own reads.
    const clientBytesBefore = (clientSocket as Socket).bytesRead ?? 0;
    const upstreamBytesBefore = upstreamSocket.bytesRead;
    upstreamSocket.pipe(clientSocket);
    clientSocket.pipe(upstreamSocket);
    const started = Date.now();
    let ended = false;
    const ending = new SessionEnding();
    const end = (): void => {
      if (ended) return;
      ended = true;
      upstreamSocket.destroy();
      clientSocket.destroy();
      log.info(
        { status: res.statusCode, protocol: res.headers['x-stream-protocol-version'], durationMs: Date.now() - started },
        'relayed upgrade ended',
      );
      ending.settle();
    };
    upstreamSocket.on('close', end);
    clientSocket.on('close', end);
    upstreamSocket.on('error', end);
    clientSocket.on('error', end);
    log.info({ status: res.statusCode, protocol: res.headers['x-stream-protocol-version'] }, 'relayed upgrade started');
    settle({
      kind: 'relay',
      clientProtocol: String(res.headers['x-stream-protocol-version'] ?? res.headers.upgrade ?? 'relay'),
      done: ending.done,
      get bytesFromClient() {
        return ((clientSocket as Socket).bytesRead ?? 0) - clientBytesBefore;
      },
      get bytesToClient() {
        return upstreamSocket.bytesRead - upstreamBytesBefore;
      },
      get bufferedBytes() {
        return clientSocket.writableLength + upstreamSocket.writableLength;
      },
      // Bytes of a protocol the gateway does not speak: it can only cut the connection, and log why.
      end(status, why) {
        ending.outcome = why;
        log.info({ event: 'relay-ended-by-gateway', reason: status.message }, 'relayed upgrade ended by the gateway');
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
      const masked = gatewayIdentityRefusal(call, res.statusCode ?? 502, body, log);
      if (masked) sendStatusOnSocket(clientSocket, new HttpStatusError(403, 'Forbidden', masked));
      else replayResponse(clientSocket, res.statusCode ?? 502, res.rawHeaders, body);
      log.info({ status: res.statusCode }, 'upgrade refused by upstream');
      settle(undefined);
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

function statusLine(res: IncomingMessage): string {
  const code = res.statusCode ?? 101;
  return `HTTP/1.1 ${code} ${res.statusMessage || STATUS_CODES[code] || ''}\r\n`;
}
