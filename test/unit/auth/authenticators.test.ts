// The authenticator registry: each entry builds an authenticator that carries the entry's name,
// token review asks the configured (or the request's) cluster, the token file reloads itself.
import t from 'tap';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AUTHENTICATORS, AUTHENTICATOR_SETTINGS, settingGiven } from '../../../src/auth/authenticators.js';

type AuthenticatorSettings = Parameters<(typeof AUTHENTICATORS)['tokenFile']['start']>[0];

const dir = mkdtempSync(join(tmpdir(), 'ksg-authenticators-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const tokenPath = join(dir, 'tokens.csv');
writeFileSync(tokenPath, 'first-token,alice,u1\n');

const settings: AuthenticatorSettings = {
  tokenFile: { path: tokenPath, content: 'first-token,alice,u1\n' },
  oidc: { issuerURL: 'https://issuer.example', audiences: ['gateway'], usernameClaim: 'sub' },
  tokenReview: { cacheTTLSeconds: 0, negativeCacheTTLSeconds: 0 },
};

t.test('the YAML spellings are the keys, in the default order', async (t) => {
  t.same(AUTHENTICATOR_SETTINGS, ['clientCertificate', 'tokenFile', 'oidc', 'tokenReview']);
});

t.test('every entry builds authenticators that carry its name, for every upstream', async (t) => {
  for (const key of AUTHENTICATOR_SETTINGS) {
    const started = await AUTHENTICATORS[key].start(settings, { postJson: () => async () => ({ status: 500, body: {} }) });
    for (const upstream of ['a', 'b']) t.equal(started.forUpstream(upstream).name, AUTHENTICATORS[key].name, `${key} for ${upstream}`);
  }
});

t.test('token review asks the configured cluster, else the request\'s', async (t) => {
  const asked: string[] = [];
  const context = {
    postJson: (upstream: string) => async () => {
      asked.push(upstream);
      return { status: 200, body: { status: { authenticated: true, user: { username: 'alice' } } } };
    },
  };
  const own = await AUTHENTICATORS.tokenReview.start(settings, context);
  await own.forUpstream('a').authenticate({ bearerToken: 't1' });
  const central = await AUTHENTICATORS.tokenReview.start({ ...settings, tokenReview: { ...settings.tokenReview, upstream: 'hub' } }, context);
  await central.forUpstream('a').authenticate({ bearerToken: 't2' });
  t.same(asked, ['a', 'hub']);
});

t.test('the token file reloads its own file; only it has a reload', async (t) => {
  const started = await AUTHENTICATORS.tokenFile.start(settings, { postJson: () => async () => ({ status: 500, body: {} }) });
  t.equal(started.reload?.path, tokenPath);
  writeFileSync(tokenPath, 'second-token,bob,u2\n');
  const result = await started.reload!.run();
  t.match(result, { ok: true, message: 'reloaded the token file', fields: { tokens: 1 } });
  t.match(await started.forUpstream('a').authenticate({ bearerToken: 'second-token' }), { outcome: 'authenticated', user: { name: 'bob' } });
  for (const key of ['clientCertificate', 'oidc', 'tokenReview'] as const) {
    t.equal((await AUTHENTICATORS[key].start(settings, { postJson: () => async () => ({ status: 500, body: {} }) })).reload, undefined, key);
  }
});

t.test('settingGiven follows a path into the configuration', async (t) => {
  t.equal(settingGiven({ tls: { clientCA: 'ca.pem' } }, AUTHENTICATORS.clientCertificate.requires), true);
  t.equal(settingGiven({ tls: {} }, AUTHENTICATORS.clientCertificate.requires), false);
  t.equal(settingGiven({}, AUTHENTICATORS.tokenFile.requires), false);
  t.equal(settingGiven({}, AUTHENTICATORS.tokenReview.requires), true, 'no requirement: always configured');
});
