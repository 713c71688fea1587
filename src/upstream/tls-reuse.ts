import { createSecureContext, type ConnectionOptions, type SecureContext, type TLSSocket } from 'node:tls';
import { tlsPolicyOptions } from '../net/tls-policy.js';
import type { TlsDialReuse, UpstreamTarget } from './target.js';

/** What a SecureContext and a TLS session were made for; two dials share them only when all of it is identical. */
interface Material {
  /** Where the session's server is, and the name its certificate was checked against. */
  hostname: string;
  port: string;
  serverName: string;
  verify: boolean;
  ca: string | Buffer | undefined;
  cert: string | Buffer | undefined;
  key: string | Buffer | undefined;
  minVersion: string;
  ciphers: string;
}

interface Entry extends Material {
  context: SecureContext;
  /** The newest session of a verified connection made with this entry, offered by the next dial. */
  session?: Buffer;
}

/** Credential sets kept per upstream: passthrough dials, the gateway's own credential, a rotated one in flight. */
const MAX_ENTRIES = 8;

/**
 * Shares the TLS work that does not depend on the connection between dials to one upstream:
 * the SecureContext (CA bundle, client certificate and key parsed, OpenSSL context set up — a
 * large part of a dial's CPU) is built once per credential set, and the last session is offered
 * for resumption (TLS 1.3 tickets or TLS 1.2 sessions), which skips the certificate exchange, its
 * signature and chain checks.
 *
 * Security: an entry is reused only when everything it was made from is identical — server
 * address, the name checked, verification on/off, CA bundle, client certificate and key, TLS
 * policy — so a rotated CA or credential (config reload replaces the strings) gets a new context
 * and a full handshake, and a session is never offered to another server name (Node skips the
 * host-name check on a resumed session, trusting the one made when the session was). A session is
 * kept only from a connection that passed verification, and dropped when a dial offering it fails.
 */
export class UpstreamTlsReuse implements TlsDialReuse {
  private readonly entries: Entry[] = [];

  /** The SecureContext and session for a dial to `target`; `track` is called with its socket. */
  dialOptions(target: UpstreamTarget): { options: ConnectionOptions; track(socket: TLSSocket): void } {
    const entry = this.entryFor(materialOf(target));
    const offered = entry.session;
    const options: ConnectionOptions = { secureContext: entry.context, ...(offered ? { session: offered } : {}) };
    const track = (socket: TLSSocket): void => {
      // Node holds a TLS 1.2 session back until the certificate has passed; checked here again, so
      // that a session of a connection that was not verified is never kept, whatever Node does.
      socket.on('session', (session: Buffer) => {
        if (socket.authorized || !entry.verify) entry.session = session;
      });
      socket.once('error', () => {
        if (offered && entry.session === offered) entry.session = undefined;
      });
    };
    return { options, track };
  }

  private entryFor(material: Material): Entry {
    const index = this.entries.findIndex((entry) => sameMaterial(entry, material));
    if (index >= 0) {
      const entry = this.entries[index]!;
      // Most recently used last: the oldest (a credential rotated away) is the one dropped.
      if (index !== this.entries.length - 1) this.entries.push(...this.entries.splice(index, 1));
      return entry;
    }
    const context = createSecureContext({
      minVersion: material.minVersion as ConnectionOptions['minVersion'],
      ciphers: material.ciphers,
      ...(material.ca !== undefined ? { ca: material.ca } : {}),
      ...(material.cert !== undefined && material.key !== undefined ? { cert: material.cert, key: material.key } : {}),
    });
    const entry: Entry = { ...material, context };
    this.entries.push(entry);
    if (this.entries.length > MAX_ENTRIES) this.entries.shift();
    return entry;
  }
}

function materialOf(target: UpstreamTarget): Material {
  const hostname = target.url.hostname.replace(/^\[|\]$/g, '');
  const { clientCert, clientKey } = target.credentials ?? {};
  const policy = tlsPolicyOptions(target.tlsPolicy);
  return {
    hostname,
    port: target.url.port,
    serverName: target.serverName ?? hostname,
    verify: !target.insecureSkipTlsVerify,
    ca: target.ca,
    cert: clientCert && clientKey ? clientCert : undefined,
    key: clientCert && clientKey ? clientKey : undefined,
    minVersion: policy.minVersion,
    ciphers: policy.ciphers,
  };
}

/** Field by field; the PEM strings are usually the very same strings, so this is cheap. */
function sameMaterial(a: Material, b: Material): boolean {
  return (
    a.hostname === b.hostname &&
    a.port === b.port &&
    a.serverName === b.serverName &&
    a.verify === b.verify &&
    samePem(a.ca, b.ca) &&
    samePem(a.cert, b.cert) &&
    samePem(a.key, b.key) &&
    a.minVersion === b.minVersion &&
    a.ciphers === b.ciphers
  );
}

function samePem(a: string | Buffer | undefined, b: string | Buffer | undefined): boolean {
  if (a === b) return true;
  if (a === undefined || b === undefined) return false;
  if (typeof a === 'string' && typeof b === 'string') return false;
  return Buffer.from(a).equals(Buffer.from(b));
}
