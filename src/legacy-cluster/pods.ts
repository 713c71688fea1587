import { randomUUID } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { DemoPod } from './api-objects.js';
import type { ProcessSpec } from './processes.js';

/**
 * The pods of the embedded cluster. Their "containers" are THIS HOST: commands run as local
 * processes of the user running the cluster, with the pod's scratch directory as working directory
 * (absolute paths such as kubectl cp's `/tmp/…` are the host's).
 *
 * `demo`: `shell` is the exec target (the default container); `echo` runs `cat` as its main process
 * with stdin and stdinOnce, so `kubectl attach -i -c echo` gets its input back and ends when its
 * stdin ends; `web` declares ports 80 and 7 (served by PodServices for port-forward).
 */
export function demoPods(): DemoPod[] {
  const createdAt = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
  const idle = ['sh', '-c', 'exec tail -f /dev/null'];
  return [
    {
      namespace: 'default',
      name: 'demo',
      uid: randomUUID(),
      defaultContainer: 'shell',
      createdAt,
      nodeName: 'legacy-node',
      containers: [
        { name: 'shell', image: 'kube-stream-gateway/legacy-shell', command: idle, stdin: false, stdinOnce: false, tty: false },
        { name: 'echo', image: 'kube-stream-gateway/legacy-echo', command: ['cat'], stdin: true, stdinOnce: true, tty: false },
        { name: 'web', image: 'kube-stream-gateway/legacy-web', command: idle, stdin: false, stdinOnce: false, tty: false, ports: [80, 7] },
      ],
    },
  ];
}

/** One scratch directory per pod, shared by its containers (as a pod shares its volumes). */
export async function createPodDirectories(pods: DemoPod[], workRoot: string): Promise<Map<DemoPod, string>> {
  const dirs = new Map<DemoPod, string>();
  for (const pod of pods) {
    const dir = join(workRoot, `${pod.namespace}_${pod.name}`);
    await mkdir(dir, { recursive: true });
    dirs.set(pod, dir);
  }
  return dirs;
}

/** How a command of a container of this pod is started: in the pod's directory, with a container-like environment. */
export function containerProcessSpec(pod: DemoPod, dir: string, argv: string[]): ProcessSpec {
  return {
    argv,
    cwd: dir,
    env: {
      PATH: process.env.PATH ?? '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
      HOSTNAME: pod.name,
      HOME: dir,
      LANG: 'C.UTF-8',
    },
  };
}
