import type { OutgoingHttpHeaders } from 'node:http';
import { HttpStatusError } from '../net/http-answers.js';
import type { UpstreamCall } from '../translators/upstream-call.js';
import { BOTH_TOKENS, headerValues, webSocketProtocolToken } from '../auth/credentials.js';
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
    if (headerValues(req, 'authorization').length > 1) throw new HttpStatusError(400, 'BadRequest', 'more than one Authorization header');
    const split = webSocketProtocolToken(req);
    if (!split.ok) throw new HttpStatusError(400, 'BadRequest', split.reason);
    if (split.token !== undefined && req.headers.authorization !== undefined) throw new HttpStatusError(400, 'BadRequest', BOTH_TOKENS);
    const authorization = split.token === undefined ? undefined : `Bearer ${split.token}`;
    const { credentials: _gatewayOwn, ...target } = route.upstream.target;
    return {
      upstreamName: route.upstream.name,
      target,
      path: route.path,
      offeredProtocols: split.protocols ?? [],
      rewriteHeaders(headers): OutgoingHttpHeaders {
        const rewritten = copyHeaders(headers);
        if (authorization !== undefined) rewritten.authorization = authorization;
        return rewritten;
      },
    };
  }

  close(): void {}
}
