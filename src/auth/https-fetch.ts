/**
 * A fetch for the OIDC issuer's discovery document and JWKS that trusts a given CA bundle (Node's
 * global fetch cannot take one without undici's dispatcher), follows no redirects, honours an
 * AbortSignal and bounds the body it will buffer.
 *
 *   createHttpsFetch({ caPem?, maxBodyBytes? }) → (url, { headers?, signal? }) => Promise<Response>
 */
import http from 'node:http';
import https from 'node:https';

export interface HttpsFetchOptions {
  /** PEM CA bundle for https URLs; the system roots when absent. */
  caPem?: string;
  /** A discovery document or JWKS is a few KiB; anything much larger is not one. */
  maxBodyBytes?: number;
}

export type SimpleFetch = (url: string, init?: { headers?: Record<string, string> | Headers; signal?: AbortSignal }) => Promise<Response>;

export function createHttpsFetch(options: HttpsFetchOptions = {}): SimpleFetch {
  const maxBodyBytes = options.maxBodyBytes ?? 1024 * 1024;
  return (url, init = {}) =>
    new Promise<Response>((resolve, reject) => {
      const target = new URL(url);
      const headers = Object.fromEntries(new Headers(init.headers).entries());
      const requestOptions: https.RequestOptions = { method: 'GET', headers };
      if (init.signal) requestOptions.signal = init.signal;
      if (target.protocol === 'https:' && options.caPem) requestOptions.ca = options.caPem;
      const request = (target.protocol === 'https:' ? https : http).request(target, requestOptions, (response) => {
        const chunks: Buffer[] = [];
        let size = 0;
        response.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > maxBodyBytes) {
            response.destroy(new Error(`${url}: response larger than ${maxBodyBytes} bytes`));
            return;
          }
          chunks.push(chunk);
        });
        response.on('error', reject);
        response.on('end', () => {
          const responseHeaders = new Headers();
          for (const [name, value] of Object.entries(response.headers)) {
            if (typeof value === 'string') responseHeaders.set(name, value);
          }
          const status = response.statusCode ?? 500;
          // The Response constructor refuses a body with 204/304; those carry nothing useful here.
          const body = status === 204 || status === 304 ? null : Buffer.concat(chunks);
          resolve(new Response(body, { status, headers: responseHeaders }));
        });
      });
      request.on('error', reject);
      request.end();
    });
}
