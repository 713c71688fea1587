import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/** The one header a replica's request to another carries: `v1.<claims, base64url JSON>.<HMAC-SHA256, base64url>`. */
export const PEER_HEADER = 'x-kube-stream-gateway-peer';
/** How far a request's time may be from the receiver's clock, either way; a nonce is remembered this long past it. */
const WINDOW_MS = 30_000;
/** Nonces remembered at most: past it requests are refused (bounded memory) until old ones expire. */
const MAX_NONCES = 50_000;
/** Larger claims are not sent: an identity with that many groups is not forwarded. */
const MAX_CLAIMS_BYTES = 8 * 1024;
const DOMAIN = 'kube-stream-gateway peer v1\n';

/** Who acts, as the replica the user signed in on authenticated them, and which replica that was. */
export interface PeerCaller {
  user: string;
  groups: string[];
  via: string;
}

interface PeerClaims extends PeerCaller {
  method: string;
  path: string;
  /** Epoch milliseconds when signed. */
  time: number;
  nonce: string;
}

/** Why a peer request was refused; a closed set (metric label values). */
export type PeerRefusal = 'missing' | 'malformed' | 'signature' | 'mismatch' | 'stale' | 'replayed' | 'busy';

/** The header value for one request `method path` on behalf of `caller`; undefined when the identity is too large to carry. */
export function signPeerRequest(secret: Buffer, method: string, path: string, caller: PeerCaller, now = Date.now()): string | undefined {
  const claims: PeerClaims = { method, path, time: now, nonce: randomBytes(16).toString('base64url'), user: caller.user, groups: caller.groups, via: caller.via };
  const encoded = Buffer.from(JSON.stringify(claims)).toString('base64url');
  if (encoded.length > MAX_CLAIMS_BYTES) return undefined;
  return `v1.${encoded}.${mac(secret, encoded)}`;
}

function mac(secret: Buffer, encoded: string): string {
  return createHmac('sha256', secret).update(DOMAIN).update(encoded).digest('base64url');
}

/**
 * Checks the peer header of a request: the MAC over its claims with the shared secret, that the
 * claims name this very method and path, a time within the window, and a nonce not seen before
 * (replays within the window). Only then is the identity in the claims believed.
 */
export class PeerVerifier {
  /** Nonce → when it may be forgotten. */
  private readonly seen = new Map<string, number>();

  constructor(
    private readonly secret: Buffer,
    private readonly now: () => number = Date.now,
  ) {}

  verify(method: string, path: string, header: string | string[] | undefined): { caller: PeerCaller } | { refused: PeerRefusal } {
    if (header === undefined) return { refused: 'missing' };
    if (typeof header !== 'string') return { refused: 'malformed' };
    const parts = header.split('.');
    if (parts.length !== 3 || parts[0] !== 'v1' || parts[1]!.length > MAX_CLAIMS_BYTES) return { refused: 'malformed' };
    const expected = Buffer.from(mac(this.secret, parts[1]!));
    const given = Buffer.from(parts[2]!);
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return { refused: 'signature' };
    const claims = parseClaims(parts[1]!);
    if (!claims) return { refused: 'malformed' };
    if (claims.method !== method || claims.path !== path) return { refused: 'mismatch' };
    const at = this.now();
    if (Math.abs(at - claims.time) > WINDOW_MS) return { refused: 'stale' };
    this.forgetExpired(at);
    if (this.seen.has(claims.nonce)) return { refused: 'replayed' };
    if (this.seen.size >= MAX_NONCES) return { refused: 'busy' };
    this.seen.set(claims.nonce, claims.time + WINDOW_MS);
    return { caller: { user: claims.user, groups: claims.groups, via: claims.via } };
  }

  /** Oldest first, stopping at the first one still needed: a few out of order are only kept a little longer. */
  private forgetExpired(at: number): void {
    for (const [nonce, until] of this.seen) {
      if (until >= at) break;
      this.seen.delete(nonce);
    }
  }
}

function parseClaims(encoded: string): PeerClaims | undefined {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(encoded, 'base64url').toString());
  } catch {
    return undefined;
  }
  const claims = value as Partial<PeerClaims> | null;
  const strings = [claims?.method, claims?.path, claims?.nonce, claims?.user, claims?.via];
  if (!strings.every((item) => typeof item === 'string' && item.length > 0) || typeof claims?.time !== 'number') return undefined;
  if (!Array.isArray(claims.groups) || !claims.groups.every((group) => typeof group === 'string')) return undefined;
  return claims as PeerClaims;
}
