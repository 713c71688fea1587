/**
 * Splits a request target into path and query without `new URL`, which throws on targets such as
 * `//` (read as a protocol-relative URL with no host): a request line is client input and must never
 * raise out of a router.
 */
export function splitRequestTarget(target: string): { pathname: string; query: URLSearchParams } {
  const mark = target.indexOf('?');
  return mark < 0
    ? { pathname: target, query: new URLSearchParams() }
    : { pathname: target.slice(0, mark), query: new URLSearchParams(target.slice(mark + 1)) };
}

/** A request target the gateway refuses (answered 400): the message says which rule it broke. */
export class RequestTargetError extends Error {
  override name = 'RequestTargetError';
}

/** An origin-form request target read the way Go's net/http reads it, once it passed `parseRequestTarget`. */
export interface RequestTarget {
  /** The path as sent, percent-escapes intact: what goes upstream. */
  rawPath: string;
  /** `?` and the raw query as sent, or '' when there is none. */
  search: string;
  /** Go's `URL.Path`: `url.PathUnescape(rawPath)`. */
  path: string;
  /** The decoded path segments as Kubernetes splits them (`strings.Split(strings.Trim(path, "/"), "/")`). */
  segments: string[];
  query: URLSearchParams;
}

const SCHEME_OR_AUTHORITY = 'only origin-form request targets (a path starting with "/") are accepted';
/** Anything outside printable ASCII: Node refuses most of it on the request line already; this is the backstop. */
const RAW_FORBIDDEN = /[^\x21-\x7e]/;
const CONTROL = /[\x00-\x1f\x7f]/;
const HEX_PAIR = /^[0-9a-fA-F]{2}$/;
const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Reads a request target as the upstream (Go's `url.ParseRequestURI`, then kube-apiserver's
 * RequestInfo) will, and refuses every target where the gateway's reading and Go's could differ, so
 * routing, authorization and audit decide on the path the upstream acts on:
 *
 * - absolute-form (`http://x/api/...`: Go serves its path) and authority-form / `*`: not origin-form;
 * - `#`, control characters, non-ASCII: Go keeps `#` in the path, and no client sends the others;
 * - an invalid percent-escape (Go answers 400), an escape that decodes to invalid UTF-8 or a control character;
 * - `%2F` (Go decodes it into a separator: `demo%2Fexec` is two segments upstream, one here otherwise);
 * - `.` and `..` segments in any encoding (`%2e`, `.%2E`), and repeated slashes (an empty segment shifts
 *   every later one in RequestInfo, and path-cleaning servers and proxies remove them).
 *
 * What passes is decoded exactly as Go's `url.PathUnescape` does, so `/pods/demo/%65xec` is exec.
 */
export function parseRequestTarget(target: string): RequestTarget {
  if (!target.startsWith('/')) throw new RequestTargetError(SCHEME_OR_AUTHORITY);
  if (target.includes('#')) throw new RequestTargetError('the request target must not contain "#"');
  if (RAW_FORBIDDEN.test(target)) throw new RequestTargetError('the request target must be printable ASCII');
  const mark = target.indexOf('?');
  const rawPath = mark < 0 ? target : target.slice(0, mark);
  const search = mark < 0 ? '' : target.slice(mark);
  if (rawPath.includes('//')) throw new RequestTargetError('the request path must not contain repeated slashes ("//")');
  const decoded = rawPath.split('/').map(pathUnescape);
  for (const segment of decoded) {
    if (segment.includes('/')) throw new RequestTargetError('the request path must not contain an encoded slash ("%2F")');
    if (segment === '.' || segment === '..') throw new RequestTargetError('the request path must not contain "." or ".." segments');
    if (CONTROL.test(segment)) throw new RequestTargetError('the request path must not contain encoded control characters');
  }
  return {
    rawPath,
    search,
    path: decoded.join('/'),
    // No "//" is left, so the only empty segments are the leading one and a trailing slash's.
    segments: decoded.filter((segment) => segment !== ''),
    query: new URLSearchParams(search.slice(1)),
  };
}

/** The parsed target, or undefined for one `parseRequestTarget` refuses (the gateway's router answers those 400). */
export function tryParseRequestTarget(target: string): RequestTarget | undefined {
  try {
    return parseRequestTarget(target);
  } catch (error) {
    if (error instanceof RequestTargetError) return undefined;
    throw error;
  }
}

/** Go's `url.PathUnescape` of one segment: `%XX` becomes that byte; the bytes must be UTF-8 to be named here. */
function pathUnescape(segment: string): string {
  if (!segment.includes('%')) return segment;
  const bytes: number[] = [];
  for (let i = 0; i < segment.length; ) {
    if (segment[i] === '%') {
      const hex = segment.slice(i + 1, i + 3);
      if (!HEX_PAIR.test(hex)) throw new RequestTargetError(`invalid URL escape ${JSON.stringify(segment.slice(i, i + 3))}`);
      bytes.push(parseInt(hex, 16));
      i += 3;
    } else {
      bytes.push(segment.charCodeAt(i));
      i += 1;
    }
  }
  try {
    return utf8.decode(Uint8Array.from(bytes));
  } catch {
    throw new RequestTargetError('the request path must decode to UTF-8');
  }
}
