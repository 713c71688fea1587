import { tryParseRequestTarget } from './request-url.js';

/** A port-forward request read from an API-server or kubelet URL. */
export interface PortForwardRequest {
  namespace: string;
  pod: string;
  /**
   * From `?ports=` on the API server's path, `?port=` on the kubelet's (the API server rewrites one
   * into the other); used by the WebSocket channel protocol only, SPDY names ports per stream.
   */
  ports: number[];
}

const API_PATH = /^\/api\/v1\/namespaces\/([^/]+)\/pods\/([^/]+)\/portforward\/?$/;
/** The kubelet serves `/portForward/{ns}/{pod}` and `/portForward/{ns}/{pod}/{uid}`. */
const KUBELET_PATH = /^\/portForward\/([^/]+)\/([^/]+)(?:\/[^/]+)?\/?$/;

export class PortForwardRequestError extends Error {
  override name = 'PortForwardRequestError';
}

/**
 * The pod a port-forward URL addresses, or undefined when the URL is not a port-forward path (or is
 * a target the gateway refuses). Matched on the path as Go decodes it, as exec/attach are.
 */
export function portForwardTarget(url: string): { namespace: string; pod: string } | undefined {
  const path = tryParseRequestTarget(url)?.path;
  const match = path === undefined ? null : (API_PATH.exec(path) ?? KUBELET_PATH.exec(path));
  return match ? { namespace: match[1]!, pod: match[2]! } : undefined;
}

/** Undefined when the URL is not a port-forward path; throws PortForwardRequestError for bad `ports`. */
export function parsePortForwardRequest(url: string): PortForwardRequest | undefined {
  const pod = portForwardTarget(url);
  if (!pod) return undefined;
  const { path, query } = tryParseRequestTarget(url)!;
  const parameter = API_PATH.test(path) ? 'ports' : 'port';
  return { ...pod, ports: parsePorts(query.getAll(parameter)) };
}

/**
 * `ports` may repeat and each value may hold a comma-separated list (kubelet portforward
 * websocket.go); every entry must be a port number 1–65535.
 * @internal Exported for its unit tests (byte vectors, seams); the product does not import it.
 */
export function parsePorts(values: string[]): number[] {
  const ports: number[] = [];
  for (const entry of values.flatMap((value) => value.split(','))) {
    const text = entry.trim();
    const port = /^\d{1,5}$/.test(text) ? Number(text) : NaN;
    if (!(port >= 1 && port <= 65535)) throw new PortForwardRequestError(`invalid port "${text}": must be a number from 1 to 65535`);
    ports.push(port);
  }
  return ports;
}
