/**
 * Checks on PEM material before anything listens or dials: a certificate that does not parse, or a
 * key that does not belong to it, is a configuration error at start, not a TLS failure on the
 * first connection. Node's own TLS code (createSecureContext) does the checking.
 */
import { readFile } from 'node:fs/promises';
import { createSecureContext } from 'node:tls';
import type { ServerTls } from '../net/running-server.js';
import { ConfigError, describeFsError } from './errors.js';

/** Why `cert` and `key` cannot serve TLS together, or undefined when they can. */
export function certificateAndKeyProblem(cert: string, key: string): string | undefined {
  try {
    createSecureContext({ cert, key });
    return undefined;
  } catch (error) {
    return openSslReason(error);
  }
}

/** Why `ca` is not a usable PEM CA bundle, or undefined when it is. */
export function caBundleProblem(ca: string): string | undefined {
  if (!ca.includes('-----BEGIN CERTIFICATE-----')) return 'holds no PEM certificate';
  try {
    createSecureContext({ ca });
    return undefined;
  } catch (error) {
    return `not a usable PEM CA bundle (${openSslReason(error)})`;
  }
}

/** Reads a server certificate and key (PEM) and checks that they are usable and belong together. */
export async function loadServerTls(certPath: string, keyPath: string, certLabel = '--tls-cert', keyLabel = '--tls-key'): Promise<ServerTls> {
  const read = async (path: string, label: string): Promise<string> => {
    try {
      return await readFile(path, 'utf8');
    } catch (error) {
      throw new ConfigError(`${label}: cannot read ${path}: ${describeFsError(error)}`);
    }
  };
  const tls = { cert: await read(certPath, certLabel), key: await read(keyPath, keyLabel) };
  const problem = certificateAndKeyProblem(tls.cert, tls.key);
  if (problem) throw new ConfigError(`${certLabel} and ${keyLabel}: not a usable PEM certificate and matching key (${problem})`);
  return tls;
}

/** OpenSSL's words without its error-code prefix: `error:0480006C:PEM routines::no start line` → `no start line`. */
function openSslReason(error: unknown): string {
  const message = (error as Error).message;
  return message.replace(/^error:[0-9A-F]+:[^:]*:[^:]*:/, '') || message;
}
