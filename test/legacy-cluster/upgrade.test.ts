// exec/attach requests before any SPDY: the API server's and the kubelet's checks in their order,
// the WebSocket refusal that makes kubectl fall back, and the SPDY handshake (version negotiation).
import t from 'tap';
import { startHarness, rawExchange, request, json, spdyUpgradeRequest, dialSpdy, type Harness } from './harness.js';

let h: Harness;
t.before(async () => {
  h = await startHarness();
});
t.teardown(() => h.close());

const EXEC = '/api/v1/namespaces/default/pods/demo/exec?command=true&container=shell&stdout=true&stderr=true';
const ALL_VERSIONS = ['v4.channel.k8s.io', 'v3.channel.k8s.io', 'v2.channel.k8s.io', 'channel.k8s.io'];

t.test("kubectl 1.33's WebSocket v5 request is refused with an empty 403, as a 1.28 cluster refuses it", async (t) => {
  const response = await rawExchange(
    h,
    [
      'GET /api/v1/namespaces/default/pods/demo/exec?command=date&container=shell&stderr=true&stdin=true&stdout=true HTTP/1.1',
      'Host: 127.0.0.1',
      `Authorization: Bearer ${h.token}`,
      'Connection: Upgrade',
      'Upgrade: websocket',
      'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==',
      'Sec-WebSocket-Protocol: v5.channel.k8s.io',
      'Sec-WebSocket-Version: 13',
    ].join('\r\n') + '\r\n\r\n',
  );
  t.equal(response.status, 403);
  t.equal(response.body.length, 0, 'empty body');
  t.same(response.header('content-length'), ['0']);
  t.same(response.header('sec-websocket-accept'), [], 'no WebSocket handshake');
  // attach is refused the same way
  const attach = await rawExchange(
    h,
    `GET /api/v1/namespaces/default/pods/demo/attach?container=echo&stdin=true&stdout=true HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${h.token}\r\n` +
      'Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: v5.channel.k8s.io\r\n\r\n',
  );
  t.equal(attach.status, 403);
  t.equal(attach.body.length, 0);
});

t.test('101 Switching Protocols with the chosen version, head as the captures show', async (t) => {
  const session = await dialSpdy(h, EXEC);
  t.teardown(() => session.socket.destroy());
  t.same(session.response.headerLines.slice(0, 3), ['Connection: Upgrade', 'Upgrade: SPDY/3.1', 'X-Stream-Protocol-Version: v4.channel.k8s.io']);
  t.match(session.response.headerLines[3], /^Date: /);
});

t.test("version negotiation takes the first of the CLIENT's versions the server supports", async (t) => {
  const cases: Array<{ versions: string[]; chosen: string }> = [
    // kubectl 1.33 (one comma-separated header, v5 first): a 1.28 server has no v5.
    { versions: ['v5.channel.k8s.io, v4.channel.k8s.io, v3.channel.k8s.io, v2.channel.k8s.io, channel.k8s.io'], chosen: 'v4.channel.k8s.io' },
    // kubectl 1.27 (one header per version)
    { versions: ALL_VERSIONS, chosen: 'v4.channel.k8s.io' },
    // the client's order wins over the server's
    { versions: ['v2.channel.k8s.io', 'v4.channel.k8s.io'], chosen: 'v2.channel.k8s.io' },
    { versions: ['x.example, channel.k8s.io', 'v3.channel.k8s.io'], chosen: 'channel.k8s.io' },
  ];
  for (const { versions, chosen } of cases) {
    const session = await dialSpdy(h, EXEC, versions);
    t.same(session.response.header('x-stream-protocol-version'), [chosen], versions.join(' | '));
    session.socket.destroy();
  }
});

t.test('no version in common: 403 listing the server versions in repeated headers, plain-text reason', async (t) => {
  const response = await rawExchange(h, spdyUpgradeRequest(h, EXEC, ['v5.channel.k8s.io', 'v9.channel.k8s.io']));
  t.equal(response.status, 403);
  t.same(response.header('x-accepted-stream-protocol-versions'), ALL_VERSIONS);
  t.same(response.header('content-type'), ['text/plain; charset=utf-8']);
  t.equal(
    response.body.toString(),
    'unable to upgrade: unable to negotiate protocol: client supports [v5.channel.k8s.io v9.channel.k8s.io], ' +
      'server accepts [v4.channel.k8s.io v3.channel.k8s.io v2.channel.k8s.io channel.k8s.io]\n',
  );
});

t.test('no X-Stream-Protocol-Version at all: the handshake writes nothing, so Go answers an empty 200', async (t) => {
  const response = await rawExchange(h, spdyUpgradeRequest(h, EXEC, []));
  t.equal(response.status, 200);
  t.equal(response.body.length, 0);
  t.same(response.header('x-stream-protocol-version'), []);
});

t.test('an upgrade that is not SPDY/3.1: 400 from the upgrader, after the version was chosen', async (t) => {
  const response = await rawExchange(
    h,
    `POST ${EXEC} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${h.token}\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n` +
      'X-Stream-Protocol-Version: v4.channel.k8s.io\r\nContent-Length: 0\r\n\r\n',
  );
  t.equal(response.status, 400);
  t.same(response.header('content-type'), ['text/plain; charset=utf-8']);
  t.same(response.header('x-stream-protocol-version'), ['v4.channel.k8s.io']);
  const body = response.body.toString();
  t.match(body, /^unable to upgrade: missing upgrade headers in request: http\.Header\{/);
  t.match(body, /"Upgrade":\[\]string\{"h2c"\}/);
  t.notMatch(body, h.token, 'the token is not echoed');
  t.notMatch(body, /Authorization/);
});

t.test('"Connection: Upgrade" without an Upgrade header reaches the kubelet, whose upgrader refuses it', async (t) => {
  const response = await rawExchange(
    h,
    `POST ${EXEC} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${h.token}\r\nConnection: Upgrade\r\n` +
      'X-Stream-Protocol-Version: v4.channel.k8s.io\r\nContent-Length: 0\r\n\r\n',
  );
  t.equal(response.status, 400);
  t.same(response.header('x-stream-protocol-version'), ['v4.channel.k8s.io']);
  t.match(response.body.toString(), /^unable to upgrade: missing upgrade headers in request: http\.Header\{"Connection":\[\]string\{"Upgrade"\}/);
});

t.test('not an upgrade at all: the API server wants one (400 Status)', async (t) => {
  for (const method of ['POST', 'GET']) {
    const response = await request(h, method, EXEC);
    t.equal(response.status, 400);
    t.same(json(response), { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: 'Upgrade request required', reason: 'BadRequest', code: 400 });
  }
});

t.test('pod and container are checked first, by the API server (JSON Status)', async (t) => {
  const missing = await rawExchange(h, spdyUpgradeRequest(h, '/api/v1/namespaces/default/pods/nope/exec?command=true&stdout=true'));
  t.equal(missing.status, 404);
  t.same(JSON.parse(missing.body.toString()), {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message: 'pods "nope" not found',
    reason: 'NotFound',
    details: { name: 'nope', kind: 'pods' },
    code: 404,
  });
  const container = await rawExchange(h, spdyUpgradeRequest(h, '/api/v1/namespaces/default/pods/demo/exec?command=true&stdout=true&container=db'));
  t.equal(container.status, 400);
  t.match(JSON.parse(container.body.toString()), { reason: 'BadRequest', message: 'container db is not valid for pod demo', code: 400 });
  // even before the version check
  const both = await rawExchange(h, spdyUpgradeRequest(h, '/api/v1/namespaces/default/pods/demo/attach?stdout=true&container=db', ['v9']));
  t.equal(both.status, 400);
});

t.test('no stream requested: the kubelet answers 400 in plain text (tty does not count stderr)', async (t) => {
  for (const query of ['command=true', 'command=true&stdin=false&stdout=0&stderr=FALSE', 'command=true&tty=true&stderr=true']) {
    const response = await rawExchange(h, spdyUpgradeRequest(h, `/api/v1/namespaces/default/pods/demo/exec?container=shell&${query}`));
    t.equal(response.status, 400, query);
    t.same(response.header('content-type'), ['text/plain; charset=utf-8']);
    t.equal(response.body.toString(), 'you must specify at least 1 of stdin, stdout, stderr');
  }
});

t.test('query booleans read as the API server converts them: only absent, "0" and "false" are false', async (t) => {
  // `stdout` with an empty value or "yes" is true, so this upgrade succeeds.
  for (const value of ['', 'yes', '1', 'True']) {
    const session = await dialSpdy(h, `/api/v1/namespaces/default/pods/demo/exec?command=true&container=shell&stdout=${value}`);
    t.equal(session.response.status, 101, `stdout=${value}`);
    session.socket.destroy();
  }
});
