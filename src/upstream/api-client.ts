import type { UpstreamTarget } from './target.js';
import { dialUpstream, upstreamHost, upstreamPath } from './request-options.js';
import { describeDialError } from './dial-outcome.js';

/** Bound on a review answer: a TokenReview or SubjectAccessReview is a few hundred bytes. */
const MAX_ANSWER_BYTES = 1024 * 1024;

export interface JsonAnswer {
  status: number;
  body: unknown;
}

/**
 * POSTs a JSON document to the upstream as the gateway itself (its own credential: the bearer token
 * or client certificate of the target), for TokenReview and SubjectAccessReview. A transport failure
 * rejects with a message naming the upstream; any HTTP answer resolves, the caller judges it.
 */
export function postJson(target: UpstreamTarget, path: string, document: unknown, timeoutMs = 10_000): Promise<JsonAnswer> {
  const body = Buffer.from(JSON.stringify(document));
  const headers: Record<string, string> = {
    host: upstreamHost(target),
    'content-type': 'application/json',
    accept: 'application/json',
    'content-length': String(body.length),
    'user-agent': 'kube-stream-gateway',
  };
  const token = target.credentials?.bearerToken;
  if (token) headers.authorization = `Bearer ${token}`;
  return new Promise((resolve, reject) => {
    const req = dialUpstream(target, { method: 'POST', path: upstreamPath(target, path), headers, timeout: timeoutMs });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', (error) => reject(new Error(`${target.url.origin}${path}: ${describeDialError(error)}`)));
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > MAX_ANSWER_BYTES) req.destroy(new Error(`answer larger than ${MAX_ANSWER_BYTES} bytes`));
        else chunks.push(chunk);
      });
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let parsed: unknown = text;
        try {
          parsed = JSON.parse(text);
        } catch {
          // Not JSON (a proxy's HTML error page): the caller sees the text.
        }
        resolve({ status: res.statusCode ?? 0, body: parsed });
      });
      res.on('error', (error) => reject(new Error(`${target.url.origin}${path}: ${error.message}`)));
    });
    req.end(body);
  });
}
