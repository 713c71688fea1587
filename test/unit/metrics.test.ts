import t, { type Test } from 'tap';
import { X509Certificate } from 'node:crypto';
import { GatewayMetrics, SESSION_KINDS, SESSION_OUTCOMES, statusClass, verbClass } from '../../src/observability/metrics.js';
import { createCertificateAuthority } from '../../src/net/certificate-authority.js';

/** A metrics object on a hand-driven clock, without the process metrics (their values vary). */
function fixture(upstreams = ['default', 'legacy-b']): { metrics: GatewayMetrics; clock: { ms: number } } {
  const clock = { ms: 1_000 };
  return { metrics: new GatewayMetrics({ upstreams, defaultMetrics: false, now: () => clock.ms }), clock };
}

async function lines(metrics: GatewayMetrics): Promise<string[]> {
  return (await metrics.render()).body.split('\n');
}

/** Every expected line is in the exposition (each reported on its own when missing). */
function containsLines(t: Test, body: string[], expected: string[]): void {
  for (const line of expected) t.ok(body.includes(line), line);
}

/** The exposition lines of one metric family (its samples, without HELP/TYPE). */
async function samples(metrics: GatewayMetrics, prefix: string): Promise<string[]> {
  return (await lines(metrics)).filter((line) => line.startsWith(prefix) && !line.startsWith('#'));
}

t.test('a session: active while running, then ended, its bytes and duration counted', async (t) => {
  const { metrics, clock } = fixture();
  const session = metrics.sessionStarted({ kind: 'exec', clientProtocol: 'v5.channel.k8s.io', upstream: 'default' });
  t.same(await samples(metrics, 'kube_stream_gateway_sessions_active'), [
    'kube_stream_gateway_sessions_active{kind="exec",client_protocol="v5.channel.k8s.io",upstream="default"} 1',
  ]);
  session.addBytes('client-to-upstream', 1000);
  session.addBytes('client-to-upstream', 24);
  session.addBytes('upstream-to-client', 4096);
  // Bytes counted between two scrapes add up: the second scrape shows the total, not the increment.
  t.ok((await lines(metrics)).includes('kube_stream_gateway_session_bytes_total{direction="client-to-upstream",kind="exec"} 1024'));
  session.addBytes('client-to-upstream', 1);
  clock.ms += 2_500;
  session.ended('completed');
  session.ended('client-error'); // a second end (another close path) changes nothing

  const body = await lines(metrics);
  containsLines(t, body, [
    'kube_stream_gateway_sessions_active{kind="exec",client_protocol="v5.channel.k8s.io",upstream="default"} 0',
    'kube_stream_gateway_session_bytes_total{direction="client-to-upstream",kind="exec"} 1025',
    'kube_stream_gateway_session_bytes_total{direction="upstream-to-client",kind="exec"} 4096',
  ]);
  t.ok(body.includes('kube_stream_gateway_session_bytes_total{direction="upstream-to-client",kind="attach"} 0'), 'known series start at 0');
  containsLines(t, body, [
    'kube_stream_gateway_sessions_ended_total{kind="exec",outcome="completed"} 1',
    'kube_stream_gateway_sessions_ended_total{kind="exec",outcome="client-error"} 0',
  ]);
  t.same(
    body.filter((line) => line.startsWith('kube_stream_gateway_session_duration_seconds') && line.includes('kind="exec"')),
    [
      'kube_stream_gateway_session_duration_seconds_bucket{le="0.1",kind="exec"} 0',
      'kube_stream_gateway_session_duration_seconds_bucket{le="0.5",kind="exec"} 0',
      'kube_stream_gateway_session_duration_seconds_bucket{le="1",kind="exec"} 0',
      'kube_stream_gateway_session_duration_seconds_bucket{le="5",kind="exec"} 1',
      'kube_stream_gateway_session_duration_seconds_bucket{le="10",kind="exec"} 1',
      'kube_stream_gateway_session_duration_seconds_bucket{le="30",kind="exec"} 1',
      'kube_stream_gateway_session_duration_seconds_bucket{le="60",kind="exec"} 1',
      'kube_stream_gateway_session_duration_seconds_bucket{le="300",kind="exec"} 1',
      'kube_stream_gateway_session_duration_seconds_bucket{le="900",kind="exec"} 1',
      'kube_stream_gateway_session_duration_seconds_bucket{le="1800",kind="exec"} 1',
      'kube_stream_gateway_session_duration_seconds_bucket{le="3600",kind="exec"} 1',
      'kube_stream_gateway_session_duration_seconds_bucket{le="14400",kind="exec"} 1',
      'kube_stream_gateway_session_duration_seconds_bucket{le="43200",kind="exec"} 1',
      'kube_stream_gateway_session_duration_seconds_bucket{le="86400",kind="exec"} 1',
      'kube_stream_gateway_session_duration_seconds_bucket{le="+Inf",kind="exec"} 1',
      'kube_stream_gateway_session_duration_seconds_sum{kind="exec"} 2.5',
      'kube_stream_gateway_session_duration_seconds_count{kind="exec"} 1',
    ],
  );
});

t.test('sessions of several kinds count separately; every kind × outcome series exists from the start', async (t) => {
  const { metrics } = fixture();
  const ended = await samples(metrics, 'kube_stream_gateway_sessions_ended_total');
  t.equal(ended.length, SESSION_KINDS.length * SESSION_OUTCOMES.length);
  t.ok(ended.every((line) => line.endsWith(' 0')));

  const a = metrics.sessionStarted({ kind: 'portforward-tunnel', clientProtocol: 'SPDY/3.1+portforward.k8s.io', upstream: 'legacy-b' });
  const b = metrics.sessionStarted({ kind: 'portforward-tunnel', clientProtocol: 'SPDY/3.1+portforward.k8s.io', upstream: 'legacy-b' });
  const c = metrics.sessionStarted({ kind: 'relay', clientProtocol: 'SPDY/3.1', upstream: 'default' });
  t.same(await samples(metrics, 'kube_stream_gateway_sessions_active'), [
    'kube_stream_gateway_sessions_active{kind="portforward-tunnel",client_protocol="SPDY/3.1+portforward.k8s.io",upstream="legacy-b"} 2',
    'kube_stream_gateway_sessions_active{kind="relay",client_protocol="SPDY/3.1",upstream="default"} 1',
  ]);
  a.addBytes('upstream-to-client', 7);
  c.addBytes('upstream-to-client', 5);
  a.ended('upstream-error');
  b.ended('shutdown');
  c.ended('idle-timeout');
  const body = await lines(metrics);
  containsLines(t, body, [
    'kube_stream_gateway_sessions_ended_total{kind="portforward-tunnel",outcome="upstream-error"} 1',
    'kube_stream_gateway_sessions_ended_total{kind="portforward-tunnel",outcome="shutdown"} 1',
    'kube_stream_gateway_sessions_ended_total{kind="relay",outcome="idle-timeout"} 1',
    'kube_stream_gateway_session_bytes_total{direction="upstream-to-client",kind="portforward-tunnel"} 7',
    'kube_stream_gateway_session_bytes_total{direction="upstream-to-client",kind="relay"} 5',
    'kube_stream_gateway_sessions_active{kind="portforward-tunnel",client_protocol="SPDY/3.1+portforward.k8s.io",upstream="legacy-b"} 0',
  ]);
});

t.test('label values stay in closed sets: unknown protocols, upstreams and odd reasons become "other"', async (t) => {
  const { metrics } = fixture();
  metrics.sessionStarted({ kind: 'attach', clientProtocol: 'base64url.bearer.authorization.k8s.io.c2VjcmV0', upstream: 'pod-web-7f9c' });
  metrics.sessionStarted({ kind: 'portforward-channels', clientProtocol: '', upstream: 'default' });
  t.same(await samples(metrics, 'kube_stream_gateway_sessions_active'), [
    'kube_stream_gateway_sessions_active{kind="attach",client_protocol="other",upstream="other"} 1',
    'kube_stream_gateway_sessions_active{kind="portforward-channels",client_protocol="none",upstream="default"} 1',
  ]);
  t.throws(() => metrics.sessionStarted({ kind: 'shell' as never, clientProtocol: '', upstream: 'default' }), /unknown session kind "shell"/);

  metrics.authFailure('Invalid token for alice@example.com');
  metrics.authFailure('invalid-token');
  metrics.authFailure('invalid-token');
  t.same(await samples(metrics, 'kube_stream_gateway_authentication_failures_total'), [
    'kube_stream_gateway_authentication_failures_total{reason="other"} 1',
    'kube_stream_gateway_authentication_failures_total{reason="invalid-token"} 2',
  ]);
  // A flood of distinct well-formed reasons is capped: the 33rd and later distinct ones are "other".
  for (let i = 0; i < 40; i++) metrics.authzDenied(`rule-${i}`);
  const denials = await samples(metrics, 'kube_stream_gateway_authorization_denials_total');
  t.equal(denials.length, 33);
  t.ok(denials.includes('kube_stream_gateway_authorization_denials_total{reason="rule-31"} 1'));
  t.ok(denials.includes('kube_stream_gateway_authorization_denials_total{reason="other"} 8'));
  metrics.authzDenied('rule-0');
  t.ok((await lines(metrics)).includes('kube_stream_gateway_authorization_denials_total{reason="rule-0"} 2'), 'a known reason stays itself');
});

t.test('upstream connect latency, upstream errors and proxied requests', async (t) => {
  const { metrics } = fixture();
  metrics.upstreamConnect('default', 0.03, true);
  metrics.upstreamConnect('default', 7, false);
  metrics.upstreamError('legacy-b', 'connect-refused');
  metrics.upstreamError('legacy-b', 'connect-refused');
  metrics.upstreamError('nowhere', 'tls');
  metrics.proxiedRequest('default', 200);
  metrics.proxiedRequest('default', 204);
  metrics.proxiedRequest('default', 503);
  metrics.proxiedRequest('default', 0);
  metrics.proxiedRequest('default', '4xx');
  metrics.proxiedRequest('default', 'teapot');
  const body = await lines(metrics);
  containsLines(t, body, [
    'kube_stream_gateway_upstream_connect_duration_seconds_bucket{le="0.025",upstream="default",result="ok"} 0',
    'kube_stream_gateway_upstream_connect_duration_seconds_bucket{le="0.05",upstream="default",result="ok"} 1',
    'kube_stream_gateway_upstream_connect_duration_seconds_count{upstream="default",result="ok"} 1',
    'kube_stream_gateway_upstream_connect_duration_seconds_bucket{le="5",upstream="default",result="error"} 0',
    'kube_stream_gateway_upstream_connect_duration_seconds_bucket{le="10",upstream="default",result="error"} 1',
    'kube_stream_gateway_upstream_connect_duration_seconds_sum{upstream="default",result="error"} 7',
  ]);
  t.same(await samples(metrics, 'kube_stream_gateway_upstream_errors_total'), [
    'kube_stream_gateway_upstream_errors_total{upstream="legacy-b",reason="connect-refused"} 2',
    'kube_stream_gateway_upstream_errors_total{upstream="other",reason="tls"} 1',
  ]);
  t.same(await samples(metrics, 'kube_stream_gateway_proxied_requests_total'), [
    'kube_stream_gateway_proxied_requests_total{upstream="default",code="2xx"} 2',
    'kube_stream_gateway_proxied_requests_total{upstream="default",code="5xx"} 1',
    'kube_stream_gateway_proxied_requests_total{upstream="default",code="none"} 1',
    'kube_stream_gateway_proxied_requests_total{upstream="default",code="4xx"} 1',
    'kube_stream_gateway_proxied_requests_total{upstream="default",code="other"} 1',
  ]);
  t.equal(statusClass(101), '1xx');
  t.equal(statusClass(600), 'other');
  t.equal(statusClass(99.5), 'other');
});

t.test('exposition format: content type, HELP and TYPE lines, process metrics by default', async (t) => {
  const { metrics } = fixture();
  const rendered = await metrics.render();
  t.equal(rendered.contentType, 'text/plain; version=0.0.4; charset=utf-8');
  t.ok(rendered.body.includes('# TYPE kube_stream_gateway_sessions_active gauge\n'));
  t.ok(rendered.body.includes('# TYPE kube_stream_gateway_sessions_ended_total counter\n'));
  t.ok(rendered.body.includes('# TYPE kube_stream_gateway_session_duration_seconds histogram\n'));
  t.ok(rendered.body.includes('# HELP kube_stream_gateway_upstream_errors_total Failures talking to an upstream cluster, by upstream and reason.\n'));
  t.notMatch(rendered.body, /process_cpu_user_seconds_total/, 'no process metrics when switched off');

  const withProcess = new GatewayMetrics({ upstreams: ['default'] });
  const body = (await withProcess.render()).body;
  t.match(body, /^process_cpu_user_seconds_total \d/m);
  t.match(body, /^nodejs_heap_size_used_bytes \d/m);
  // Each instance owns its registry: two in one process do not collide.
  t.match((await new GatewayMetrics({ upstreams: [] }).render()).body, /^process_resident_memory_bytes \d/m);
});

t.test('operator metrics: build_info, proxied request duration by verb class, upgrades, bytes per protocol', async (t) => {
  const metrics = new GatewayMetrics({ upstreams: ['default'], defaultMetrics: false, version: '9.9.9' });
  t.same(await samples(metrics, 'kube_stream_gateway_build_info'), [`kube_stream_gateway_build_info{version="9.9.9",node_version="${process.version}"} 1`]);

  metrics.proxiedRequest('default', 200, { method: 'GET', path: '/api/v1/namespaces/default/pods', seconds: 0.003 });
  metrics.proxiedRequest('default', 200, { method: 'GET', path: '/api/v1/pods?watch=true&resourceVersion=1', seconds: 42 });
  metrics.proxiedRequest('nope', 0, { method: 'PATCH', path: '/api/v1/namespaces/default/pods/demo', seconds: 0.2 });
  const duration = await samples(metrics, 'kube_stream_gateway_proxied_request_duration_seconds_count');
  t.same(duration.sort(), [
    'kube_stream_gateway_proxied_request_duration_seconds_count{upstream="default",verb="read",code="2xx"} 1',
    'kube_stream_gateway_proxied_request_duration_seconds_count{upstream="default",verb="watch",code="2xx"} 1',
    'kube_stream_gateway_proxied_request_duration_seconds_count{upstream="other",verb="write",code="none"} 1',
  ]);
  t.ok((await lines(metrics)).includes('kube_stream_gateway_proxied_request_duration_seconds_bucket{le="0.005",upstream="default",verb="read",code="2xx"} 1'));

  metrics.upgrade('websocket', 'upgraded');
  metrics.upgrade('SPDY/3.1', 'refused');
  metrics.upgrade('h2c', 'refused');
  metrics.upgrade(undefined, 'refused');
  const upgrades = await samples(metrics, 'kube_stream_gateway_upgrades_total');
  containsLines(t, upgrades, [
    'kube_stream_gateway_upgrades_total{protocol="websocket",result="upgraded"} 1',
    'kube_stream_gateway_upgrades_total{protocol="websocket",result="refused"} 0',
    'kube_stream_gateway_upgrades_total{protocol="spdy",result="refused"} 1',
    'kube_stream_gateway_upgrades_total{protocol="other",result="refused"} 2',
  ]);

  const exec = metrics.sessionStarted({ kind: 'exec', clientProtocol: 'v5.channel.k8s.io', upstream: 'default' });
  const relay = metrics.sessionStarted({ kind: 'relay', clientProtocol: 'SPDY/3.1', upstream: 'default' });
  exec.addBytes('client-to-upstream', 10);
  relay.addBytes('upstream-to-client', 7);
  relay.addBytes('upstream-to-client', 1);
  containsLines(t, await samples(metrics, 'kube_stream_gateway_protocol_bytes_total'), [
    'kube_stream_gateway_protocol_bytes_total{client_protocol="v5.channel.k8s.io",direction="client-to-upstream"} 10',
    'kube_stream_gateway_protocol_bytes_total{client_protocol="SPDY/3.1",direction="upstream-to-client"} 8',
  ]);
});

t.test('verb classes', async (t) => {
  const cases: Array<[string, string, string]> = [
    ['GET', '/api/v1/pods', 'read'],
    ['HEAD', '/version', 'read'],
    ['GET', '/api/v1/watch/pods', 'watch'],
    ['GET', '/api/v1/pods?watch=1', 'watch'],
    ['GET', '/api/v1/namespaces/default/pods/demo/log?follow=true&container=echo', 'watch'],
    ['GET', '/api/v1/namespaces/default/pods/demo/log?follow=false', 'read'],
    ['POST', '/api/v1/namespaces/default/pods', 'write'],
    ['delete', '/api/v1/namespaces/default/pods/demo', 'write'],
    ['PROPFIND', '/', 'other'],
  ];
  for (const [method, path, expected] of cases) t.equal(verbClass(method, path), expected, `${method} ${path}`);
});

t.test('certificate expiry as a timestamp (earliest of a bundle) and reloads per file', async (t) => {
  const metrics = new GatewayMetrics({ upstreams: ['a'], defaultMetrics: false, reloadableSettings: ['tls.cert', 'upstreams[a].ca'] });
  const early = await createCertificateAuthority('early');
  const late = await createCertificateAuthority('late');
  const expiry = (pem: string): number => Date.parse(new X509Certificate(pem).validTo) / 1000;
  const earliest = Math.min(expiry(early.caCertPem), expiry(late.caCertPem));
  metrics.certificate('client-ca', `${late.caCertPem}\n${early.caCertPem}`);
  metrics.certificate('upstream-client', early.caCertPem, 'a');
  metrics.certificate('serving', 'not a certificate');
  t.same((await samples(metrics, 'kube_stream_gateway_certificate_expiry_timestamp_seconds')).sort(), [
    `kube_stream_gateway_certificate_expiry_timestamp_seconds{certificate="client-ca",upstream=""} ${earliest}`,
    `kube_stream_gateway_certificate_expiry_timestamp_seconds{certificate="upstream-client",upstream="a"} ${expiry(early.caCertPem)}`,
  ]);

  containsLines(t, await samples(metrics, 'kube_stream_gateway_config_reloads_total'), [
    'kube_stream_gateway_config_reloads_total{file="tls.cert",result="success"} 0',
    'kube_stream_gateway_config_reloads_total{file="upstreams[a].ca",result="unusable"} 0',
    'kube_stream_gateway_config_reloads_total{file="upstreams[a].ca",result="empty"} 0',
  ]);
  metrics.configReload('tls.cert', 'success');
  metrics.configReload('upstreams[a].ca', 'unusable');
  metrics.configReload('/etc/passwd', 'success');
  containsLines(t, await samples(metrics, 'kube_stream_gateway_config_reloads_total'), [
    'kube_stream_gateway_config_reloads_total{file="tls.cert",result="success"} 1',
    'kube_stream_gateway_config_reloads_total{file="upstreams[a].ca",result="unusable"} 1',
    'kube_stream_gateway_config_reloads_total{file="other",result="success"} 1',
  ]);
});

t.test('upstream_up: one gauge per upstream', async (t) => {
  const { metrics } = fixture();
  metrics.upstreamReachable('default', true);
  metrics.upstreamReachable('legacy-b', false);
  t.same((await samples(metrics, 'kube_stream_gateway_upstream_up')).sort(), ['kube_stream_gateway_upstream_up{upstream="default"} 1', 'kube_stream_gateway_upstream_up{upstream="legacy-b"} 0']);
});

t.test('connections refused at the listener: every reason from 0, anything else is "other"', async (t) => {
  const { metrics } = fixture();
  t.same(await samples(metrics, 'kube_stream_gateway_connections_refused_total'), [
    'kube_stream_gateway_connections_refused_total{reason="max-connections"} 0',
    'kube_stream_gateway_connections_refused_total{reason="max-connections-per-client"} 0',
    'kube_stream_gateway_connections_refused_total{reason="header-timeout"} 0',
    'kube_stream_gateway_connections_refused_total{reason="proxy-protocol"} 0',
  ]);
  metrics.connectionRefused('header-timeout');
  metrics.connectionRefused('header-timeout');
  metrics.connectionRefused('203.0.113.7');
  const after = await samples(metrics, 'kube_stream_gateway_connections_refused_total');
  t.ok(after.includes('kube_stream_gateway_connections_refused_total{reason="header-timeout"} 2'));
  t.ok(after.includes('kube_stream_gateway_connections_refused_total{reason="other"} 1'), 'an address never becomes a label');
});

t.test("the gateway's own ends are counted under their own outcome, not as a client's close", async (t) => {
  const { metrics } = fixture();
  const ends = ['ping-timeout', 'message-too-large', 'control-flood', 'idle-timeout', 'max-duration', 'shutdown'] as const;
  for (const outcome of ends) metrics.sessionStarted({ kind: 'exec', clientProtocol: 'v5.channel.k8s.io', upstream: 'default' }).ended(outcome);
  const body = await lines(metrics);
  containsLines(t, body, ends.map((outcome) => `kube_stream_gateway_sessions_ended_total{kind="exec",outcome="${outcome}"} 1`));
  containsLines(t, body, ['kube_stream_gateway_sessions_ended_total{kind="exec",outcome="client-error"} 0']);
  t.notOk(body.some((line) => line.includes('outcome="other"') && !line.endsWith(' 0')), 'none counted as "other"');
});
