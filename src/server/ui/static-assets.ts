import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { fileURLToPath } from 'node:url';
import { securityHeaders } from './security-headers.js';

/** The bundle `npm run build` writes (scripts/build-ui.mjs): the page, its script and its styles. */
const ASSETS = { 'app.js': 'text/javascript; charset=utf-8', 'app.css': 'text/css; charset=utf-8' } as const;
const PAGE = 'index.html';

/**
 * Where the bundle is: dist/ui beside the compiled server (dist/server/ui → dist/ui), or, when the
 * server runs from its TypeScript sources (tests), the built dist/ui of the same checkout.
 */
export function defaultAssetsDir(): string {
  const candidates = [new URL('../../ui/', import.meta.url), new URL('../../../dist/ui/', import.meta.url)].map((url) => fileURLToPath(url));
  return candidates.find((dir) => existsSync(`${dir}${PAGE}`)) ?? candidates[0]!;
}

interface Asset {
  body: Buffer;
  type: string;
  etag: string;
}

/**
 * The interface's files, read once at start (a few hundred KiB) and served from memory. Asset URLs
 * carry their content hash (`?v=`), so they are cached for a year; the page itself is revalidated
 * every time, and carries a fresh style nonce per answer (security-headers.ts).
 */
export class StaticAssets {
  private readonly assets = new Map<string, Asset>();
  private readonly page: string;

  constructor(dir: string) {
    if (!existsSync(`${dir}/${PAGE}`)) throw new Error(`the web interface's files are missing from ${dir} (run npm run build)`);
    for (const [name, type] of Object.entries(ASSETS)) {
      const body = readFileSync(`${dir}/${name}`);
      this.assets.set(name, { body, type, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"` });
    }
    let page = readFileSync(`${dir}/${PAGE}`, 'utf8');
    for (const [name, asset] of this.assets) page = page.replaceAll(`assets/${name}"`, `assets/${name}?v=${asset.etag.slice(1, -1)}"`);
    this.page = page;
  }

  /** Answers `rest` (the path under the interface's prefix); false when it names no file. */
  serve(rest: string, req: IncomingMessage, res: ServerResponse): boolean {
    if (rest === '' || rest === PAGE) {
      const nonce = randomBytes(16).toString('base64');
      const body = Buffer.from(this.page.replaceAll('{{STYLE_NONCE}}', nonce));
      res.writeHead(200, { ...securityHeaders(nonce), 'content-type': 'text/html; charset=utf-8', 'content-length': body.length, 'cache-control': 'no-store' });
      res.end(req.method === 'HEAD' ? undefined : body);
      return true;
    }
    const asset = rest.startsWith('assets/') ? this.assets.get(rest.slice('assets/'.length)) : undefined;
    if (!asset) return false;
    const headers = { ...securityHeaders(), 'content-type': asset.type, etag: asset.etag, 'cache-control': 'public, max-age=31536000, immutable' };
    if (req.headers['if-none-match'] === asset.etag) {
      res.writeHead(304, headers).end();
      return true;
    }
    res.writeHead(200, { ...headers, 'content-length': asset.body.length });
    res.end(req.method === 'HEAD' ? undefined : asset.body);
    return true;
  }
}
