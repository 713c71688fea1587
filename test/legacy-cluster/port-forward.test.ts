// The embedded cluster's SPDY port-forward to a port nothing serves, frame for frame as the kubelet
// with containerd sends it (capture spdy-portforward-closed-port): the data stream's FIN first, then
// the error text on the error stream, then RST_STREAM CANCEL on the error stream — never a FIN there.
import t from 'tap';
import { RstStatus } from '../../src/codecs/spdy/errors.js';
import { startHarness, dialSpdy, collect, type Harness } from './harness.js';
import { until } from '../helpers/wait.js';

let h: Harness;
t.before(async () => {
  h = await startHarness();
});
t.teardown(() => h.close());

t.test('closed port: data FIN, then the error text, then RST_STREAM on the error stream', async (t) => {
  const session = await dialSpdy(h, '/api/v1/namespaces/default/pods/demo/portforward', ['portforward.k8s.io']);
  const headers = { port: '81', requestid: '0' };
  const error = session.connection.openStream({ streamtype: 'error', ...headers });
  error.on('error', () => undefined);
  error.end();
  const data = session.connection.openStream({ streamtype: 'data', ...headers });
  data.on('error', () => undefined);
  const message = collect(error);
  t.match((await message).toString(), /^error forwarding port 81 to pod demo, uid [^:]+: failed to connect to localhost:81/);
  const errorStreamOver = (): boolean => session.frames.some((f) => (f.type === 'rst_stream' || (f.type === 'data' && f.fin)) && f.streamId === error.id);
  await until(errorStreamOver, 'the end of the error stream (FIN or RST)');
  const order = session.frames
    .filter((f) => f.type === 'data' || f.type === 'rst_stream')
    .map((f) => (f.type === 'data' ? `data ${f.streamId}${f.fin ? ' fin' : ''}${f.payload.length ? ' text' : ''}` : `rst ${f.streamId} ${f.status}`));
  t.same(order, [`data ${data.id} fin`, `data ${error.id} text`, `rst ${error.id} ${RstStatus.CANCEL}`]);
  session.connection.close();
});
