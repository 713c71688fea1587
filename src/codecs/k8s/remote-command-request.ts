import { tryParseRequestTarget } from './request-url.js';

/** What a client asked for, read from an exec/attach URL of the API server or of a kubelet. */
export interface RemoteCommandRequest {
  kind: 'exec' | 'attach';
  namespace: string;
  pod: string;
  container: string | undefined;
  command: string[];
  stdin: boolean;
  stdout: boolean;
  stderr: boolean;
  tty: boolean;
}

const API_PATH = /^\/api\/v1\/namespaces\/([^/]+)\/pods\/([^/]+)\/(exec|attach)\/?$/;
/** The kubelet serves `/exec/{ns}/{pod}/{container}` and `/exec/{ns}/{pod}/{uid}/{container}`. */
const KUBELET_PATH = /^\/(exec|attach)\/([^/]+)\/([^/]+)\/(?:[^/]+\/)?([^/]+)\/?$/;

/**
 * Reads an exec/attach request, or returns undefined when the path is not one (or is a target the
 * gateway refuses). The path is matched as Go decodes it (`%65xec` is exec; `parseRequestTarget`
 * refuses `%2F`, so decoding cannot move a segment). The API server takes `stdin=true`, the kubelet
 * `input=1` (PROTOCOLS.md §7); both spellings are read so either kind of upstream can be fronted.
 * The URL itself is passed upstream unchanged.
 */
export function parseRemoteCommandRequest(url: string): RemoteCommandRequest | undefined {
  const target = tryParseRequestTarget(url);
  if (!target) return undefined;
  const { path, query } = target;
  const api = API_PATH.exec(path);
  if (api) {
    return {
      kind: api[3] as 'exec' | 'attach',
      namespace: api[1]!,
      pod: api[2]!,
      container: query.get('container') ?? undefined,
      ...streamsFrom(query),
    };
  }
  const kubelet = KUBELET_PATH.exec(path);
  if (kubelet) {
    return {
      kind: kubelet[1] as 'exec' | 'attach',
      namespace: kubelet[2]!,
      pod: kubelet[3]!,
      container: kubelet[4]!,
      ...streamsFrom(query),
    };
  }
  return undefined;
}

function streamsFrom(query: URLSearchParams): Pick<RemoteCommandRequest, 'command' | 'stdin' | 'stdout' | 'stderr' | 'tty'> {
  const tty = flag(query, 'tty');
  return {
    command: query.getAll('command'),
    stdin: flag(query, 'stdin', 'input'),
    stdout: flag(query, 'stdout', 'output'),
    // A terminal merges stderr into stdout: Kubernetes opens no stderr stream with tty.
    stderr: !tty && flag(query, 'stderr', 'error'),
    tty,
  };
}

/** Go's strconv.ParseBool, which both the API server and the kubelet use for these parameters. */
function flag(query: URLSearchParams, ...names: string[]): boolean {
  return names.some((name) => ['1', 't', 'T', 'true', 'TRUE', 'True'].includes(query.get(name) ?? ''));
}
