import { randomUUID } from 'node:crypto';
import type { DemoPod } from './api-objects.js';

/**
 * The pods of the embedded cluster. Their "containers" are this host: commands run as local
 * processes in a scratch working directory per pod.
 */
export function demoPods(): DemoPod[] {
  const createdAt = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
  return [
    {
      namespace: 'default',
      name: 'demo',
      uid: randomUUID(),
      defaultContainer: 'shell',
      createdAt,
      containers: [
        { name: 'shell', command: ['sh'], stdin: true },
        // A line echo: what a client attached with stdin types comes back on stdout.
        { name: 'echo', command: ['cat'], stdin: true },
        { name: 'web', command: ['sh', '-c', 'exec tail -f /dev/null'], stdin: false, ports: [80, 7] },
      ],
    },
  ];
}
