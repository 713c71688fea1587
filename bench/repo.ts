// Where the checkout is, for the bench's sources (run by the tests) and for their compiled copies in
// build/bench/ alike: the nearest folder up from this module that holds package.json.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

function findRepo(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`no package.json above ${fileURLToPath(import.meta.url)}`);
    dir = parent;
  }
  return dir;
}

export const REPO = findRepo();

/** The gateway's CLI as `npm run build` compiles it: the bench runs the product as it ships. */
export const GATEWAY_MAIN = join(REPO, 'dist/cli/main.js');
