/**
 * Cross-site WebSocket hijacking guard for upgrades. A browser sends Origin on every WebSocket
 * handshake and carries the user's cookies/certificates, so a page from another site must not be
 * able to open an exec session. Non-browser clients (kubectl, client libraries) send no Origin.
 *
 *   checkOrigin({ origin, host, allowedOrigins }) → { allowed, reason }
 *
 * No Origin → allowed. Same origin → allowed: scheme, host and port all equal the gateway's own
 * origin, `scheme://Host` (the scheme the client connected with: https on the TLS listener, or what
 * a trusted TLS-terminating proxy says in X-Forwarded-Proto; a port left out is the scheme's
 * default, 443 or 80). An `http://` page is not the `https://` gateway: it could be anyone on the
 * path. Otherwise the Origin must equal one of allowedOrigins, compared as serialized origins
 * (`scheme://host[:port]`, case-insensitive scheme and host, default port dropped). The opaque
 * origin `null` is only allowed when listed literally.
 */
export interface OriginCheck {
  origin: string | undefined;
  host: string | undefined;
  /** The scheme the client reached the gateway with. */
  scheme: 'http' | 'https';
  allowedOrigins: string[];
}

export function checkOrigin(check: OriginCheck): { allowed: boolean; reason: string } {
  if (check.origin === undefined) return { allowed: true, reason: 'no Origin header' };
  const origin = check.origin.trim();
  if (origin === 'null') {
    return check.allowedOrigins.includes('null') ? { allowed: true, reason: 'origin listed' } : { allowed: false, reason: 'origin "null" is not allowed' };
  }
  const parsed = serializedOrigin(origin);
  if (parsed === undefined) return { allowed: false, reason: `malformed Origin header` };
  if (check.host !== undefined) {
    const own = serializedOrigin(`${check.scheme}://${check.host.trim()}`);
    if (own !== undefined && own === parsed) return { allowed: true, reason: 'same origin' };
  }
  if (check.allowedOrigins.some((allowed) => serializedOrigin(allowed) === parsed)) return { allowed: true, reason: 'origin listed' };
  return { allowed: false, reason: `origin ${parsed} is not allowed` };
}

/** scheme://host[:port] as the URL standard serializes an origin; undefined when it is not one. */
function serializedOrigin(text: string): string | undefined {
  try {
    const url = new URL(text);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') return undefined;
    if (url.username || url.password || (url.pathname !== '/' && url.pathname !== '') || url.search || url.hash) return undefined;
    return url.origin;
  } catch {
    return undefined;
  }
}
