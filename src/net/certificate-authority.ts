// @peculiar/x509 resolves its ASN.1 services through tsyringe, which needs the Reflect metadata API.
import 'reflect-metadata';
import { webcrypto } from 'node:crypto';
import { isIP } from 'node:net';
import * as x509 from '@peculiar/x509';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

/** @internal Exported for its unit test; the product uses it only here. */
export interface IssuedCertificate {
  certPem: string;
  /** PKCS#8 PEM. */
  keyPem: string;
}

export interface CertificateAuthority {
  caCertPem: string;
  issueServerCertificate(hosts: string[]): Promise<IssuedCertificate>;
}

const ALGORITHM = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
const VALIDITY_MS = 7 * 24 * 3600 * 1000;
/** Clocks of client and server may differ a little; a certificate valid from "now" could look future-dated. */
const BACKDATE_MS = 5 * 60 * 1000;

/**
 * An ephemeral CA for the demo and the tests: kubectl sends bearer tokens only over TLS, and Go's
 * crypto/x509 insists on a proper CA (basicConstraints CA:true critical, keyUsage keyCertSign) and
 * leaf (keyUsage digitalSignature, EKU serverAuth, the host in the SANs). ECDSA P-256 keys; CA and
 * certificates valid for 7 days from 5 minutes ago (clock skew). Nothing is written to disk.
 */
export async function createCertificateAuthority(commonName = 'kube-stream-gateway demo CA'): Promise<CertificateAuthority> {
  const keys = await webcrypto.subtle.generateKey(ALGORITHM, true, ['sign', 'verify']);
  const notBefore = new Date(Date.now() - BACKDATE_MS);
  const notAfter = new Date(Date.now() + VALIDITY_MS);
  const caCert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerial(),
    name: `CN=${commonName}`,
    notBefore,
    notAfter,
    keys,
    signingAlgorithm: ALGORITHM,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign | x509.KeyUsageFlags.digitalSignature, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });

  return {
    caCertPem: caCert.toString('pem'),
    async issueServerCertificate(hosts: string[]): Promise<IssuedCertificate> {
      const names = subjectAltNames(hosts);
      const leafKeys = await webcrypto.subtle.generateKey(ALGORITHM, true, ['sign', 'verify']);
      const cert = await x509.X509CertificateGenerator.create({
        serialNumber: randomSerial(),
        subject: `CN=${names[0]!.value}`,
        issuer: caCert.subject,
        notBefore,
        notAfter,
        signingKey: keys.privateKey,
        publicKey: leafKeys.publicKey,
        signingAlgorithm: ALGORITHM,
        extensions: [
          new x509.BasicConstraintsExtension(false, undefined, true),
          // ECDSA keys sign the handshake; there is no key encipherment.
          new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
          new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
          new x509.SubjectAlternativeNameExtension(names),
          await x509.SubjectKeyIdentifierExtension.create(leafKeys.publicKey),
          await x509.AuthorityKeyIdentifierExtension.create(caCert),
        ],
      });
      const pkcs8 = await webcrypto.subtle.exportKey('pkcs8', leafKeys.privateKey);
      return { certPem: cert.toString('pem'), keyPem: x509.PemConverter.encode(pkcs8, 'PRIVATE KEY') };
    },
  };
}

/** IP addresses (`[::1]` too) become IP SANs, anything else a DNS SAN; duplicates are dropped. */
function subjectAltNames(hosts: string[]): Array<{ type: 'ip' | 'dns'; value: string }> {
  const seen = new Set<string>();
  const names: Array<{ type: 'ip' | 'dns'; value: string }> = [];
  for (const raw of hosts) {
    const host = raw.trim().replace(/^\[(.*)\]$/, '$1');
    if (!host) throw new Error('issueServerCertificate: empty host name');
    const name = isIP(host) ? { type: 'ip' as const, value: host } : { type: 'dns' as const, value: host.toLowerCase() };
    if (seen.has(`${name.type}:${name.value}`)) continue;
    seen.add(`${name.type}:${name.value}`);
    names.push(name);
  }
  if (names.length === 0) throw new Error('issueServerCertificate: at least one host name or address is needed');
  return names;
}

function randomSerial(): string {
  const bytes = webcrypto.getRandomValues(new Uint8Array(16));
  bytes[0]! &= 0x7f; // positive
  return Buffer.from(bytes).toString('hex');
}
