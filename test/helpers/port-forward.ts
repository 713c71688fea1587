import { startForward, type Forward } from '../../bench/kubectl.js';
import { kubectlPath } from './kubectl.js';

/** A forward that never comes up must fail the test, not hang it. */
const FORWARD_TIMEOUT_MS = 120_000;

/** Starts `kubectl port-forward pod/<pod> :<podPort>` with release 1.`minor` and resolves once kubectl says where it listens. */
export function startPortForward(minor: number, kubeconfig: string, pod: string, podPort: number, env: Record<string, string> = {}): Promise<Forward> {
  const call = { binary: kubectlPath(minor), kubeconfig, env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...env } };
  return startForward(call, pod, podPort, [], FORWARD_TIMEOUT_MS);
}
