import t from 'tap';
import { parseRemoteCommandRequest } from '../../src/codecs/k8s/remote-command-request.js';

t.test('API server exec path with the API spelling of the stream flags', async (t) => {
  t.same(
    parseRemoteCommandRequest('/api/v1/namespaces/ns1/pods/web-0/exec?command=sh&command=-c&command=echo%20hi&container=app&stdin=true&stdout=true&stderr=true'),
    { kind: 'exec', namespace: 'ns1', pod: 'web-0', container: 'app', command: ['sh', '-c', 'echo hi'], stdin: true, stdout: true, stderr: true, tty: false },
  );
});

t.test('tty drops stderr, as Kubernetes opens no stderr stream with a terminal', async (t) => {
  const request = parseRemoteCommandRequest('/api/v1/namespaces/default/pods/demo/exec?command=sh&stdin=true&stdout=true&stderr=true&tty=true');
  t.equal(request?.tty, true);
  t.equal(request?.stderr, false);
});

t.test('attach, and flags written as Go ParseBool accepts them', async (t) => {
  const request = parseRemoteCommandRequest('/api/v1/namespaces/default/pods/demo/attach?container=echo&stdin=1&stdout=T&stderr=false');
  t.match(request, { kind: 'attach', container: 'echo', stdin: true, stdout: true, stderr: false, command: [] });
});

t.test('kubelet paths with and without the pod uid, kubelet flag names', async (t) => {
  t.match(parseRemoteCommandRequest('/exec/default/demo/shell?command=ls&input=1&output=1&error=1'), {
    kind: 'exec', namespace: 'default', pod: 'demo', container: 'shell', stdin: true, stdout: true, stderr: true,
  });
  t.match(parseRemoteCommandRequest('/attach/default/demo/0f7c-uid/echo?output=1'), {
    kind: 'attach', pod: 'demo', container: 'echo', stdout: true, stdin: false,
  });
});

t.test('anything else is not a remote-command request', async (t) => {
  for (const path of [
    '/api/v1/namespaces/default/pods/demo',
    '/api/v1/namespaces/default/pods/demo/portforward?ports=80',
    '/api/v1/namespaces/default/pods/demo/exec/extra',
    '/api/v1/namespaces/default%2Fother/pods/demo',
    '/exec/default/demo',
    '/apis/apps/v1/namespaces/default/deployments/x/exec',
  ]) {
    t.equal(parseRemoteCommandRequest(path), undefined, path);
  }
});

t.test('an encoded slash is not read at all (the router refuses it); other escapes decode as Go does', async (t) => {
  t.equal(parseRemoteCommandRequest('/api/v1/namespaces/a%2Fb/pods/demo/exec?stdout=true'), undefined);
  t.equal(parseRemoteCommandRequest('/api/v1/namespaces/default/pods/demo%2Fexec?stdout=true'), undefined);
  t.match(parseRemoteCommandRequest('/api/v1/namespaces/default/pods/d%65mo/%65xec?stdout=true'), { kind: 'exec', namespace: 'default', pod: 'demo' });
  t.match(parseRemoteCommandRequest('/%61ttach/default/demo/c%3a1?output=1'), { kind: 'attach', pod: 'demo', container: 'c:1' });
});
