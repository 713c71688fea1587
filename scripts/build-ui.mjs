// Bundles the web interface (web/) into dist/ui/: one script, one stylesheet (xterm.js's included)
// and the page. Everything is served by the gateway itself, so it works without network access.
import { build } from 'esbuild';
import { copyFile, mkdir } from 'node:fs/promises';

const out = new URL('../dist/ui/', import.meta.url);
await mkdir(out, { recursive: true });
await build({
  entryPoints: { app: new URL('../web/app.ts', import.meta.url).pathname },
  bundle: true,
  format: 'esm',
  target: 'es2022',
  minify: true,
  legalComments: 'linked',
  outdir: out.pathname,
  logLevel: 'warning',
});
await copyFile(new URL('../web/index.html', import.meta.url), new URL('index.html', out));
