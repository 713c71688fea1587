/**
 * Client certificates of the gateway's mTLS listener, as kube-apiserver's x509 authenticator:
 * the chain must verify against the client CA bundle (Node's `authorized`), the certificate must be
 * in date and usable for client authentication (no EKU extension, or clientAuth / anyExtendedKeyUsage
 * among its EKUs); user = subject CN, groups = every subject O.
 *
 *   createClientCertificateAuthenticator({ now? }) → Authenticator
 */
import type { Authenticator, AuthenticationResult, Credentials } from './identity.js';

const CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';
const ANY_EXTENDED_KEY_USAGE = '2.5.29.37.0';

/** OpenSSL's codes for the failures callers meet most, said in words. */
const VERIFY_ERRORS: Record<string, string> = {
  CERT_HAS_EXPIRED: 'the certificate has expired',
  CERT_NOT_YET_VALID: 'the certificate is not yet valid',
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: 'the certificate is not signed by a trusted client CA',
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: 'the certificate is not signed by a trusted client CA',
  DEPTH_ZERO_SELF_SIGNED_CERT: 'the certificate is self-signed and not a trusted client CA',
  SELF_SIGNED_CERT_IN_CHAIN: 'the certificate chain ends at an untrusted self-signed CA',
  CERT_SIGNATURE_FAILURE: 'the certificate signature is invalid',
};

export interface ClientCertificateOptions {
  now?: () => number;
}

export function createClientCertificateAuthenticator(options: ClientCertificateOptions = {}): Authenticator {
  const now = options.now ?? Date.now;
  return {
    name: 'client-certificate',
    async authenticate(credentials: Credentials): Promise<AuthenticationResult> {
      const cert = credentials.clientCertificate;
      if (!cert) return { outcome: 'no-credential' };
      if (!cert.authorized) {
        const code = cert.authorizationError ?? 'unverified';
        return { outcome: 'rejected', reason: `client certificate: ${VERIFY_ERRORS[code] ?? 'verification failed'} (${code})` };
      }
      // Node checked the dates at the handshake; a long-lived connection can outlive the certificate.
      const time = now();
      if (time > cert.validTo.getTime()) return { outcome: 'rejected', reason: 'client certificate: the certificate has expired (CERT_HAS_EXPIRED)' };
      if (time < cert.validFrom.getTime()) return { outcome: 'rejected', reason: 'client certificate: the certificate is not yet valid (CERT_NOT_YET_VALID)' };
      if (cert.extendedKeyUsage && !cert.extendedKeyUsage.some((oid) => oid === CLIENT_AUTH || oid === ANY_EXTENDED_KEY_USAGE)) {
        return { outcome: 'rejected', reason: 'client certificate: not valid for client authentication (extended key usage)' };
      }
      if (!cert.commonName) return { outcome: 'rejected', reason: 'client certificate: the subject has no common name' };
      return { outcome: 'authenticated', user: { name: cert.commonName, groups: [...cert.organizations], extra: {} }, by: 'client-certificate' };
    },
  };
}
