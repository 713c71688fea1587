// Audit end to end, read from what a real HTTPS webhook receiver got (audit.webhook.kubeconfig) and
// from the audit.path file: kubectl 1.33 exec is ResponseStarted (while it runs) then
// ResponseComplete under one auditID, verb create, as authorized; a plain get is one
// ResponseComplete with the upstream's status; an exec the upstream refuses is audited with its 403;
// audit.policyFile's level None silences a user; the auditID is in the session's log lines.
import t from 'tap';
import { spawn } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { stringify } from 'yaml';
import type { AuditEvent } from '../../src/observability/audit/events.js';
import { loadGatewayConfig } from '../../src/config/gateway-config.js';
import { createLogger } from '../../src/observability/logger.js';
import { startConfiguredGateway, type ConfiguredGateway } from '../../src/server/configured-gateway.js';
import { startAuditReceiver, type AuditReceiver } from '../helpers/audit-receiver.js';
import { startTestClusters, type TestClusters } from '../helpers/clusters.js';
import { kubectlPath } from '../helpers/kubectl.js';
import { LogRecorder } from '../helpers/log-recorder.js';
import { runKubectl } from '../helpers/run-kubectl.js';
import { until } from '../helpers/wait.js';
import { edgeConfig, startEdgeGateway, upstreamEntry, writeEdgeFiles } from '../helpers/edge-gateway.js';

const ALICE = 'alice-token-0123456789';
const READER = 'reader-token-0123456789';
const QUIET = 'quiet-token-0123456789';
const RECEIVER_TOKEN = 'audit-receiver-token-0123';

let env: TestClusters;
let receiver: AuditReceiver;
let gateway: ConfiguredGateway;
let auditPath: string;
const logs = new LogRecorder();
const kubeconfigs: Record<string, string> = {};

t.before(async () => {
  env = await startTestClusters(['legacy'], {
    // The cluster's own RBAC decides (no gateway authorizer): reader may list pods but not exec.
    rules: [
      { users: ['alice'], verbs: ['get', 'list', 'create'], resources: ['pods', 'pods/exec'] },
      { users: ['reader', 'quiet'], verbs: ['get', 'list'], resources: ['pods'] },
    ],
  });
  receiver = await startAuditReceiver(env.serverTls);
  const dir = env.dir;
  auditPath = join(dir, 'audit.jsonl');
  await writeEdgeFiles(dir, { upstreamCa: env.ca.caCertPem, tls: env.serverTls, gatewayToken: env.clusters[0]!.token, tokens: [`${ALICE},alice,alice-uid,devs`, `${READER},reader,reader-uid`, `${QUIET},quiet,quiet-uid`] });
  await writeFile(
    join(dir, 'audit-policy.yaml'),
    stringify({ apiVersion: 'audit.k8s.io/v1', kind: 'Policy', omitStages: ['RequestReceived'], rules: [{ level: 'None', users: ['quiet'] }, { level: 'Metadata' }] }),
  );
  await writeFile(
    join(dir, 'audit-webhook.kubeconfig'),
    stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'audit', cluster: { server: `${receiver.url}/audit`, 'certificate-authority-data': Buffer.from(env.ca.caCertPem).toString('base64') } }],
      users: [{ name: 'gateway', user: { token: RECEIVER_TOKEN } }],
      contexts: [{ name: 'audit', context: { cluster: 'audit', user: 'gateway' } }],
      'current-context': 'audit',
    }),
  );
  const config = edgeConfig([upstreamEntry('legacy', env.clusters[0]!.cluster.url)], {
    audit: { path: auditPath, policyFile: 'audit-policy.yaml', webhook: { kubeconfig: 'audit-webhook.kubeconfig', batchMaxWaitSeconds: 0.05 } },
  });
  gateway = await startEdgeGateway(dir, 'gateway', config, logs);
  for (const [name, token] of Object.entries({ alice: ALICE, reader: READER, quiet: QUIET })) {
    kubeconfigs[name] = await env.kubeconfig(`audit-${name}`, gateway.gateway.url, token);
  }
});
t.teardown(async () => {
  await gateway.close();
  await receiver.close();
  await env.close();
});

const eventsOf = (match: (event: AuditEvent) => boolean): AuditEvent[] => receiver.events.filter(match);
const execBy = (user: string) => (event: AuditEvent) => event.user.username === user && event.objectRef?.subresource === 'exec';

t.test('a long exec: ResponseStarted arrives while it runs, ResponseComplete when it ends, one auditID', async (t) => {
  const holder = spawn(kubectlPath(33), ['--kubeconfig', kubeconfigs.alice!, 'exec', '-i', 'demo', '--', 'cat'], { stdio: ['pipe', 'pipe', 'pipe'] });
  t.teardown(() => holder.kill('SIGKILL'));
  await until(() => eventsOf(execBy('alice')).some((event) => event.stage === 'ResponseStarted'), 'ResponseStarted at the receiver');
  const [started] = eventsOf(execBy('alice'));
  t.equal(gateway.gateway.activeSessions, 1, 'the session is still running');
  t.equal(holder.exitCode, null, 'kubectl is still running');
  t.match(started, {
    kind: 'Event',
    apiVersion: 'audit.k8s.io/v1',
    level: 'Metadata',
    stage: 'ResponseStarted',
    verb: 'create',
    user: { username: 'alice', uid: 'alice-uid', groups: ['devs', 'system:authenticated'] },
    sourceIPs: ['127.0.0.1'],
    userAgent: /^kubectl/,
    objectRef: { resource: 'pods', namespace: 'default', name: 'demo', apiVersion: 'v1', subresource: 'exec' },
    responseStatus: { code: 101 },
    annotations: { 'kube-stream-gateway/upstream': 'legacy' },
  });
  t.match(started!.requestURI, /^\/api\/v1\/namespaces\/default\/pods\/demo\/exec\?/);
  t.notOk(eventsOf((event) => event.auditID === started!.auditID && event.stage === 'ResponseComplete').length, 'not complete yet');

  holder.stdin.end('bye\n');
  await until(() => eventsOf((event) => event.auditID === started!.auditID && event.stage === 'ResponseComplete').length === 1, 'ResponseComplete');
  const stages = eventsOf((event) => event.auditID === started!.auditID);
  t.same(stages.map((event) => [event.stage, event.responseStatus?.code]), [['ResponseStarted', 101], ['ResponseComplete', 101]]);
  // kubectl 1.33 spoke WebSocket to the gateway (no SPDY fallback): the session the event describes.
  t.match(stages[1], { verb: 'create', annotations: { 'kube-stream-gateway/session-kind': 'exec', 'kube-stream-gateway/client-protocol': 'v5.channel.k8s.io', 'kube-stream-gateway/outcome': 'completed' } });
  t.ok(stages[1]!.stageTimestamp > started!.stageTimestamp);
  t.equal(stages[1]!.requestReceivedTimestamp, started!.requestReceivedTimestamp);

  const sessionLines = logs.find((record) => record.auditID === started!.auditID);
  t.ok(sessionLines.length >= 2, 'the session logs under the same auditID');
  t.ok(sessionLines.every((record) => record.user === 'alice'));
});

t.test('a plain get is one ResponseComplete with the upstream status; no ResponseStarted', async (t) => {
  const before = receiver.events.length;
  const pods = await runKubectl(33, ['get', 'pods', '-o', 'name'], { kubeconfig: kubeconfigs.alice! });
  t.equal(pods.code, 0, pods.stderr);
  await until(() => eventsOf((event) => event.verb === 'list' && event.user.username === 'alice').length >= 1, 'the list event');
  const list = receiver.events.slice(before).filter((event) => event.verb === 'list' && event.objectRef?.resource === 'pods');
  t.equal(list.length, 1);
  t.match(list[0], { stage: 'ResponseComplete', requestURI: /^\/api\/v1\/namespaces\/default\/pods/, objectRef: { resource: 'pods', namespace: 'default' }, responseStatus: { code: 200 } });
  t.notOk(list[0]!.objectRef?.name);
});

t.test('an exec the upstream refuses is audited with its 403, as create; nothing ran', async (t) => {
  const before = env.clusters[0]!.cluster.sessions().length;
  const refused = await runKubectl(33, ['exec', 'demo', '--', 'echo', 'must not run'], { kubeconfig: kubeconfigs.reader! });
  t.not(refused.code, 0);
  t.match(refused.stderr, /forbidden/i);
  t.equal(env.clusters[0]!.cluster.sessions().length, before, 'the cluster ran nothing');
  await until(() => eventsOf(execBy('reader')).length >= 1, 'the refusal event');
  const events = eventsOf(execBy('reader'));
  // kubectl retries over SPDY after the WebSocket refusal: each attempt is its own refused request.
  for (const event of events) t.match(event, { stage: 'ResponseComplete', verb: 'create', objectRef: { subresource: 'exec', name: 'demo' }, responseStatus: { code: 403 } });
  t.equal(new Set(events.map((event) => event.auditID)).size, events.length, 'one event per attempt');
});

t.test('policy level None for a user: none of their requests are recorded', async (t) => {
  const pods = await runKubectl(33, ['get', 'pods', '-o', 'name'], { kubeconfig: kubeconfigs.quiet! });
  t.equal(pods.code, 0, pods.stderr);
  // A later request by someone else has arrived: the quiet one's would have arrived before it.
  const marker = await runKubectl(33, ['get', 'pods', 'demo', '-o', 'name'], { kubeconfig: kubeconfigs.reader! });
  t.equal(marker.code, 0, marker.stderr);
  await until(() => eventsOf((event) => event.user.username === 'reader' && event.verb === 'get' && event.objectRef?.name === 'demo').length === 1, 'the later event');
  t.same(eventsOf((event) => event.user.username === 'quiet'), []);
});

t.test('the policy file is reloaded when it changes; one that does not parse keeps the last', async (t) => {
  const policyPath = join(env.dir, 'audit-policy.yaml');
  await writeFile(policyPath, 'apiVersion: audit.k8s.io/v1\nkind: Policy\nrules: [{level: Everything}]\n');
  const failed = await logs.waitFor((record) => record.event === 'reload-failed' && record.path === policyPath);
  t.match(failed.err, /rules\[0\]\.level: must be one of None, Metadata, Request, RequestResponse/);
  await writeFile(policyPath, stringify({ apiVersion: 'audit.k8s.io/v1', kind: 'Policy', rules: [{ level: 'None', users: ['quiet', 'alice'] }, { level: 'Metadata' }] }));
  await logs.waitFor((record) => record.event === 'reloaded' && record.path === policyPath);
  const aliceBefore = eventsOf((event) => event.user.username === 'alice').length;
  t.equal((await runKubectl(33, ['get', 'pods', '-o', 'name'], { kubeconfig: kubeconfigs.alice! })).code, 0);
  const marker = await runKubectl(33, ['get', 'pods', 'demo', '-o', 'name'], { kubeconfig: kubeconfigs.reader! });
  t.equal(marker.code, 0, marker.stderr);
  await until(() => eventsOf((event) => event.user.username === 'reader' && event.verb === 'get' && event.objectRef?.name === 'demo').length === 2, 'the later event');
  t.equal(eventsOf((event) => event.user.username === 'alice').length, aliceBefore, 'alice is silenced now');
});

t.test('the receiver got batches as kube-apiserver sends them; the file got the same events; no secret anywhere', async (t) => {
  t.ok(receiver.posts.length >= 1);
  for (const post of receiver.posts) {
    t.match(post, { path: '/audit', headers: { 'content-type': 'application/json', authorization: `Bearer ${RECEIVER_TOKEN}` }, body: { kind: 'EventList', apiVersion: 'audit.k8s.io/v1' } });
  }
  await gateway.close();
  const fromFile = (await readFile(auditPath, 'utf8')).trim().split('\n').map((line) => (JSON.parse(line) as AuditEvent).auditID + (JSON.parse(line) as AuditEvent).stage);
  t.same(fromFile, receiver.events.map((event) => event.auditID + event.stage), 'both sinks, same events, same order');
  t.notMatch(JSON.stringify(receiver.events), new RegExp(`${ALICE}|${READER}|${QUIET}|${env.clusters[0]!.token}`), 'no token recorded');
  const metrics = (await gateway.metrics.render()).body;
  t.match(metrics, `kube_stream_gateway_audit_events_total{sink="log"} ${fromFile.length}\n`);
  t.match(metrics, `kube_stream_gateway_audit_events_total{sink="webhook"} ${receiver.events.length}\n`);
  t.match(metrics, 'kube_stream_gateway_audit_events_dropped_total{sink="webhook"} 0\n');
});

t.test('a receiver that never answers: requests are served all the same, events beyond the buffer dropped and counted', async (t) => {
  const stuck = await startAuditReceiver();
  stuck.hold = true;
  t.teardown(() => stuck.close());
  const dir = env.dir;
  await writeFile(
    join(dir, 'stuck.kubeconfig'),
    stringify({ apiVersion: 'v1', kind: 'Config', clusters: [{ name: 'r', cluster: { server: stuck.url } }], users: [{ name: 'u', user: {} }], contexts: [{ name: 'r', context: { cluster: 'r', user: 'u' } }], 'current-context': 'r' }),
  );
  await writeFile(
    join(dir, 'stuck.yaml'),
    stringify({
      listen: '127.0.0.1:0',
      admin: { listen: 'off' },
      upstreams: [{ name: 'legacy', server: env.clusters[0]!.cluster.url, ca: 'ca.crt' }],
      audit: { webhook: { kubeconfig: 'stuck.kubeconfig', batchMaxSize: 1, bufferSize: 2 } },
    }),
  );
  const passthrough = await startConfiguredGateway(await loadGatewayConfig({ config: join(dir, 'stuck.yaml') }, {}), createLogger({ destination: new LogRecorder(), level: 'silent' }));
  t.teardown(() => passthrough.close());
  for (let i = 0; i < 10; i++) {
    const answer = await fetch(`${passthrough.gateway.url}/version`);
    t.equal(answer.status, 401, `request ${i} answered by the cluster (no credential: passthrough forwards none)`);
  }
  await until(() => stuck.held === 1, 'one batch in flight');
  t.equal(stuck.posts.length, 1, 'one POST at a time');
  const metrics = (await passthrough.metrics.render()).body;
  t.match(metrics, 'kube_stream_gateway_audit_events_dropped_total{sink="webhook"} 7\n', 'ten events: one in flight, two buffered, seven dropped');
  t.match(stuck.posts[0]!.body.items[0], { verb: 'get', requestURI: '/version', user: {}, responseStatus: { code: 401 } });
  t.notOk(stuck.posts[0]!.body.items[0]!.user.username, 'passthrough: no user');
});
