// OIDC ID tokens against a local HTTPS issuer (discovery + JWKS on 127.0.0.1), keys made with jose.
import t from 'tap';
import https from 'node:https';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { SignJWT, exportJWK, generateKeyPair, type JWK, type JWTPayload, type CryptoKey } from 'jose';
import { createCertificateAuthority } from '../../../src/net/certificate-authority.js';
import { createOidcAuthenticator, effectiveUsernamePrefix, type OidcOptions } from '../../../src/auth/oidc.js';

interface SigningKey {
  kid: string;
  privateKey: CryptoKey;
  jwk: JWK;
  alg: string;
}

async function signingKey(kid: string, alg = 'RS256'): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  return { kid, privateKey, alg, jwk: { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' } };
}

const ca = await createCertificateAuthority('test issuer CA');
const serverCert = await ca.issueServerCertificate(['127.0.0.1']);
let published: SigningKey[] = [];
let jwksRequests = 0;
let discoveryStatus = 200;
let discoveryIssuer: string | undefined;
const server = https.createServer({ cert: serverCert.certPem, key: serverCert.keyPem }, (req, res) => {
  if (req.url === '/.well-known/openid-configuration') {
    res.statusCode = discoveryStatus;
    res.end(JSON.stringify({ issuer: discoveryIssuer ?? issuer, jwks_uri: `${issuer}/keys` }));
  } else if (req.url === '/keys') {
    jwksRequests++;
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ keys: published.map((k) => k.jwk) }));
  } else {
    res.statusCode = 404;
    res.end();
  }
});
server.listen(0, '127.0.0.1');
await once(server, 'listening');
const issuer = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
t.teardown(() => {
  server.closeAllConnections();
  server.close();
});

const keyA = await signingKey('key-a');
const keyB = await signingKey('key-b');
const keyEs = await signingKey('key-es', 'ES256');
const strangerKey = await signingKey('key-a'); // same kid, different key: a forged signature
published = [keyA, keyEs];

const now = (): number => Math.floor(Date.now() / 1000);

async function token(claims: JWTPayload, key: SigningKey = keyA, header: Record<string, unknown> = {}): Promise<string> {
  return new SignJWT({ iss: issuer, aud: 'kubernetes', sub: 'user-1', iat: now(), exp: now() + 600, ...claims })
    .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'JWT', ...header })
    .sign(key.privateKey);
}

function authenticator(options: Partial<OidcOptions> = {}) {
  return createOidcAuthenticator({ issuerURL: issuer, audiences: ['kubernetes'], caPem: ca.caCertPem, clockSkewSeconds: 0, ...options });
}

t.test('a valid token: username with the default issuer# prefix, groups with a prefix', async (t) => {
  const auth = authenticator({ groupsClaim: 'groups', groupsPrefix: 'oidc:' });
  t.same(await auth.authenticate({ bearerToken: await token({ groups: ['devs', 'ops'] }) }), {
    outcome: 'authenticated',
    user: { name: `${issuer}#user-1`, groups: ['oidc:devs', 'oidc:ops'], extra: {} },
    by: 'oidc',
  });
  t.same(await auth.authenticate({}), { outcome: 'no-credential' });
});

t.test('rejections, each with its reason', async (t) => {
  const auth = authenticator({ signingAlgorithms: ['RS256'] });
  const cases: Array<[string, Promise<string>, string]> = [
    ['expired', token({ exp: now() - 10 }), 'oidc: token expired'],
    ['not yet valid', token({ nbf: now() + 300 }), 'oidc: token not yet valid'],
    ['wrong audience', token({ aud: 'someone-else' }), 'oidc: audience not accepted'],
    ['no expiry', token({ exp: undefined }), 'oidc: token has no expiry'],
    ['bad signature', token({}, strangerKey), 'oidc: bad signature'],
    ['unknown kid', token({}, keyB), 'oidc: no key in the issuer JWKS matches the token (unknown kid)'],
    ['algorithm not allowed', token({}, keyEs), 'oidc: signing algorithm not allowed'],
    ['wrong issuer', token({ iss: 'https://issuer.example.com' }), 'oidc: token issuer "https://issuer.example.com" is not ' + issuer],
  ];
  for (const [what, pending, reason] of cases) {
    t.same(await auth.authenticate({ bearerToken: await pending }), { outcome: 'rejected', reason }, what);
  }
  t.same(await auth.authenticate({ bearerToken: 'opaque-token' }), { outcome: 'rejected', reason: 'oidc: the token is not a JWT' });
  const unsigned = [
    Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url'),
    Buffer.from(JSON.stringify({ iss: issuer, aud: 'kubernetes', sub: 'admin', exp: now() + 600 })).toString('base64url'),
    '',
  ].join('.');
  t.same(await auth.authenticate({ bearerToken: unsigned }), { outcome: 'rejected', reason: 'oidc: signing algorithm not allowed' }, 'alg none');
  const tampered = (await token({ sub: 'alice' })).split('.');
  tampered[1] = Buffer.from(JSON.stringify({ iss: issuer, aud: 'kubernetes', sub: 'admin', exp: now() + 600 })).toString('base64url');
  t.same(await auth.authenticate({ bearerToken: tampered.join('.') }), { outcome: 'rejected', reason: 'oidc: bad signature' }, 'changed claims');
});

t.test('clock skew leeway applies to exp and nbf', async (t) => {
  const auth = authenticator({ clockSkewSeconds: 60 });
  t.match(await auth.authenticate({ bearerToken: await token({ exp: now() - 20 }) }), { outcome: 'authenticated' });
  t.match(await auth.authenticate({ bearerToken: await token({ nbf: now() + 20 }) }), { outcome: 'authenticated' });
  t.match(await auth.authenticate({ bearerToken: await token({ exp: now() - 120 }) }), { outcome: 'rejected', reason: 'oidc: token expired' });
});

t.test('ES256 when allowed, several audiences', async (t) => {
  const auth = authenticator({ signingAlgorithms: ['RS256', 'ES256'], audiences: ['other', 'kubernetes'] });
  t.match(await auth.authenticate({ bearerToken: await token({ aud: ['x', 'kubernetes'] }, keyEs) }), { outcome: 'authenticated' });
});

t.test('key rotation: an unknown kid refetches the JWKS, at most once per cooldown', async (t) => {
  published = [keyA, keyEs];
  const auth = authenticator({ jwksCooldownMs: 0 });
  t.match(await auth.authenticate({ bearerToken: await token({}) }), { outcome: 'authenticated' });
  const before = jwksRequests;
  published = [keyB]; // the issuer rotates: key-b in, key-a out
  t.match(await auth.authenticate({ bearerToken: await token({}, keyB) }), { outcome: 'authenticated' }, 'new key found by refetching');
  t.equal(jwksRequests, before + 1);
  t.match(await auth.authenticate({ bearerToken: await token({}) }), { outcome: 'rejected', reason: /unknown kid/ }, 'retired key no longer accepted');

  const slow = authenticator({ jwksCooldownMs: 60_000 });
  t.match(await slow.authenticate({ bearerToken: await token({}, keyB) }), { outcome: 'authenticated' });
  const counted = jwksRequests;
  for (let i = 0; i < 5; i++) {
    t.match(await slow.authenticate({ bearerToken: await token({}, keyA) }), { outcome: 'rejected', reason: /unknown kid/ });
  }
  t.equal(jwksRequests, counted, 'unknown kids within the cooldown cause no fetch');
  published = [keyA, keyEs];
});

t.test('username and groups claims as kube-apiserver maps them', async (t) => {
  t.equal(effectiveUsernamePrefix('https://i', 'sub', undefined), 'https://i#');
  t.equal(effectiveUsernamePrefix('https://i', 'sub', ''), 'https://i#');
  t.equal(effectiveUsernamePrefix('https://i', 'email', undefined), '');
  t.equal(effectiveUsernamePrefix('https://i', 'sub', '-'), '');
  t.equal(effectiveUsernamePrefix('https://i', 'email', 'oidc:'), 'oidc:');

  const byEmail = authenticator({ usernameClaim: 'email', groupsClaim: 'groups' });
  t.same(await byEmail.authenticate({ bearerToken: await token({ email: 'a@example.com', email_verified: true, groups: 'solo' }) }), {
    outcome: 'authenticated',
    user: { name: 'a@example.com', groups: ['solo'], extra: {} },
    by: 'oidc',
  });
  t.match(await byEmail.authenticate({ bearerToken: await token({ email: 'a@example.com' }) }), { outcome: 'authenticated' }, 'email_verified absent');
  t.same(await byEmail.authenticate({ bearerToken: await token({ email: 'a@example.com', email_verified: false }) }), { outcome: 'rejected', reason: 'oidc: email not verified' });
  t.same(await byEmail.authenticate({ bearerToken: await token({}) }), { outcome: 'rejected', reason: 'oidc: claim email is missing or not a non-empty string' });
  t.same(await byEmail.authenticate({ bearerToken: await token({ email: 'a@example.com', groups: [1] }) }), {
    outcome: 'rejected',
    reason: 'oidc: claim groups is neither a string nor an array of strings',
  });
  const prefixed = authenticator({ usernamePrefix: 'oidc:' });
  t.match(await prefixed.authenticate({ bearerToken: await token({}) }), { user: { name: 'oidc:user-1', groups: [] } });
});

t.test('required claims must be present with the exact value', async (t) => {
  const auth = authenticator({ requiredClaims: { hd: 'example.com' } });
  t.match(await auth.authenticate({ bearerToken: await token({ hd: 'example.com' }) }), { outcome: 'authenticated' });
  t.same(await auth.authenticate({ bearerToken: await token({ hd: 'evil.com' }) }), { outcome: 'rejected', reason: 'oidc: required claim hd does not have the required value' });
  t.same(await auth.authenticate({ bearerToken: await token({}) }), { outcome: 'rejected', reason: 'oidc: required claim hd is missing' });
});

t.test('discovery problems make the authenticator unavailable, then it recovers', async (t) => {
  discoveryStatus = 503;
  const auth = authenticator({ discoveryRetryMs: 0 });
  t.match(await auth.authenticate({ bearerToken: await token({}) }), { outcome: 'unavailable', reason: /OIDC discovery for .* failed: .* answered HTTP 503/ });
  discoveryStatus = 200;
  discoveryIssuer = 'https://elsewhere.example.com';
  t.match(await auth.authenticate({ bearerToken: await token({}) }), { outcome: 'unavailable', reason: /names issuer "https:\/\/elsewhere.example.com"/ });
  discoveryIssuer = undefined;
  t.match(await auth.authenticate({ bearerToken: await token({}) }), { outcome: 'authenticated' });

  const throttled = authenticator({ discoveryRetryMs: 60_000 });
  discoveryStatus = 500;
  t.match(await throttled.authenticate({ bearerToken: await token({}) }), { outcome: 'unavailable' });
  discoveryStatus = 200;
  t.match(await throttled.authenticate({ bearerToken: await token({}) }), { outcome: 'unavailable' }, 'no new attempt within the retry interval');
});

t.test('an issuer whose certificate is not trusted is unavailable, not a rejection of the token', async (t) => {
  const auth = authenticator({ caPem: undefined });
  t.match(await auth.authenticate({ bearerToken: await token({}) }), { outcome: 'unavailable', reason: /OIDC discovery/ });
});

t.test('a JWKS endpoint that fails is unavailable', async (t) => {
  const auth = authenticator({
    fetch: async (url) =>
      url.endsWith('/keys') ? new Response('nope', { status: 500 }) : new Response(JSON.stringify({ issuer, jwks_uri: `${issuer}/keys` }), { status: 200 }),
  });
  t.match(await auth.authenticate({ bearerToken: await token({}) }), { outcome: 'unavailable', reason: /fetching the issuer JWKS failed/ });
});

t.test('configuration errors are thrown at creation', async (t) => {
  t.throws(() => createOidcAuthenticator({ issuerURL: 'http://insecure.example.com', audiences: ['k'] }), /https/);
  t.throws(() => createOidcAuthenticator({ issuerURL: issuer, audiences: [] }), /audience/);
});
