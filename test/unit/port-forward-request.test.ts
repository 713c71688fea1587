import t from 'tap';
import { parsePortForwardRequest, PortForwardRequestError } from '../../src/codecs/k8s/port-forward-request.js';

t.test('the API server path reads ?ports=, the kubelet path ?port= (as the API server rewrites it)', async (t) => {
  t.same(parsePortForwardRequest('/api/v1/namespaces/ns/pods/web/portforward?ports=80&ports=7,8080'), { namespace: 'ns', pod: 'web', ports: [80, 7, 8080] });
  t.same(parsePortForwardRequest('/portForward/ns/web?port=80,81'), { namespace: 'ns', pod: 'web', ports: [80, 81] });
  t.same(parsePortForwardRequest('/portForward/ns/web/uid-1?ports=80')?.ports, [], 'the kubelet knows no ports parameter');
  t.same(parsePortForwardRequest('/api/v1/namespaces/ns/pods/web/portforward?port=80')?.ports, [], 'nor the API server a port parameter');
  t.equal(parsePortForwardRequest('/api/v1/namespaces/ns/pods/web/exec?ports=80'), undefined);
  t.throws(() => parsePortForwardRequest('/portForward/ns/web?port=99999'), PortForwardRequestError);
});
