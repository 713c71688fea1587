// Channel-mode port-forward to a closed port, against the kubelet's real frame order: a scripted
// upstream replays what the kubelet (with containerd) sent kubectl 1.27 in capture
// spdy-portforward-closed-port — SYN_REPLY 1, SYN_REPLY 3, DATA 3 FIN (the data stream ends FIRST),
// DATA 1 with the error text, RST_STREAM 1 — and the client must receive exactly what the kubelet's
// own WebSocket handler sends in capture websocket-kubelet-portforward-closed-port.
//
// The server→client bytes are replayed verbatim, not re-encoded: the gateway opens the error stream
// as 1 and the data stream as 3 like kubectl did, and the SYN_REPLY header blocks use the server's own
// compression context, which does not depend on what the client sent. Each SYN_REPLY is written once
// the gateway's SYN_STREAM for that stream has arrived, then the data stream's FIN. The kubelet writes
// the error text a moment after that FIN (the relay's timing, not in the files); to make that gap
// certain without a sleep, the script adds one frame of its own — a server PING (id 2) after the FIN —
// and writes the recorded error text and RST_STREAM only once the gateway has echoed it, i.e. after
// the gateway has surely seen the data stream end.
import t from 'tap';
import net from 'node:net';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { readCapture } from '../helpers/captures.js';
import { startStack } from '../helpers/stack.js';
import { connect } from '../helpers/ws-client.js';
import { encodePing, SpdyFrameParser } from '../../src/codecs/spdy/frames.js';
import { WebSocketFrameParser } from '../../src/codecs/websocket/frames.js';

/** Splits a run of SPDY frames at frame boundaries (8-byte header, 24-bit length). */
function spdyFrames(bytes: Buffer): Buffer[] {
  const frames: Buffer[] = [];
  for (let at = 0; at < bytes.length; ) {
    const length = bytes.readUIntBE(at + 5, 3);
    frames.push(bytes.subarray(at, at + 8 + length));
    at += 8 + length;
  }
  return frames;
}

/** The WebSocket messages and the close code a server sent, from a capture's server→client bytes. */
function webSocketMessages(bytes: Buffer): { messages: Buffer[]; closeCode: number | undefined } {
  const messages: Buffer[] = [];
  let current: Buffer[] = [];
  let closeCode: number | undefined;
  const parser = new WebSocketFrameParser(
    {
      messageStart: () => (current = []),
      messageData: (piece) => current.push(Buffer.from(piece)),
      messageEnd: () => messages.push(Buffer.concat(current)),
      ping: () => undefined,
      pong: () => undefined,
      close: (code) => (closeCode = code),
    },
    { maxMessageBytes: 1 << 20, masked: false },
  );
  parser.push(Buffer.from(bytes));
  return { messages, closeCode };
}

/** Not in the capture: the script's own PING, see the top of this file. */
const SCRIPT_PING_ID = 2;

/** A plain-HTTP upstream that answers one SPDY upgrade with the capture's 101 and replays its frames. */
async function scriptedKubelet(): Promise<{ port: number; requests: string[]; close(): Promise<void> }> {
  const recorded = readCapture('spdy-portforward-closed-port.server-to-client.bin');
  const [replyError, replyData, dataFin, ...rest] = spdyFrames(recorded.spdy);
  const requests: string[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => undefined);
    let head = Buffer.alloc(0);
    let upgraded = false;
    const parser = new SpdyFrameParser();
    const opened = new Set<number>();
    socket.on('data', (chunk: Buffer) => {
      if (!upgraded) {
        head = Buffer.concat([head, chunk]);
        const end = head.indexOf('\r\n\r\n');
        if (end < 0) return;
        requests.push(head.subarray(0, end).toString('latin1'));
        upgraded = true;
        socket.write(recorded.head);
        chunk = head.subarray(end + 4);
      }
      for (const frame of parser.push(chunk)) {
        if (frame.type === 'ping' && frame.id === SCRIPT_PING_ID) socket.write(Buffer.concat(rest));
        if (frame.type !== 'syn_stream') continue;
        opened.add(frame.streamId);
        socket.write(frame.streamId === 1 ? replyError! : replyData!);
        if (opened.has(1) && opened.has(3)) socket.write(Buffer.concat([dataFin!, encodePing(SCRIPT_PING_ID)]));
      }
    });
    socket.on('close', () => sockets.delete(socket));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as AddressInfo).port,
    requests,
    close: () => {
      for (const socket of sockets) socket.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

t.test('closed port, kubelet order (data FIN, error text, RST): the client gets what the kubelet sends', async (t) => {
  const kubelet = await scriptedKubelet();
  t.teardown(() => kubelet.close());
  const stack = await startStack({ upstream: () => ({ url: new URL(`http://127.0.0.1:${kubelet.port}`), insecureSkipTlsVerify: false }) });
  t.teardown(() => stack.close());

  const outcome = await connect(stack, '/api/v1/namespaces/default/pods/demo/portforward?ports=1', ['v4.channel.k8s.io']);
  if (outcome.kind !== 'open') return t.fail(`refused: ${outcome.statusCode} ${outcome.body}`);
  const closed = await outcome.closed;
  t.match(kubelet.requests[0], /^POST \/api\/v1\/namespaces\/default\/pods\/demo\/portforward(\?[^ ]*)? HTTP\/1\.1\r\n/, 'the gateway dialed SPDY port-forward upstream');

  const expected = webSocketMessages(readCapture('websocket-kubelet-portforward-closed-port.server-to-client.bin').spdy);
  t.same(
    outcome.messages.map((m) => m.data.toString('hex')),
    expected.messages.map((m) => m.toString('hex')),
    'the same messages as the kubelet: 00 01 00, 01 01 00, then 01 + the error text',
  );
  t.match(expected.messages[2]!.toString(), /^\x01error forwarding port 1 to pod demo, uid : .*connection refused$/, 'the capture is what it claims');
  t.same(closed, { code: expected.closeCode, reason: '' }, 'then a normal close, 1000, no reason');
});
