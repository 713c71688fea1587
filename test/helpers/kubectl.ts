import { accessSync, constants, realpathSync } from 'node:fs';
import { delimiter, dirname, join } from 'node:path';

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

/** Path of `kubectl.1.<minor>`; throws (the test fails loudly, never skips) when it is missing. */
export function kubectlPath(minor: number): string {
  const dir = kubectlReleasesDir();
  const path = join(dir, `kubectl.1.${minor}`);
  try {
    accessSync(path, constants.X_OK);
  } catch {
    throw new Error(`kubectl 1.${minor} is required by this test but ${path} is missing or not executable`);
  }
  return path;
}
