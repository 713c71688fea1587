import { accessSync, constants, realpathSync } from 'node:fs';
import { delimiter, dirname, join } from 'node:path';
import { kubectlBinary } from '../../bench/kubectl.js';

/**
 * Where the numbered kubectl releases live: the folder named by KUBECTL_RELEASES_DIR, else the folder
 * that the `kubectl` on PATH resolves into (the plain `kubectl` is a dispatcher; tests always call a
 * numbered release so they know which protocol it speaks).
 */
export function kubectlReleasesDir(): string {
  const fromEnv = process.env.KUBECTL_RELEASES_DIR;
  if (fromEnv) return fromEnv;
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, 'kubectl');
    try {
      accessSync(candidate, constants.X_OK);
      return dirname(realpathSync(candidate));
    } catch {
      // not in this PATH entry
    }
  }
  throw new Error(
    'no kubectl on PATH and KUBECTL_RELEASES_DIR is not set: the end-to-end tests need kubectl.1.NN releases',
  );
}

/**
 * Path of `kubectl.1.<minor>`, found as the bench finds it (KUBECTL_RELEASES_DIR, then beside each
 * `kubectl` on PATH); throws (the test fails loudly, never skips) when it is missing.
 */
export const kubectlPath = kubectlBinary;
