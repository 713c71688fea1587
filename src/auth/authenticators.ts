/**
 * Every authenticator the gateway can run, in one table: its YAML spelling (the key, as
 * `auth.authenticators` lists it), the name its results and logs carry, the setting that must be
 * given for it to count as configured, and how it is built (and reloaded) from the settings.
 * The key order is the default order: local, cheap checks first, the network last.
 *
 * Adding an authenticator is one entry here: the schema's enum and "required when listed" checks,
 * the effective order, the per-upstream chains and file reloads all read this table.
 */
import { createClientCertificateAuthenticator } from './client-certificate.js';
import type { Authenticator } from './identity.js';
import { createOidcAuthenticator, type OidcOptions } from './oidc.js';
import { createTokenFileAuthenticator, type TokenFileRefusal } from './token-file.js';
import { createTokenReviewAuthenticator, type PostJson } from './token-review.js';

/** What the authenticators read of the configuration (config/model.ts's AuthSettings fits it). */
interface AuthenticatorSettings {
  /** kube-apiserver --token-auth-file contents, already read and checked by the configuration. */
  tokenFile?: { path: string; content: string };
  oidc?: Omit<OidcOptions, 'caPem' | 'fetch'> & { ca?: { content: string } };
  tokenReview: { upstream?: string; audiences?: string[]; cacheTTLSeconds: number; negativeCacheTTLSeconds: number };
}

/** What an authenticator may reach besides its settings. */
interface AuthenticatorContext {
  /** POST to an upstream's API server with the gateway's credential for it. */
  postJson(upstream: string): PostJson;
}

/** A watched file's new contents, taken or not (a refusal keeps the previous contents in force). */
type AuthenticatorReload =
  | { ok: true; message: string; fields: Record<string, unknown> }
  | { ok: false; result: TokenFileRefusal; message: string; error: string };

/** An authenticator built from the configuration, once; `forUpstream` gives each upstream's chain its member. */
export interface StartedAuthenticator {
  forUpstream(upstream: string): Authenticator;
  /** A file whose rewrite the authenticator takes itself (it re-reads and checks it). */
  reload?: { path: string; run(): Promise<AuthenticatorReload> };
}

export interface AuthenticatorKind {
  /** The name results, logs and metrics carry. */
  readonly name: string;
  /** The setting (a path in the configuration file) without which it is not configured; absent: always configured. */
  readonly requires?: readonly string[];
  start(settings: AuthenticatorSettings, context: AuthenticatorContext): Promise<StartedAuthenticator>;
}

/** Same instance for every upstream. */
function shared(authenticator: Authenticator): StartedAuthenticator {
  return { forUpstream: () => authenticator };
}

const TABLE = {
  clientCertificate: {
    name: 'client-certificate',
    requires: ['tls', 'clientCA'],
    start: async () => shared(createClientCertificateAuthenticator()),
  },
  tokenFile: {
    name: 'token-file',
    requires: ['auth', 'tokenFile'],
    async start(settings) {
      const file = settings.tokenFile!;
      // The contents the configuration already read and parsed: serve refuses what check-config refuses.
      const authenticator = await createTokenFileAuthenticator(file.path, { initial: file.content });
      return {
        ...shared(authenticator),
        reload: {
          path: file.path,
          async run() {
            const result = await authenticator.reload();
            return result.ok
              ? { ok: true, message: 'reloaded the token file', fields: { tokens: result.tokens } }
              : { ok: false, result: result.result, error: result.error, message: 'the token file was not taken; keeping the previous tokens' };
          },
        },
      };
    },
  },
  oidc: {
    name: 'oidc',
    requires: ['auth', 'oidc'],
    start: async (settings) => {
      const { ca, ...oidc } = settings.oidc!;
      return { forUpstream: () => createOidcAuthenticator({ ...oidc, caPem: ca?.content }) };
    },
  },
  tokenReview: {
    name: 'token-review',
    // TokenReview asks a cluster, possibly the request's own: one authenticator (and cache) per upstream.
    start: async (settings, context) => {
      const { upstream: reviewer, audiences, cacheTTLSeconds, negativeCacheTTLSeconds } = settings.tokenReview;
      return {
        forUpstream: (upstream) =>
          createTokenReviewAuthenticator({ postJson: context.postJson(reviewer ?? upstream), audiences, cacheTTLSeconds, negativeCacheTTLSeconds }),
      };
    },
  },
} as const satisfies Record<string, AuthenticatorKind>;

/** An authenticator as `auth.authenticators` spells it. */
export type AuthenticatorSetting = keyof typeof TABLE;
/** An authenticator as results, logs and metrics name it. */
export type AuthenticatorName = (typeof TABLE)[AuthenticatorSetting]['name'];

export const AUTHENTICATORS: Readonly<Record<AuthenticatorSetting, AuthenticatorKind & { name: AuthenticatorName }>> = TABLE;

/** The YAML spellings, in the default order (for the schema's enum). */
export const AUTHENTICATOR_SETTINGS = Object.keys(AUTHENTICATORS) as [AuthenticatorSetting, ...AuthenticatorSetting[]];

/** Whether a configuration (the file, or a section of it) gives the setting at `path` (an authenticator's `requires`). */
export function settingGiven(settings: object, path: readonly string[] = []): boolean {
  let value: unknown = settings;
  for (const key of path) value = value !== null && typeof value === 'object' ? (value as Record<string, unknown>)[key] : undefined;
  return value !== undefined;
}
