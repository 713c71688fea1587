// Test-only PKI: a client CA that can mint client certificates with any subject and validity.
import { webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';
// Importing the gateway's CA module installs the crypto provider and Reflect metadata @peculiar/x509 needs.
import '../../../src/net/certificate-authority.js';

const ALGORITHM = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
const HOUR = 3600 * 1000;

interface ClientCertificateRequest {
  commonName?: string;
  organizations?: string[];
  notBefore?: Date;
  notAfter?: Date;
  extendedKeyUsages?: string[];
}

export interface TestClientCa {
  caCertPem: string;
  issueClientCertificate(request: ClientCertificateRequest): Promise<{ certPem: string; keyPem: string }>;
}

export async function createTestClientCa(commonName: string): Promise<TestClientCa> {
  const keys = await webcrypto.subtle.generateKey(ALGORITHM, true, ['sign', 'verify']);
  const caCert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: '01',
    name: `CN=${commonName}`,
    notBefore: new Date(Date.now() - 48 * HOUR),
    notAfter: new Date(Date.now() + 48 * HOUR),
    keys,
    signingAlgorithm: ALGORITHM,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.digitalSignature, true),
    ],
  });
  let serial = 2;
  return {
    caCertPem: caCert.toString('pem'),
    async issueClientCertificate(request) {
      const leafKeys = await webcrypto.subtle.generateKey(ALGORITHM, true, ['sign', 'verify']);
      const names = [];
      if (request.commonName !== undefined) names.push({ CN: [request.commonName] });
      for (const o of request.organizations ?? []) names.push({ O: [o] });
      const cert = await x509.X509CertificateGenerator.create({
        serialNumber: (serial++).toString(16).padStart(2, '0'),
        subject: new x509.Name(names.length ? names : [{ OU: ['nobody'] }]),
        issuer: caCert.subject,
        notBefore: request.notBefore ?? new Date(Date.now() - HOUR),
        notAfter: request.notAfter ?? new Date(Date.now() + HOUR),
        signingKey: keys.privateKey,
        publicKey: leafKeys.publicKey,
        signingAlgorithm: ALGORITHM,
        extensions: [
          new x509.BasicConstraintsExtension(false, undefined, true),
          new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
          new x509.ExtendedKeyUsageExtension(request.extendedKeyUsages ?? [x509.ExtendedKeyUsage.clientAuth]),
        ],
      });
      const pkcs8 = await webcrypto.subtle.exportKey('pkcs8', leafKeys.privateKey);
      return { certPem: cert.toString('pem'), keyPem: x509.PemConverter.encode(pkcs8, 'PRIVATE KEY') };
    },
  };
}
