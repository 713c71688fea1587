import http from 'node:http';
import net from 'node:net';
import { once } from 'node:events';
import type { DemoPod } from './api-objects.js';

/**
 * What the demo pod serves, on local ports of the cluster's choosing: HTTP on pod port 80 (200, a
 * body naming the pod) and a TCP echo on pod port 7. A port can be closed and reopened on the same
 * local port, to show a forward surviving a target that goes away.
 */
export class PodServices {
  private readonly servers = new Map<number, net.Server>();
  private readonly localPorts = new Map<number, number>();
  private readonly sockets = new Set<net.Socket>();

  constructor(private readonly pod: DemoPod) {}

  async start(): Promise<void> {
    for (const podPort of this.pod.containers.flatMap((c) => c.ports ?? [])) await this.open(podPort);
  }

  /** The host port behind a pod port, or undefined when the pod declares no such port. */
  localPort(podPort: number): number | undefined {
    return this.localPorts.get(podPort);
  }

  async open(podPort: number): Promise<void> {
    if (this.servers.has(podPort)) return;
    const server = podPort === 80 ? this.httpServer() : this.echoServer();
    server.on('connection', (socket: net.Socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
    server.listen(this.localPorts.get(podPort) ?? 0, '127.0.0.1');
    await once(server, 'listening');
    this.localPorts.set(podPort, (server.address() as net.AddressInfo).port);
    this.servers.set(podPort, server);
  }

  /** Stops listening; connections to the pod port are then refused, as a stopped process's would be. */
  async closePort(podPort: number): Promise<void> {
    const server = this.servers.get(podPort);
    if (!server) return;
    this.servers.delete(podPort);
    await new Promise((resolve) => server.close(resolve));
  }

  async stop(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await Promise.all([...this.servers.keys()].map((port) => this.closePort(port)));
  }

  private httpServer(): net.Server {
    return http.createServer((req, res) => {
      req.resume();
      const body = `Hello from pod ${this.pod.namespace}/${this.pod.name}\n`;
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(body) });
      res.end(body);
    });
  }

  private echoServer(): net.Server {
    return net.createServer((socket) => {
      socket.on('error', () => undefined);
      socket.pipe(socket);
    });
  }
}
