/**
 * The layering of src/, checked on every `npm test` (docs/architecture.md, "Layers").
 *
 *   codecs/ (pure) → net/ → connections/ → translators/ → server/ → cli/
 *   auth/, config/, observability/ (audit too) beside them, never importing server/, translators/ or cli/
 *   recording/ a tap given to translators/, never importing server/ or cli/
 *   legacy-cluster/ on codecs/net/connections only (plus the config, auth parsers and logger it shares)
 *   the benchmark (bench/) and the tests (test/) are never imported by src/
 */
const CONNECTIONS = '^src/connections/';
const LOGGER = '^src/observability/logger\\.ts$';

module.exports = {
  forbidden: [
    {
      name: 'codecs-are-pure',
      comment: 'Codecs are bytes in, events out: they import nothing else in src/.',
      severity: 'error',
      from: { path: '^src/codecs/' },
      to: { path: '^src/', pathNot: '^src/codecs/' },
    },
    {
      name: 'net-only-codecs',
      comment: 'net/ (listeners, TLS, raw HTTP answers, connection admission) sits on codecs/ alone; the logger only as a type.',
      severity: 'error',
      from: { path: '^src/net/' },
      to: { path: '^src/', pathNot: ['^src/(net|codecs)/', LOGGER] },
    },
    {
      name: 'connections-only-codecs-net',
      comment: 'Connections (SPDY, WebSocket channels, the Connection/Stream interfaces) use codecs/ and net/; the logger only as a type.',
      severity: 'error',
      from: { path: CONNECTIONS },
      to: {
        path: '^src/',
        pathNot: [
          '^src/(connections|net|codecs)/',
          LOGGER,
        ],
      },
    },
    {
      name: 'logger-as-type-only',
      comment: 'Below translators/ the logger is a type: the caller hands the instance down.',
      severity: 'error',
      from: { path: ['^src/net/', CONNECTIONS] },
      to: { path: LOGGER, dependencyTypesNot: ['type-only'] },
    },
    {
      name: 'translators-not-server',
      comment: 'Translators are tables and a bridge; the server wires them, never the other way.',
      severity: 'error',
      from: { path: '^src/translators/' },
      to: { path: '^src/(server|cli)/' },
    },
    {
      name: 'nothing-imports-cli',
      comment: 'cli/ is the top: commands import everything, nothing imports a command.',
      severity: 'error',
      from: { path: '^src/', pathNot: '^src/cli/' },
      to: { path: '^src/cli/' },
    },
    {
      name: 'beside-layers-not-server',
      comment: 'auth/, config/, observability/ and upstream/ serve the server; they never import it, the translators or the commands.',
      severity: 'error',
      from: { path: '^src/(auth|config|observability|upstream)/' },
      to: { path: '^src/(server|cli|translators)/' },
    },
    {
      name: 'recording-taps-translators',
      comment: 'recording/ is a tap the translators are given (it implements their SessionTapFactory): it never imports the server or the commands.',
      severity: 'error',
      from: { path: '^src/recording/' },
      to: { path: '^src/(server|cli)/' },
    },
    {
      name: 'legacy-cluster-own-stack',
      comment:
        'The embedded cluster is a peer of the gateway, not a part of it: codecs, net, connections, and the ' +
        'configuration, auth parsers (RequestInfo, token file) and logger it shares; never server/ or translators/.',
      severity: 'error',
      from: { path: '^src/legacy-cluster/' },
      to: { path: '^src/', pathNot: '^src/(legacy-cluster|codecs|net|connections|config|auth|observability)/' },
    },
    {
      name: 'src-not-bench-or-test',
      comment: 'The product does not ship the benchmark or the tests, so it cannot import them.',
      severity: 'error',
      from: { path: '^src/' },
      to: { path: '^(bench|test)/' },
    },
    {
      name: 'no-circular',
      comment: 'A cycle has no bottom layer: one of its imports points up.',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    // `import type` counts as a dependency (a type is knowledge of the layer), and is recognised as such.
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.test.json' },
    reporterOptions: { text: { highlightFocused: true } },
  },
};
