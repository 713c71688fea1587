// spdy-transport 3.0.0 as the SPDY client, fed the real kubelet server bytes (captures).
import net from 'node:net';
import { readFileSync } from 'node:fs';
import transport from 'spdy-transport';
const cap = readFileSync(new URL('../../test/fixtures/captures/spdy-exec-cat-stdin.server-to-client.bin', import.meta.url));
const spdy = cap.subarray(cap.indexOf('\r\n\r\n') + 4);
const { SpdyFrameParser } = await import('../../dist/codecs/spdy/frames.js');
const fromClient = []; const parser = new SpdyFrameParser();
const server = net.createServer((sock) => { sock.once('data', () => sock.write(spdy)); sock.on('data', (c) => { try { for (const f of parser.push(c)) fromClient.push(f.type + (f.type === 'rst_stream' ? ':' + f.streamId + ':status=' + f.status : f.streamId ? ':' + f.streamId : '')); } catch (e) { fromClient.push('parse error ' + e.message); } }); sock.on('error', () => {}); });
server.listen(0, '127.0.0.1', () => {
  const socket = net.connect(server.address().port, '127.0.0.1');
  const conn = transport.connection.create(socket, { protocol: 'spdy', isServer: false });
  conn.start(3.1);
  const events = [];
  conn.on('error', (e) => events.push('conn error: ' + e.message));
  for (const type of ['error', 'stdin', 'stdout', 'stderr']) {
    conn.request({ method: 'GET', path: '/', headers: { streamtype: type } }, (err, stream) => {
      if (err) { events.push(`${type}: request error ${err.message}`); return; }
      let data = '';
      stream.on('response', (code) => events.push(`${type}: response ${code}`));
      stream.on('data', (d) => (data += d));
      stream.on('error', (e) => events.push(`${type}: stream error ${e.message}`));
      stream.on('end', () => events.push(`${type}: end, data ${JSON.stringify(data)}`));
      stream.on('close', () => events.push(`${type}: close, data ${JSON.stringify(data)}`));
    });
  }
  setTimeout(() => { console.log(events.join('\n') || '(no events)'); console.log('client sent:', fromClient.join(', ')); process.exit(0); }, 1500);
});
