/**
 * Where the configuration comes from, in order of precedence: `serve` flags > environment variables
 * > the --config YAML file > defaults. All are merged into one document in the file's shape, then
 * validated by the one schema (schema.ts) and resolved (model.ts); problems name the flag, the
 * variable, or the file and field the bad value came from.
 */
import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { parseDocument } from 'yaml';
import { describeFsError } from './errors.js';
import { resolveGatewayConfig, type GatewayConfig } from './model.js';
import { Problems, SettingOrigins, issueMessage, type FieldPath } from './problems.js';
import { FLAG_UPSTREAM_NAME, gatewayFileSchema, type GatewayFile } from './schema.js';

export { DEFAULT_LISTEN, DEFAULT_ADMIN_LISTEN, LOG_LEVELS } from './schema.js';
export { loadServerTls } from './pem.js';
export type { GatewayConfig } from './model.js';

/** The `serve` flags that carry settings (as node:util parseArgs returns them). */
export interface ServeFlags {
  config?: string;
  listen?: string;
  'admin-listen'?: string;
  'tls-cert'?: string;
  'tls-key'?: string;
  upstream?: string;
  'upstream-kubeconfig'?: string;
  'upstream-context'?: string;
  'upstream-ca'?: string;
  'upstream-insecure-skip-tls-verify'?: boolean;
  'log-level'?: string;
}

/** Environment variables for the settings a container usually changes (docs/configuration.md). */
export const ENVIRONMENT_VARIABLES = {
  KSG_CONFIG: 'the --config file',
  KSG_LISTEN: 'listen',
  KSG_ADMIN_LISTEN: 'admin.listen',
  KSG_LOG_LEVEL: 'logging.level',
  KSG_LOG_FORMAT: 'logging.format',
  KSG_UPSTREAM: 'the server of a single upstream named "default" (as --upstream)',
  KSG_SHUTDOWN_GRACE_PERIOD_SECONDS: 'shutdown.gracePeriodSeconds',
} as const;

/** The flag that sets a field, to name fields in messages when there is no --config file. */
const FIELD_FLAGS: Record<string, string> = {
  listen: '--listen',
  'admin.listen': '--admin-listen',
  'tls.cert': '--tls-cert',
  'tls.key': '--tls-key',
  'logging.level': '--log-level',
  'upstreams[0].server': '--upstream',
  'upstreams[0].kubeconfig': '--upstream-kubeconfig',
  'upstreams[0].context': '--upstream-context',
  'upstreams[0].ca': '--upstream-ca',
  'upstreams[0].insecureSkipTLSVerify': '--upstream-insecure-skip-tls-verify',
};

type Mapping = Record<string, unknown>;
type Environment = Record<string, string | undefined>;

/**
 * The configuration `serve` runs with. `flags` as parsed from the command line (ParsedOptions is
 * accepted as it is), `env` usually process.env; relative paths in flags are relative to `cwd`,
 * those in the file to the file's folder. Throws ConfigProblems (a ConfigError) listing every
 * problem, one per line.
 */
export async function loadGatewayConfig(flags: ServeFlags | Record<string, string | boolean | undefined> = {}, env: Environment = process.env, cwd = process.cwd()): Promise<GatewayConfig> {
  const { file, problems, baseDir } = await validateGatewaySettings(flags as ServeFlags, env, cwd);
  const config = await resolveGatewayConfig(file, problems, baseDir);
  if (problems.origins.file !== undefined) config.source = resolve(cwd, problems.origins.file);
  return config;
}

/**
 * The merged settings, validated by the schema but with no file read yet (paths as written).
 * @internal Exported for its unit test; the product uses it only here.
 */
export async function validateGatewaySettings(flags: ServeFlags, env: Environment = {}, cwd = process.cwd()): Promise<{ file: GatewayFile; problems: Problems; baseDir: string }> {
  const configFile = flags.config ?? nonEmpty(env.KSG_CONFIG);
  const origins = new SettingOrigins(configFile, Object.keys(gatewayFileSchema.shape), FIELD_FLAGS);
  const problems = new Problems(origins);
  const document = configFile === undefined ? {} : await readDocument(configFile, cwd, problems);
  problems.throwIfAny();

  const set = (path: string[], value: unknown, label: string): void => {
    if (value === undefined) return;
    setIn(document, path, value);
    origins.override(path, label);
  };
  const fromCwd = (value: string | undefined): string | undefined => (value === undefined ? undefined : resolve(cwd, value));

  // Environment first, flags after: a flag overwrites the variable's value and its label.
  set(['listen'], nonEmpty(env.KSG_LISTEN), 'KSG_LISTEN');
  set(['admin', 'listen'], nonEmpty(env.KSG_ADMIN_LISTEN), 'KSG_ADMIN_LISTEN');
  set(['logging', 'level'], nonEmpty(env.KSG_LOG_LEVEL), 'KSG_LOG_LEVEL');
  set(['logging', 'format'], nonEmpty(env.KSG_LOG_FORMAT), 'KSG_LOG_FORMAT');
  set(['shutdown', 'gracePeriodSeconds'], numberOrText(nonEmpty(env.KSG_SHUTDOWN_GRACE_PERIOD_SECONDS)), 'KSG_SHUTDOWN_GRACE_PERIOD_SECONDS');
  set(['listen'], flags.listen, '--listen');
  set(['admin', 'listen'], flags['admin-listen'], '--admin-listen');
  set(['logging', 'level'], flags['log-level'], '--log-level');
  set(['tls', 'cert'], fromCwd(flags['tls-cert']), '--tls-cert');
  set(['tls', 'key'], fromCwd(flags['tls-key']), '--tls-key');
  applyUpstreamFlags(document, flags, env, cwd, problems);

  const parsed = gatewayFileSchema.safeParse(document, { error: issueMessage });
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      if (issue.code === 'unrecognized_keys') {
        const known = knownKeys(issue.path);
        for (const key of issue.keys) problems.add([...issue.path, key], `unknown setting${known ? ` (known here: ${known.join(', ')})` : ''}`);
      } else if (issue.code === 'invalid_type' && issue.expected === 'array' && issue.path.join('.') === 'upstreams' && document.upstreams === undefined) {
        problems.add(issue.path, 'required: list the legacy clusters here, or give --upstream / --upstream-kubeconfig for one named "default"');
      } else {
        problems.add(issue.path, issue.message);
      }
    }
  }
  problems.throwIfAny();
  return { file: parsed.data!, problems, baseDir: configFile === undefined ? cwd : dirname(resolve(cwd, configFile)) };
}

/**
 * `--upstream*` (and KSG_UPSTREAM, as --upstream) describe one upstream named "default"; they
 * cannot be combined with `upstreams` in the file, which would leave unclear which one they change.
 */
function applyUpstreamFlags(document: Mapping, flags: ServeFlags, env: Environment, cwd: string, problems: Problems): void {
  const given: Array<[string, string, unknown]> = [
    ['server', flags.upstream !== undefined ? '--upstream' : 'KSG_UPSTREAM', flags.upstream ?? nonEmpty(env.KSG_UPSTREAM)],
    ['kubeconfig', '--upstream-kubeconfig', flags['upstream-kubeconfig'] === undefined ? undefined : resolve(cwd, flags['upstream-kubeconfig'])],
    ['context', '--upstream-context', flags['upstream-context']],
    ['ca', '--upstream-ca', flags['upstream-ca'] === undefined ? undefined : resolve(cwd, flags['upstream-ca'])],
    ['insecureSkipTLSVerify', '--upstream-insecure-skip-tls-verify', flags['upstream-insecure-skip-tls-verify'] || undefined],
  ];
  const present = given.filter(([, , value]) => value !== undefined);
  if (present.length === 0) return;
  if (document.upstreams !== undefined) {
    const labels = present.map(([, label]) => label).join(', ');
    problems.addLine(`${labels}: ${present.length === 1 ? 'describes' : 'describe'} a single upstream named "${FLAG_UPSTREAM_NAME}", but ${problems.origins.file} lists upstreams too: give the upstreams in one place`);
    return;
  }
  // The flags keep their meaning from before the file had upstreams: http:// servers included.
  const upstream: Mapping = { name: FLAG_UPSTREAM_NAME, allowInsecureHTTP: true };
  document.upstreams = [upstream];
  for (const [key, label, value] of present) {
    upstream[key] = value;
    problems.origins.override(['upstreams', 0, key], label);
  }
}

async function readDocument(path: string, cwd: string, problems: Problems): Promise<Mapping> {
  let text: string;
  try {
    text = await readFile(resolve(cwd, path), 'utf8');
  } catch (error) {
    problems.addLine(`--config: cannot read ${path}: ${describeFsError(error)}`);
    return {};
  }
  const document = parseDocument(text, { prettyErrors: false });
  if (document.errors.length > 0) {
    for (const error of document.errors) problems.addLine(`${path}: invalid YAML: ${error.message.split('\n')[0]}`);
    return {};
  }
  const value: unknown = document.toJS() ?? {};
  if (typeof value !== 'object' || Array.isArray(value) || value === null) {
    problems.addLine(`${path}: expected a mapping of settings (listen: …, upstreams: …), got ${Array.isArray(value) ? 'a list' : JSON.stringify(value)}`);
    return {};
  }
  return withoutNulls(value as Mapping);
}

/**
 * `key:` with nothing after it (YAML null) is the same as leaving the key out, so that a section
 * whose settings are all commented out means its defaults. Lists keep their entries.
 */
function withoutNulls(mapping: Mapping): Mapping {
  const result: Mapping = {};
  for (const [key, value] of Object.entries(mapping)) {
    if (value === null) continue;
    result[key] = typeof value === 'object' && !Array.isArray(value) ? withoutNulls(value as Mapping) : Array.isArray(value) ? value.map((item: unknown) => (typeof item === 'object' && item !== null && !Array.isArray(item) ? withoutNulls(item as Mapping) : item)) : value;
  }
  return result;
}

/** Sets document[a][b]… = value, making mappings on the way (a flag wins over whatever was there). */
function setIn(document: Mapping, path: string[], value: unknown): void {
  let node = document;
  for (const key of path.slice(0, -1)) {
    const next = node[key];
    if (typeof next !== 'object' || next === null || Array.isArray(next)) node[key] = {};
    node = node[key] as Mapping;
  }
  node[path[path.length - 1]!] = value;
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === '' ? undefined : value.trim();
}

/** `"25"` → 25; anything else stays text, for the schema to refuse naming the variable. */
function numberOrText(value: string | undefined): number | string | undefined {
  return value !== undefined && /^\d+(\.\d+)?$/.test(value) ? Number(value) : value;
}

/** The keys the schema knows at `path`, for "unknown setting" lines. */
function knownKeys(path: FieldPath): string[] | undefined {
  // Zod's internal definition tree: objects have a shape; optional, default and prefault wrap an
  // inner type; arrays have an element; records a value type.
  type Def = { type: string; shape?: Record<string, { _zod: { def: Def } }>; innerType?: { _zod: { def: Def } }; element?: { _zod: { def: Def } }; valueType?: { _zod: { def: Def } } };
  let def = (gatewayFileSchema as unknown as { _zod: { def: Def } })._zod.def;
  const unwrap = (): void => {
    for (let depth = 0; def.innerType && depth < 8; depth++) def = def.innerType._zod.def;
  };
  unwrap();
  for (const segment of path) {
    const next = typeof segment === 'number' ? def.element : (def.shape?.[String(segment)] ?? def.valueType);
    if (!next) return undefined;
    def = next._zod.def;
    unwrap();
  }
  return def.shape ? Object.keys(def.shape) : undefined;
}
