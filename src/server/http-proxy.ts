import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import https from 'node:https';
import { performance } from 'node:perf_hooks';
import type { Logger } from '../observability/logger.js';
import { gatewayIdentityRefusal, MAX_JUDGED_REFUSAL_BYTES, UPSTREAM_UNAVAILABLE, type UpstreamCall } from '../translators/upstream-call.js';
import { connectionOptions, requestFunction, upstreamHost, upstreamPath } from '../upstream/request-options.js';
import { describeDialError } from '../upstream/dial-outcome.js';
import { endToEndHeaders } from './hop-by-hop.js';
import { HttpStatusError, sendStatusResponse } from '../net/http-answers.js';

export interface HttpProxy {
  /** `onResponse`: the upstream's answer started (its status), before any body byte (audit). */
  handle(req: IncomingMessage, res: ServerResponse, call: UpstreamCall, onResponse?: (status: number) => void): void;
  close(): void;
}

/**
 * Reverse proxy for every request that is not a streaming upgrade: discovery, GET/LIST, WATCH,
 * `logs -f`. Bodies are piped in both directions, so watches stream chunk by chunk and a slow
 * client slows the upstream (pipe back-pressure); a client that goes away aborts the upstream request.
 * Why our own instead of http-proxy/http-proxy-3: docs/decisions.md.
 */
/** A proxied request once it is over: status 0 when the upstream never answered. */
export type ProxiedRequestObserver = (upstream: string, status: number, request: { method: string; path: string; seconds: number }) => void;

export function createHttpProxy(logger: Logger, onAnswered?: ProxiedRequestObserver): HttpProxy {
  // One keep-alive pool per cluster: connections are reused only toward the cluster they belong to.
  const agents = new Map<string, http.Agent>();
  const agentFor = (call: UpstreamCall): http.Agent => {
    let agent = agents.get(call.upstreamName);
    if (!agent) {
      agent = call.target.url.protocol === 'https:' ? new https.Agent({ keepAlive: true, maxFreeSockets: 16 }) : new http.Agent({ keepAlive: true, maxFreeSockets: 16 });
      agents.set(call.upstreamName, agent);
    }
    return agent;
  };

  function handle(req: IncomingMessage, res: ServerResponse, call: UpstreamCall, onResponse?: (status: number) => void): void {
    const { target } = call;
    const started = performance.now();
    // Reported once, when the answer is over (a watch's duration is the watch's).
    const answered = (status: number): void => onAnswered?.(call.upstreamName, status, { method: req.method ?? 'GET', path: call.path, seconds: (performance.now() - started) / 1000 });
    const upstreamReq = requestFunction(target)({
      ...connectionOptions(target),
      agent: agentFor(call),
      method: req.method,
      path: upstreamPath(target, call.path),
      headers: { ...call.rewriteHeaders(endToEndHeaders(req.headers)), host: upstreamHost(target) },
    });

    upstreamReq.on('response', (upstreamRes) => {
      res.once('close', () => answered(upstreamRes.statusCode ?? 0));
      if (call.identity && upstreamRes.statusCode === 403) {
        answerForbidden(upstreamRes, res, call);
        return;
      }
      res.writeHead(upstreamRes.statusCode ?? 502, upstreamRes.statusMessage, endToEndHeaders(upstreamRes.headers));
      // Watches and `logs -f` send a header and then nothing for a while: show the client the
      // status at once instead of waiting for the first body chunk.
      res.flushHeaders();
      onResponse?.(res.statusCode);
      upstreamRes.pipe(res);
      upstreamRes.on('error', () => res.destroy());
    });
    upstreamReq.on('error', (error) => {
      if (res.headersSent) {
        res.destroy();
        return;
      }
      // A client that left before any answer is not the upstream's failure.
      if (!res.destroyed) answered(0);
      const message = describeDialError(error);
      logger.warn({ auditID: call.auditID, upstream: call.upstreamName, method: req.method, path: call.path.split('?')[0], err: message }, 'proxied request failed');
      sendStatusResponse(res, new HttpStatusError(503, 'ServiceUnavailable', UPSTREAM_UNAVAILABLE));
    });
    // A client that goes away (Ctrl-C on a watch) must not leave the upstream request running.
    res.on('close', () => {
      if (!res.writableFinished) upstreamReq.destroy();
    });
    req.pipe(upstreamReq);
  }

  /** Edge mode: a 403 is read whole (bounded) so one naming the gateway's own user can be replaced. */
  function answerForbidden(upstreamRes: IncomingMessage, res: ServerResponse, call: UpstreamCall): void {
    const chunks: Buffer[] = [];
    let size = 0;
    upstreamRes.on('data', (chunk: Buffer) => {
      if (size < MAX_JUDGED_REFUSAL_BYTES) chunks.push(chunk);
      size += chunk.length;
    });
    upstreamRes.on('error', () => res.destroy());
    upstreamRes.on('end', () => {
      const body = Buffer.concat(chunks).subarray(0, MAX_JUDGED_REFUSAL_BYTES);
      const masked = gatewayIdentityRefusal(call, 403, body, logger);
      if (masked) {
        sendStatusResponse(res, new HttpStatusError(403, 'Forbidden', masked));
        return;
      }
      const headers = endToEndHeaders(upstreamRes.headers);
      delete headers['content-length'];
      res.writeHead(403, upstreamRes.statusMessage, headers);
      res.end(body);
    });
  }

  return {
    handle,
    close: () => {
      for (const agent of agents.values()) agent.destroy();
    },
  };
}
