// Starting the legacy cluster on its own, and talking to it by hand: raw HTTP, SPDY upgrades and a
// SPDY client (the project's SpdyConnection in the client role), with a spy on the server's frames.
import net from 'node:net';
import { readFileSync } from 'node:fs';
import tls from 'node:tls';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { createLogger } from '../../src/observability/logger.js';
import { createCertificateAuthority } from '../../src/net/certificate-authority.js';
import { renderKubeconfig } from '../../src/config/kubeconfig.js';
import { startLegacyCluster, type LegacyCluster, type LegacyClusterOptions } from '../../src/legacy-cluster/cluster.js';
import type { AccessRule } from '../../src/legacy-cluster/authorizer.js';
import type { LegacyUser } from '../../src/legacy-cluster/identity.js';
import { SpdyConnection, type SpdyStream } from '../../src/connections/spdy/spdy-connection.js';
import { SpdyFrameParser, type SpdyFrame } from '../../src/codecs/spdy/frames.js';
import { LogRecorder } from '../helpers/log-recorder.js';

export interface Harness {
  cluster: LegacyCluster;
  token: string;
  logs: LogRecorder;
  /** Set when started with TLS. */
  caPem?: string;
  /** A kubeconfig straight at the cluster (TLS only: kubectl sends tokens over https only). */
  kubeconfig?: string;
  workRoot?: string;
  close(): Promise<void>;
}

export interface HarnessOptions {
  tls?: boolean;
  streamCreationTimeoutMs?: number;
  workRoot?: string;
  users?: LegacyUser[];
  rules?: AccessRule[];
  loadPty?: LegacyClusterOptions['loadPty'];
  streaming?: LegacyClusterOptions['streaming'];
}

export async function startHarness(options: HarnessOptions = {}): Promise<Harness> {
  const dir = await mkdtemp(join(tmpdir(), 'ksg-legacy-test-'));
  const token = randomBytes(24).toString('base64url');
  const logs = new LogRecorder();
  let caPem: string | undefined;
  let serverTls: { cert: string; key: string } | undefined;
  if (options.tls) {
    const ca = await createCertificateAuthority();
    const issued = await ca.issueServerCertificate(['127.0.0.1', 'localhost']);
    caPem = ca.caCertPem;
    serverTls = { cert: issued.certPem, key: issued.keyPem };
  }
  const cluster = await startLegacyCluster({
    listen: { host: '127.0.0.1', port: 0 },
    token,
    users: options.users,
    rules: options.rules,
    tls: serverTls,
    logger: createLogger({ destination: logs, level: 'debug' }),
    streamCreationTimeoutMs: options.streamCreationTimeoutMs,
    loadPty: options.loadPty,
    workRoot: options.workRoot,
    streaming: options.streaming,
  });
  let kubeconfig: string | undefined;
  if (caPem) {
    kubeconfig = join(dir, 'kubeconfig');
    await writeFile(kubeconfig, renderKubeconfig({ server: cluster.url, caPem, token }));
  }
  return {
    cluster,
    token,
    logs,
    caPem,
    kubeconfig,
    async close() {
      await cluster.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** A connected socket to the cluster (TLS when the harness has a CA). */
async function connectSocket(h: Harness): Promise<net.Socket> {
  if (h.caPem) {
    const socket = tls.connect({ host: '127.0.0.1', port: h.cluster.port, ca: h.caPem, servername: 'localhost' });
    await once(socket, 'secureConnect');
    return socket;
  }
  const socket = net.connect(h.cluster.port, '127.0.0.1');
  await once(socket, 'connect');
  return socket;
}

export interface ParsedResponse {
  status: number;
  /** Header lines as sent, in order. */
  headerLines: string[];
  header(name: string): string[];
  body: Buffer;
  raw: string;
}

function parseResponse(raw: Buffer): ParsedResponse {
  const end = raw.indexOf('\r\n\r\n');
  const head = raw.subarray(0, end).toString('latin1').split('\r\n');
  const headerLines = head.slice(1);
  return {
    status: Number(head[0]!.split(' ')[1]),
    headerLines,
    header: (name) =>
      headerLines.filter((line) => line.toLowerCase().startsWith(`${name.toLowerCase()}:`)).map((line) => line.slice(line.indexOf(':') + 1).trim()),
    body: raw.subarray(end + 4),
    raw: raw.toString('latin1'),
  };
}

/** Sends a raw request and reads one answer: up to its Content-Length, or until the server closes. */
export async function rawExchange(h: Harness, request: string): Promise<ParsedResponse> {
  const socket = await connectSocket(h);
  let received = Buffer.alloc(0);
  const complete = (): boolean => {
    const end = received.indexOf('\r\n\r\n');
    if (end < 0) return false;
    const length = /\r\ncontent-length: *(\d+)/i.exec(received.subarray(0, end).toString('latin1'));
    return length !== null && received.length >= end + 4 + Number(length[1]);
  };
  await new Promise<void>((resolve) => {
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      if (complete()) resolve();
    });
    socket.once('close', () => resolve());
    socket.write(request);
  });
  socket.destroy();
  return parseResponse(received);
}

/** An ordinary request with `Connection: close`, so that the answer ends with the connection. */
export function request(h: Harness, method: string, path: string, headers: Record<string, string> = {}, withToken = true): Promise<ParsedResponse> {
  const lines = [`${method} ${path} HTTP/1.1`, 'Host: 127.0.0.1', 'Connection: close'];
  if (withToken) lines.push(`Authorization: Bearer ${h.token}`);
  for (const [name, value] of Object.entries(headers)) lines.push(`${name}: ${value}`);
  return rawExchange(h, lines.join('\r\n') + '\r\n\r\n');
}

/** A metav1.Status failure body as the API server writes it (key order included), written out independently of the code under test. */
export const failureStatus = (code: number, reason: string, message: string, details?: object): object =>
  details ? { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, details, code } : { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code };

export const json = (response: ParsedResponse): Record<string, unknown> => JSON.parse(response.body.toString('utf8')) as Record<string, unknown>;

/** A POST of a JSON body (the review APIs), with the harness's token or the given one. */
export function postJson(h: Harness, path: string, body: unknown, token = h.token, headers: string[] = []): Promise<ParsedResponse> {
  const text = JSON.stringify(body);
  const lines = [`POST ${path} HTTP/1.1`, 'Host: 127.0.0.1', 'Connection: close', `Authorization: Bearer ${token}`, 'Content-Type: application/json', `Content-Length: ${Buffer.byteLength(text)}`, ...headers];
  return rawExchange(h, lines.join('\r\n') + '\r\n\r\n' + text);
}

/** Who sends an upgrade and how: kubectl's POST with the harness's token unless told otherwise. */
export interface UpgradeAs {
  method?: 'GET' | 'POST';
  token?: string;
  /** More header lines, e.g. `Impersonate-User: alice`. */
  headers?: string[];
}

/** The lines of a SPDY upgrade request as kubectl 1.27 writes it (one header per version). */
export function spdyUpgradeRequest(
  h: Harness,
  path: string,
  versions: string[] = ['v4.channel.k8s.io', 'v3.channel.k8s.io', 'v2.channel.k8s.io', 'channel.k8s.io'],
  extra: string[] = [],
  as: UpgradeAs = {},
): string {
  return (
    [
      `${as.method ?? 'POST'} ${path} HTTP/1.1`,
      'Host: 127.0.0.1',
      `Authorization: Bearer ${as.token ?? h.token}`,
      'Content-Length: 0',
      'Connection: Upgrade',
      'Upgrade: SPDY/3.1',
      ...versions.map((v) => `X-Stream-Protocol-Version: ${v}`),
      ...extra,
      ...(as.headers ?? []),
    ].join('\r\n') + '\r\n\r\n'
  );
}

export interface SpdySession {
  response: ParsedResponse;
  connection: SpdyConnection;
  socket: net.Socket;
  /** Every frame the server sent after the 101, in order. */
  frames: SpdyFrame[];
  /** Resolves when the server's socket side is closed. */
  closed: Promise<void>;
}

/** Upgrades to SPDY and returns a client-role connection; rejects with the answer when not a 101. */
export async function dialSpdy(h: Harness, path: string, versions?: string[], as?: UpgradeAs): Promise<SpdySession> {
  const socket = await connectSocket(h);
  socket.write(spdyUpgradeRequest(h, path, versions, [], as));
  let buffered = Buffer.alloc(0);
  const head = await new Promise<Buffer>((resolve, reject) => {
    const onData = (chunk: Buffer): void => {
      buffered = Buffer.concat([buffered, chunk]);
      if (buffered.indexOf('\r\n\r\n') >= 0) {
        socket.off('data', onData);
        resolve(buffered);
      }
    };
    socket.on('data', onData);
    socket.once('close', () => reject(new Error(`closed before an answer: ${buffered.toString('latin1')}`)));
  });
  const end = head.indexOf('\r\n\r\n') + 4;
  const response = parseResponse(head.subarray(0, end));
  if (response.status !== 101) throw Object.assign(new Error(`not upgraded: ${response.status}`), { response });
  const rest = head.subarray(end);
  const frames: SpdyFrame[] = [];
  const spy = new SpdyFrameParser();
  const record = (chunk: Buffer): void => {
    for (const frame of spy.push(chunk)) frames.push(frame);
  };
  if (rest.length) record(rest);
  socket.on('data', record);
  const connection = new SpdyConnection(socket, { role: 'client' }, rest);
  const closed = new Promise<void>((resolve) => connection.once('close', () => resolve()));
  return { response, connection, socket, frames, closed };
}

/** Reads a stream to its end (data before a RST included). */
export function collect(stream: SpdyStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  stream.on('data', (chunk: Buffer) => chunks.push(chunk));
  return new Promise((resolve) => {
    stream.once('end', () => resolve(Buffer.concat(chunks)));
    stream.once('close', () => resolve(Buffer.concat(chunks)));
  });
}

/** Opens the streams of a remote command in kubectl's order: error first, then stdin, stdout, stderr, resize. */
export function openStreams(connection: SpdyConnection, types: string[]): Record<string, SpdyStream> {
  const streams: Record<string, SpdyStream> = {};
  for (const type of types) {
    const stream = connection.openStream({ streamtype: type });
    stream.on('error', () => undefined);
    streams[type] = stream;
  }
  return streams;
}

export function execPath(command: string[], query: Record<string, string> = {}, pod = 'demo', kind = 'exec'): string {
  const params = new URLSearchParams();
  for (const word of command) params.append('command', word);
  for (const [name, value] of Object.entries(query)) params.append(name, value);
  return `/api/v1/namespaces/default/pods/${pod}/${kind}?${params.toString()}`;
}

/** Polls once per event-loop turn (no timers) until the condition holds. */
export function until(condition: () => boolean): Promise<void> {
  return new Promise((resolve) => {
    const check = (): void => (condition() ? resolve() : void setImmediate(check));
    check();
  });
}

/** Whether a process still runs: a zombie (killed, not yet reaped by its parent or init) does not. */
export function isAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}
