// The legacy cluster's plain HTTP side: bearer-token auth, 1.28 discovery documents, pods and
// namespaces, and the API server's Status errors.
import t from 'tap';
import { startHarness, request, json, rawExchange, type Harness } from './harness.js';

let h: Harness;
t.before(async () => {
  h = await startHarness();
});
t.teardown(() => h.close());

const UNAUTHORIZED = { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: 'Unauthorized', reason: 'Unauthorized', code: 401 };

t.test('every request needs the bearer token: 401 Status without it, with a wrong one, or with another scheme', async (t) => {
  const attempts: Array<Record<string, string>> = [{}, { Authorization: 'Bearer wrong' }, { Authorization: `Basic ${Buffer.from('a:b').toString('base64')}` }, { Authorization: 'Bearer' }];
  for (const headers of attempts) {
    for (const path of ['/version', '/api/v1/namespaces/default/pods', '/nothing-here']) {
      const response = await request(h, 'GET', path, headers, false);
      t.equal(response.status, 401, `${path} ${JSON.stringify(headers)}`);
      t.same(response.header('content-type'), ['application/json']);
      t.same(json(response), UNAUTHORIZED);
    }
  }
  // The token with a different case of the scheme is not the token.
  const lower = await request(h, 'GET', '/version', { Authorization: `bearer ${h.token}` }, false);
  t.equal(lower.status, 401);
});

t.test('an upgrade without the token gets the 401 Status on the raw socket, before anything else', async (t) => {
  const response = await rawExchange(
    h,
    'POST /api/v1/namespaces/default/pods/demo/exec?command=true&stdout=true HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\n' +
      'X-Stream-Protocol-Version: v4.channel.k8s.io\r\nContent-Length: 0\r\n\r\n',
  );
  t.equal(response.status, 401);
  t.same(JSON.parse(response.body.toString()), UNAUTHORIZED);
  const ws = await rawExchange(
    h,
    'GET /api/v1/namespaces/default/pods/demo/exec?command=true&stdout=true HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n' +
      'Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Protocol: v5.channel.k8s.io\r\nAuthorization: Bearer nope\r\n\r\n',
  );
  t.equal(ws.status, 401);
});

t.test('/version is a 1.28 version.Info', async (t) => {
  const response = await request(h, 'GET', '/version');
  t.equal(response.status, 200);
  t.same(response.header('content-type'), ['application/json']);
  t.match(json(response), { major: '1', minor: '28', gitVersion: 'v1.28.15', gitTreeState: 'clean', compiler: 'gc', platform: 'linux/amd64' });
  t.match(json(response), { gitCommit: /^[0-9a-f]{40}$/, buildDate: /^\d{4}-\d\d-\d\dT/, goVersion: /^go1\./ });
});

t.test('legacy discovery: /api, /apis, /api/v1, served as application/json whatever kubectl 1.33 accepts', async (t) => {
  // kubectl 1.33 asks for aggregated discovery first; a 1.28 server without it answers the legacy documents.
  const accept = { Accept: 'application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json' };
  const api = await request(h, 'GET', '/api', accept);
  t.equal(api.status, 200);
  t.same(api.header('content-type'), ['application/json']);
  t.same(json(api), { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress: '127.0.0.1' }] });

  const apis = await request(h, 'GET', '/apis', accept);
  t.same(apis.header('content-type'), ['application/json']);
  // Only the review groups (TokenReview, SubjectAccessReview) besides core, each with its documents.
  const group = (name: string): object => ({ name, versions: [{ groupVersion: `${name}/v1`, version: 'v1' }], preferredVersion: { groupVersion: `${name}/v1`, version: 'v1' } });
  t.same(json(apis), { kind: 'APIGroupList', apiVersion: 'v1', groups: [group('authentication.k8s.io'), group('authorization.k8s.io')] });
  t.same(json(await request(h, 'GET', '/apis/authentication.k8s.io', accept)), { kind: 'APIGroup', apiVersion: 'v1', ...group('authentication.k8s.io') });
  t.same(json(await request(h, 'GET', '/apis/authentication.k8s.io/v1', accept)), {
    kind: 'APIResourceList',
    apiVersion: 'v1',
    groupVersion: 'authentication.k8s.io/v1',
    resources: [{ name: 'tokenreviews', singularName: 'tokenreview', namespaced: false, kind: 'TokenReview', verbs: ['create'] }],
  });
  t.same(json(await request(h, 'GET', '/apis/authorization.k8s.io/v1', accept)), {
    kind: 'APIResourceList',
    apiVersion: 'v1',
    groupVersion: 'authorization.k8s.io/v1',
    resources: [
      { name: 'selfsubjectaccessreviews', singularName: 'selfsubjectaccessreview', namespaced: false, kind: 'SelfSubjectAccessReview', verbs: ['create'] },
      { name: 'subjectaccessreviews', singularName: 'subjectaccessreview', namespaced: false, kind: 'SubjectAccessReview', verbs: ['create'] },
    ],
  });

  const v1 = json(await request(h, 'GET', '/api/v1', accept)) as { kind: string; groupVersion: string; resources: Array<Record<string, unknown>> };
  t.equal(v1.kind, 'APIResourceList');
  t.equal(v1.groupVersion, 'v1');
  const byName = new Map(v1.resources.map((r) => [r.name as string, r]));
  t.match(byName.get('pods'), {
    singularName: 'pod',
    namespaced: true,
    kind: 'Pod',
    verbs: ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'],
    shortNames: ['po'],
    categories: ['all'],
  });
  t.same(byName.get('pods/exec'), { name: 'pods/exec', singularName: '', namespaced: true, kind: 'PodExecOptions', verbs: ['create', 'get'] });
  t.same(byName.get('pods/attach'), { name: 'pods/attach', singularName: '', namespaced: true, kind: 'PodAttachOptions', verbs: ['create', 'get'] });
  t.same(byName.get('pods/portforward'), { name: 'pods/portforward', singularName: '', namespaced: true, kind: 'PodPortForwardOptions', verbs: ['create', 'get'] });
  t.same(byName.get('pods/log'), { name: 'pods/log', singularName: '', namespaced: true, kind: 'Pod', verbs: ['get'] });
});

t.test('pods: the demo pod in default, by list (namespaced and all) and by name', async (t) => {
  for (const path of ['/api/v1/namespaces/default/pods', '/api/v1/pods']) {
    const list = json(await request(h, 'GET', path)) as { kind: string; apiVersion: string; items: Array<Record<string, unknown>> };
    t.equal(list.kind, 'PodList');
    t.equal(list.apiVersion, 'v1');
    t.equal(list.items.length, 1, path);
    t.notOk('kind' in list.items[0]!, 'list items carry no kind, as the API server serializes them');
    t.match(list.items[0], { metadata: { name: 'demo', namespace: 'default' } });
  }
  const other = json(await request(h, 'GET', '/api/v1/namespaces/kube-system/pods')) as { items: unknown[] };
  t.same(other.items, [], 'another namespace lists no pods');

  const response = await request(h, 'GET', '/api/v1/namespaces/default/pods/demo');
  t.equal(response.status, 200);
  const pod = json(response) as {
    kind: string;
    metadata: { annotations: Record<string, string>; uid: string };
    spec: { containers: Array<Record<string, unknown>>; nodeName: string };
    status: { phase: string; conditions: Array<{ type: string; status: string }>; containerStatuses: Array<Record<string, unknown>> };
  };
  t.equal(pod.kind, 'Pod');
  t.match(pod.metadata.uid, /^[0-9a-f-]{36}$/);
  t.equal(pod.metadata.annotations['kubectl.kubernetes.io/default-container'], 'shell');
  t.same(
    pod.spec.containers.map((c) => c.name),
    ['shell', 'echo', 'web'],
  );
  t.match(pod.spec.containers[1], { name: 'echo', stdin: true, stdinOnce: true });
  t.notOk('stdin' in pod.spec.containers[0]!);
  t.same(pod.spec.containers[2]!.ports, [
    { containerPort: 80, protocol: 'TCP' },
    { containerPort: 7, protocol: 'TCP' },
  ]);
  t.ok(pod.spec.nodeName, 'scheduled on a node (exec needs one)');
  t.equal(pod.status.phase, 'Running');
  t.ok(pod.status.conditions.some((c) => c.type === 'Ready' && c.status === 'True'));
  t.same(
    pod.status.containerStatuses.map((c) => [c.name, c.ready]),
    [
      ['shell', true],
      ['echo', true],
      ['web', true],
    ],
  );
});

t.test('unknown pods and paths: NotFound Status as the API server writes it', async (t) => {
  const missing = await request(h, 'GET', '/api/v1/namespaces/default/pods/x');
  t.equal(missing.status, 404);
  t.same(json(missing), {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message: 'pods "x" not found',
    reason: 'NotFound',
    details: { name: 'x', kind: 'pods' },
    code: 404,
  });
  const elsewhere = await request(h, 'GET', '/api/v1/namespaces/other/pods/demo');
  t.equal(elsewhere.status, 404);
  t.equal(json(elsewhere).message, 'pods "demo" not found');

  for (const path of ['/nothing', '/apis/apps/v1', '/apis/authentication.k8s.io/v2', '/api/v2', '/api/v1/secrets']) {
    const response = await request(h, 'GET', path);
    t.equal(response.status, 404, path);
    t.same(json(response), {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: 'the server could not find the requested resource',
      reason: 'NotFound',
      details: {},
      code: 404,
    });
  }
});

t.test('namespaces: default exists, others do not', async (t) => {
  const list = json(await request(h, 'GET', '/api/v1/namespaces')) as { kind: string; items: Array<{ metadata: { name: string } }> };
  t.equal(list.kind, 'NamespaceList');
  t.same(
    list.items.map((n) => n.metadata.name),
    ['default'],
  );
  t.match(json(await request(h, 'GET', '/api/v1/namespaces/default')), { kind: 'Namespace', status: { phase: 'Active' } });
  const missing = await request(h, 'GET', '/api/v1/namespaces/nope');
  t.equal(missing.status, 404);
  t.match(json(missing), { reason: 'NotFound', message: 'namespaces "nope" not found', details: { name: 'nope', kind: 'namespaces' } });
});

t.test('writes are not served: 405 MethodNotAllowed', async (t) => {
  const response = await request(h, 'DELETE', '/api/v1/namespaces/default/pods/demo');
  t.equal(response.status, 405);
  t.match(json(response), { kind: 'Status', reason: 'MethodNotAllowed', code: 405 });
  const onExec = await request(h, 'PUT', '/api/v1/namespaces/default/pods/demo/exec?command=ls&stdout=true');
  t.equal(onExec.status, 405);
  // The reviews are create-only: a GET is not a read of them.
  const review = await request(h, 'GET', '/apis/authentication.k8s.io/v1/tokenreviews');
  t.equal(review.status, 405);
  t.match(json(review), { reason: 'MethodNotAllowed' });
});

t.test('pods/log: the container is required with several, options are validated as the API server does', async (t) => {
  const log = (query: string) => request(h, 'GET', `/api/v1/namespaces/default/pods/demo/log${query}`);
  const noContainer = await log('');
  t.equal(noContainer.status, 400);
  t.equal(json(noContainer).message, 'a container name must be specified for pod demo, choose one of: [shell echo web]');
  t.equal(json(await log('?container=nope')).message, 'container nope is not valid for pod demo');
  t.equal(json(await log('?container=web&tailLines=-1')).message, 'PodLogOptions.tailLines: Invalid value: must be greater than or equal to 0');
  t.equal(json(await log('?container=web&sinceSeconds=0')).message, 'PodLogOptions.sinceSeconds: Invalid value: must be greater than 0');
  t.match(json(await log('?container=web&sinceSeconds=5&sinceTime=2026-01-01T00:00:00Z')).message, /at most one of `sinceTime` or `sinceSeconds`/);
  t.equal((await request(h, 'GET', '/api/v1/namespaces/default/pods/nope/log?container=web')).status, 404);
  const ok = await log('?container=shell');
  t.equal(ok.status, 200);
  t.same(ok.header('content-type'), ['text/plain']);
  t.equal(ok.body.toString(), '0\r\n\r\n', 'an idle container has written nothing (one empty chunked body)');
});
