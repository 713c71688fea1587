import type { OutgoingHttpHeaders } from 'node:http';
import { parseSubprotocolHeader } from '../codecs/channels/protocols.js';
import { HttpStatusError } from '../sessions/http-answers.js';
import type { UpstreamCall } from '../translators/upstream-call.js';
import { BEARER_PROTOCOL_PREFIX } from '../auth/credentials.js';
import { copyHeaders, type AccessControl, type AccessRequest } from './access.js';

/**
 * `auth.mode: passthrough`: the upstream authenticates and authorizes the caller's own credential.
 * The gateway never adds its own credential here (a caller without one must stay anonymous
 * upstream), and a browser's bearer-token subprotocol becomes the Authorization header it stands for,
 * since SPDY upstream has no subprotocol to carry it.
 */
export class PassthroughAccess implements AccessControl {
  async admit({ req, route }: AccessRequest): Promise<UpstreamCall> {
    // Node keeps only the first of two Authorization headers: refuse rather than guess which counts.
    if (req.rawHeaders.filter((_, i) => i % 2 === 0 && req.rawHeaders[i]!.toLowerCase() === 'authorization').length > 1) {
      throw new HttpStatusError(400, 'BadRequest', 'more than one Authorization header');
    }
    const offered = parseSubprotocolHeader(req.headers['sec-websocket-protocol']);
    const tokens = offered.filter((protocol) => protocol.startsWith(BEARER_PROTOCOL_PREFIX));
    if (tokens.length > 1) throw new HttpStatusError(400, 'BadRequest', 'more than one bearer-token WebSocket subprotocol');
    let authorization: string | undefined;
    if (tokens.length === 1) {
      if (req.headers.authorization !== undefined) throw new HttpStatusError(400, 'BadRequest', 'a bearer token in both the Authorization header and a WebSocket subprotocol');
      authorization = `Bearer ${Buffer.from(tokens[0]!.slice(BEARER_PROTOCOL_PREFIX.length), 'base64url').toString('utf8')}`;
    }
    const { credentials: _gatewayOwn, ...target } = route.upstream.target;
    return {
      upstreamName: route.upstream.name,
      target,
      path: route.path,
      offeredProtocols: offered.filter((protocol) => !protocol.startsWith(BEARER_PROTOCOL_PREFIX)),
      rewriteHeaders(headers): OutgoingHttpHeaders {
        const rewritten = copyHeaders(headers);
        if (authorization !== undefined) rewritten.authorization = authorization;
        return rewritten;
      },
    };
  }

  close(): void {}
}
