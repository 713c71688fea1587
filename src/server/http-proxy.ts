import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import https from 'node:https';
import { performance } from 'node:perf_hooks';
import type { Logger } from '../observability/logger.js';
import type { UpstreamCall } from '../translators/upstream-call.js';
import { connectionOptions, requestFunction, upstreamHost, upstreamPath } from '../upstream/request-options.js';
import { describeDialError } from '../upstream/spdy-dialer.js';
import { endToEndHeaders } from './hop-by-hop.js';
import { HttpStatusError, sendStatusResponse } from '../sessions/http-answers.js';

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
      sendStatusResponse(res, new HttpStatusError(503, 'ServiceUnavailable', message));
    });
    // A client that goes away (Ctrl-C on a watch) must not leave the upstream request running.
    res.on('close', () => {
      if (!res.writableFinished) upstreamReq.destroy();
    });
    req.pipe(upstreamReq);
  }

  return {
    handle,
    close: () => {
      for (const agent of agents.values()) agent.destroy();
    },
  };
}
