// spdy-transport 3.0.0 sending 1 MiB on one stream to a peer that, like spdystream, never sends WINDOW_UPDATE.
import net from 'node:net';
import transport from 'spdy-transport';
const { SpdyFrameParser, encodeSynReply } = await import('../../dist/codecs/spdy/frames.js');
const { HeaderBlockEncoder } = await import('../../dist/codecs/spdy/header-block.js');
let dataBytes = 0;
const server = net.createServer((sock) => {
  const parser = new SpdyFrameParser(); const enc = new HeaderBlockEncoder();
  sock.on('data', (c) => { for (const f of parser.push(c)) { if (f.type === 'data') dataBytes += f.payload.length; if (f.type === 'syn_stream') sock.write(encodeSynReply(f.streamId, enc.encode({ ':status': '200' }))); } });
  sock.on('error', () => {});
});
server.listen(0, '127.0.0.1', () => {
  const conn = transport.connection.create(net.connect(server.address().port, '127.0.0.1'), { protocol: 'spdy', isServer: false });
  conn.start(3.1);
  conn.request({ method: 'POST', path: '/', headers: { streamtype: 'stdin' } }, (err, stream) => { stream.write(Buffer.alloc(1024 * 1024)); });
  setTimeout(() => { console.log(`DATA bytes received by the peer after 2 s: ${dataBytes} of ${1024 * 1024}`); process.exit(0); }, 2000);
});
