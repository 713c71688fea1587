// http-proxy 1.18.1 and http-proxy-3 2.0.1 given kubectl 1.27's SPDY upgrade (POST + Upgrade: SPDY/3.1).
import http from 'node:http';
import net from 'node:net';
import httpProxy from 'http-proxy';
import * as proxy3 from 'http-proxy-3';
const upstream = http.createServer();
let upstreamSawUpgrade = 0;
upstream.on('upgrade', (req, sock) => { upstreamSawUpgrade++; sock.end('HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\n\r\n'); });
await new Promise((r) => upstream.listen(0, '127.0.0.1', r));
const target = `http://127.0.0.1:${upstream.address().port}`;
async function trial(name, make) {
  const p = make({ target });
  p.on?.('error', () => {});
  const front = http.createServer();
  front.on('upgrade', (req, sock, head) => p.ws(req, sock, head));
  await new Promise((r) => front.listen(0, '127.0.0.1', r));
  for (const [method, upgrade] of [['POST', 'SPDY/3.1'], ['GET', 'websocket']]) {
    const before = upstreamSawUpgrade;
    const answer = await new Promise((resolve) => {
      const s = net.connect(front.address().port, '127.0.0.1', () => s.write(`${method} /api/v1/namespaces/default/pods/demo/exec?command=true&stdout=true HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: ${upgrade}\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nX-Stream-Protocol-Version: v4.channel.k8s.io\r\n\r\n`));
      let data = ''; s.on('data', (d) => (data += d)); s.on('close', () => resolve(data.split('\r\n')[0] || '(closed without an HTTP answer)')); s.on('error', () => {});
    });
    console.log(`${name}: ${method} + Upgrade: ${upgrade} -> client got "${answer}", upstream saw ${upstreamSawUpgrade - before} upgrade(s)`);
  }
  front.close();
}
await trial('http-proxy 1.18.1', (o) => httpProxy.createProxyServer(o));
await trial('http-proxy-3 2.0.1', (o) => (proxy3.createProxyServer ?? proxy3.default.createProxyServer)(o));
process.exit(0);
