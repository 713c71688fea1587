/**
 * Which TLS versions and TLS 1.2 cipher suites the gateway speaks, on its listener and toward
 * upstreams. The default keeps TLS 1.2 to forward-secret (ECDHE) AEAD suites only: no static-RSA
 * key exchange, no CBC. TLS 1.3 suites are all AEAD and forward-secret, and are left as OpenSSL has them.
 */
export const TLS_VERSIONS = ['TLSv1.2', 'TLSv1.3'] as const;
export type TlsVersion = (typeof TLS_VERSIONS)[number];

export const DEFAULT_TLS_MIN_VERSION: TlsVersion = 'TLSv1.2';
export const DEFAULT_TLS_CIPHER_SUITES: readonly string[] = [
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-CHACHA20-POLY1305',
];

export interface TlsPolicy {
  minVersion: TlsVersion;
  /** OpenSSL names of the TLS 1.2 suites (TLS 1.3 names, `TLS_…`, are allowed too). */
  cipherSuites: readonly string[];
}

export const DEFAULT_TLS_POLICY: TlsPolicy = { minVersion: DEFAULT_TLS_MIN_VERSION, cipherSuites: DEFAULT_TLS_CIPHER_SUITES };

/** The cipher list of each policy, joined once: every upstream dial reads it, and a string joined per dial stayed with its connection. */
const joinedCiphers = new WeakMap<readonly string[], string>();

/** The node:tls options for a policy (server or client side). */
export function tlsPolicyOptions(policy: TlsPolicy = DEFAULT_TLS_POLICY): { minVersion: TlsVersion; ciphers: string } {
  let ciphers = joinedCiphers.get(policy.cipherSuites);
  if (ciphers === undefined) {
    ciphers = policy.cipherSuites.join(':');
    joinedCiphers.set(policy.cipherSuites, ciphers);
  }
  return { minVersion: policy.minVersion, ciphers };
}
