// The npm package ships the product alone (`serve`, `check-config`, `legacy-cluster`, `demo` and
// what they load): the benchmark lives in bench/ and builds into build/, never into dist/. Reads the
// file list `npm pack` would publish from the dist/ of this checkout (pretest builds it), so output
// left in dist/ by an older layout is caught too: it would ship.
import t from 'tap';
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';

const ROOT = new URL('../../', import.meta.url).pathname;
const run = promisify(execFile);

/** The paths `npm pack` would put in the package; no script runs (`prepare` would rebuild dist/). */
async function packedFiles(): Promise<string[]> {
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
  const { stdout } = await run(npm, ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: ROOT, maxBuffer: 16 * 1024 * 1024 });
  const [pack] = JSON.parse(stdout) as Array<{ files: Array<{ path: string }> }>;
  return pack!.files.map((file) => file.path);
}

t.test('the package holds the compiled product, its example configuration and README, and no benchmark', async (t) => {
  const files = await packedFiles();
  t.ok(files.includes('dist/cli/main.js'), 'the CLI the bin entry names');
  for (const file of ['package.json', 'README.md', 'config/gateway.example.yaml']) t.ok(files.includes(file), file);
  t.same(
    files.filter((file) => /(^|\/)bench(\/|$)/.test(file)),
    [],
    'no benchmark file (a stale dist/bench/ from before the bench left src/: rm -rf dist/bench)',
  );
  // Everything compiled has its source in src/: dist/ holds the product's modules and the web
  // interface's bundle (dist/ui/, built from web/ by scripts/build-ui.mjs), nothing else.
  t.ok(files.includes('dist/ui/index.html') && files.includes('dist/ui/app.js'), 'the web interface, bundled');
  const compiled = files.filter((file) => file.startsWith('dist/') && !file.startsWith('dist/ui/'));
  const orphans = compiled.filter((file) => !existsSync(join(ROOT, 'src', file.slice('dist/'.length).replace(/\.js(\.map)?$/, '.ts'))));
  t.same(orphans, [], 'every file in dist/ is compiled from src/');
  t.same(
    files.filter((file) => !file.startsWith('dist/') && !file.startsWith('config/') && file !== 'package.json' && file !== 'README.md'),
    [],
    'nothing beside dist/, config/, package.json and README.md',
  );
});

t.test('package.json ships neither the bench nor its build, and no bench script runs from dist/', async (t) => {
  const manifest = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { files: string[]; scripts: Record<string, string> };
  t.same(manifest.files.filter((entry) => /bench|build/.test(entry)), []);
  for (const name of ['bench', 'bench:ab', 'bench:instructions', 'soak']) {
    t.match(manifest.scripts[name], /npm run build:bench && node build\/bench\//, `${name} builds the bench and runs it from build/`);
  }
});
