import type { IncomingMessage } from 'node:http';
import { splitRequestTarget } from '../codecs/k8s/request-url.js';
import { ApiError, badRequest, methodNotAllowed, podNotFound, type DemoContainer, type DemoPod } from './api-objects.js';
import type { RawAnswer } from './http-replies.js';
import { headerValues, negotiateSpdyUpgrade, REMOTE_COMMAND_SPDY_PROTOCOLS } from './spdy-handshake.js';
import type { StreamOptions } from './remote-command.js';
import { decodeSegment } from './path-segments.js';
import { negotiateSubprotocol, parseSubprotocolHeader, REMOTE_COMMAND_PROTOCOLS, type ChannelProtocol } from '../codecs/channels/protocols.js';
import { isWebSocketUpgrade, SPDY_REFUSED, webSocketHandshakeProblem, type StreamingMode } from './websocket-upgrade.js';

const PATH = /^\/api\/v1\/namespaces\/([^/]+)\/pods\/([^/]+)\/(exec|attach)\/?$/;

export interface RemoteCommandTarget {
  kind: 'exec' | 'attach';
  pod: DemoPod;
  container: DemoContainer;
  /** exec: the `command` parameters, in order (argv). */
  command: string[];
  streams: StreamOptions;
}

export type RemoteCommandDecision =
  | { kind: 'not-mine' }
  /** An API-server error (JSON Status). */
  | { kind: 'error'; error: ApiError }
  /** A kubelet answer relayed by the API server's proxy, as the kubelet wrote it. */
  | { kind: 'raw'; answer: RawAnswer }
  | { kind: 'upgrade'; protocol: string; target: RemoteCommandTarget }
  /** `--streaming websocket|both`: a WebSocket upgrade served over channels. */
  | { kind: 'websocket'; protocol: ChannelProtocol; target: RemoteCommandTarget };

/**
 * What a 1.28 API server + kubelet make of an exec/attach request, in their order:
 *
 * 1. API server (pod subresource REST, `streamLocation`): only GET and POST connect; the pod must
 *    exist (404); a named container must be in the pod (400 "container x is not valid for pod y").
 *    Deviation: with no `container` parameter a real server answers 400 "a container name must be
 *    specified for pod demo, choose one of: [shell echo web]"; this stand-in takes the
 *    `kubectl.kubernetes.io/default-container` annotation instead, as kubectl itself does.
 * 2. API server (UpgradeAwareHandler, upgrade required): `Connection` without "upgrade" → 400
 *    "Upgrade request required".
 * 3. Kubelet `NewOptions`: tty drops stderr; none of stdin/stdout/stderr → 400, plain text.
 * 4. Kubelet `createStreams`: a WebSocket upgrade is refused with an empty 403 — this stand-in is a
 *    SPDY-only cluster, and the answer is what kubectl 1.33's v5-only request gets from a 1.28 node
 *    (a real kubelet would accept the v4/v1 channel protocols over WebSocket).
 * 5. SPDY handshake (spdy-handshake.ts).
 *
 * With `--streaming websocket` or `both` (websocket-upgrade.ts), step 4 serves WebSocket instead
 * (every channel protocol the API server and kubelet speak, the client's first supported one; none:
 * 403 as wsstream), and `websocket` refuses SPDY in step 5 with SPDY_REFUSED's 400.
 *
 * An empty command is not refused: like containerd, the request is upgraded and runc's
 * "args must not be empty" comes back on the error stream.
 */
export function decideRemoteCommand(req: IncomingMessage, findPod: (namespace: string, name: string) => DemoPod | undefined, streaming: StreamingMode = 'spdy'): RemoteCommandDecision {
  const url = splitRequestTarget(req.url ?? '/');
  const match = PATH.exec(url.pathname);
  if (!match) return { kind: 'not-mine' };
  if (req.method !== 'GET' && req.method !== 'POST') return { kind: 'error', error: methodNotAllowed() };
  const pod = findPod(decodeSegment(match[1]!), decodeSegment(match[2]!));
  if (!pod) return { kind: 'error', error: podNotFound(decodeSegment(match[2]!)) };
  const query = url.query;
  const requested = query.get('container') ?? '';
  const containerName = requested || (pod.containers.length === 1 ? pod.containers[0]!.name : pod.defaultContainer);
  const container = pod.containers.find((c) => c.name === containerName);
  if (!container) return { kind: 'error', error: badRequest(`container ${containerName} is not valid for pod ${pod.name}`) };

  const connectionHeaders = headerValues(req, 'connection');
  if (!connectionHeaders.some((value) => value.toLowerCase().includes('upgrade'))) {
    return { kind: 'error', error: badRequest('Upgrade request required') };
  }

  const tty = queryBool(query, 'tty');
  const streams: StreamOptions = {
    stdin: queryBool(query, 'stdin'),
    stdout: queryBool(query, 'stdout'),
    // kubelet NewOptions: "Access to exec with tty and stderr is not supported, bypassing stderr".
    stderr: queryBool(query, 'stderr') && !tty,
    tty,
  };
  if (!streams.stdin && !streams.stdout && !streams.stderr) {
    // restful's WriteError: the bare error text, no newline; Go sniffs it as text/plain.
    return { kind: 'raw', answer: { code: 400, headers: ['Content-Type: text/plain; charset=utf-8'], body: Buffer.from('you must specify at least 1 of stdin, stdout, stderr') } };
  }

  const kind = match[3] as 'exec' | 'attach';
  const target: RemoteCommandTarget = { kind, pod, container, command: kind === 'exec' ? query.getAll('command') : [], streams };
  if (isWebSocketUpgrade(req)) {
    if (streaming === 'spdy') return { kind: 'raw', answer: { code: 403, headers: [], body: Buffer.alloc(0) } };
    const problem = webSocketHandshakeProblem(req);
    if (problem) return { kind: 'error', error: badRequest(problem) };
    const offered = parseSubprotocolHeader(req.headers['sec-websocket-protocol']);
    const protocol = negotiateSubprotocol(offered, REMOTE_COMMAND_PROTOCOLS);
    if (!protocol) {
      const body = `requested protocol(s) are not supported: [${offered.join(' ')}]; supports [${REMOTE_COMMAND_PROTOCOLS.map((p) => p.name).join(' ')}]\n`;
      return { kind: 'raw', answer: { code: 403, headers: ['Content-Type: text/plain; charset=utf-8'], body: Buffer.from(body) } };
    }
    return { kind: 'websocket', protocol, target };
  }
  if (streaming === 'websocket') return { kind: 'error', error: SPDY_REFUSED };

  const handshake = negotiateSpdyUpgrade(req, REMOTE_COMMAND_SPDY_PROTOCOLS);
  if (!handshake.ok) {
    const contentType = handshake.body ? ['Content-Type: text/plain; charset=utf-8'] : [];
    return { kind: 'raw', answer: { code: handshake.status, headers: [...contentType, ...handshake.headers], body: Buffer.from(handshake.body) } };
  }
  return { kind: 'upgrade', protocol: handshake.protocol, target };
}

/**
 * The API server's conversion of a query parameter to bool (apimachinery runtime
 * Convert_Slice_string_To_bool): absent, "0" or "false" (any case) are false; anything else —
 * "1", "true", even an empty value — is true.
 */
function queryBool(query: URLSearchParams, name: string): boolean {
  const value = query.get(name);
  if (value === null) return false;
  return value !== '0' && value.toLowerCase() !== 'false';
}

