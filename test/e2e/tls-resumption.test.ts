// TLS session resumption on both legs of the gateway: a client that resumes (Go, browsers) gets its
// session back from the listener, and the gateway resumes its own sessions toward the upstream.
import t from 'tap';
import { tlsHandshake } from '../helpers/tls-handshake.js';
import { startStack } from '../helpers/stack.js';
import { connect } from '../helpers/ws-client.js';
import type { UpstreamTarget } from '../../src/upstream/target.js';

const EXEC_ECHO = '/api/v1/namespaces/default/pods/demo/exec?command=echo&command=x&stdout=true';

t.test('the listener resumes the session of a client that offers its ticket', async (t) => {
  const stack = await startStack();
  t.teardown(() => stack.close());
  const port = Number(new URL(stack.gateway.url).port);
  const handshake = (session?: Buffer): ReturnType<typeof tlsHandshake> => tlsHandshake({ host: '127.0.0.1', port, ca: stack.caPem, servername: 'localhost', ...(session ? { session } : {}) });
  const first = await handshake();
  t.equal(first.resumed, false);
  const second = await handshake(first.session!);
  t.equal(second.resumed, true, 'the second connection resumed');
});

t.test('the gateway resumes its TLS session toward the upstream', async (t) => {
  let target: UpstreamTarget | undefined;
  const stack = await startStack({ upstream: (cluster, caPem) => (target = { url: new URL(cluster.url), ca: caPem, insecureSkipTlsVerify: false }) });
  t.teardown(() => stack.close());
  for (let i = 0; i < 2; i++) {
    const outcome = await connect(stack, EXEC_ECHO, ['v5.channel.k8s.io']);
    if (outcome.kind !== 'open') return t.fail('refused');
    t.equal((await outcome.closed).code, 1000);
  }
  t.ok(target!.tlsReuse, 'the gateway keeps TLS work per upstream');
  t.ok(target!.tlsReuse!.dialOptions(target!).options.session, 'and the session of its last dial, for the next');
});
