// Origin checks for WebSocket upgrades (cross-site WebSocket hijacking).
import t from 'tap';
import { checkOrigin } from '../../../src/auth/origin.js';

const allowedOrigins = ['https://console.example.com', 'http://localhost:3000'];

t.test('no Origin (kubectl, client libraries): allowed', async (t) => {
  t.same(checkOrigin({ origin: undefined, host: 'gw.example.com', allowedOrigins }), { allowed: true, reason: 'no Origin header' });
});

t.test('same origin: the Origin host equals the Host header, default ports ignored, scheme not compared', async (t) => {
  for (const [origin, host] of [
    ['https://gw.example.com', 'gw.example.com'],
    ['https://gw.example.com', 'GW.example.com:443'],
    ['http://gw.example.com:8080', 'gw.example.com:8080'],
    ['https://[::1]:8443', '[::1]:8443'],
  ]) {
    t.same(checkOrigin({ origin, host, allowedOrigins: [] }), { allowed: true, reason: 'same origin' }, `${origin} vs ${host}`);
  }
  t.same(checkOrigin({ origin: 'https://gw.example.com:8443', host: 'gw.example.com', allowedOrigins: [] }), { allowed: false, reason: 'origin https://gw.example.com:8443 is not allowed' });
});

t.test('other origins must be listed exactly', async (t) => {
  t.same(checkOrigin({ origin: 'https://console.example.com', host: 'gw', allowedOrigins }), { allowed: true, reason: 'origin listed' });
  t.same(checkOrigin({ origin: 'https://CONSOLE.example.com:443', host: 'gw', allowedOrigins }), { allowed: true, reason: 'origin listed' });
  t.same(checkOrigin({ origin: 'http://console.example.com', host: 'gw', allowedOrigins }), { allowed: false, reason: 'origin http://console.example.com is not allowed' }, 'scheme matters');
  t.same(checkOrigin({ origin: 'https://console.example.com.evil.io', host: 'gw', allowedOrigins }), { allowed: false, reason: 'origin https://console.example.com.evil.io is not allowed' });
  t.same(checkOrigin({ origin: 'https://evil.io', host: undefined, allowedOrigins }), { allowed: false, reason: 'origin https://evil.io is not allowed' });
  t.same(checkOrigin({ origin: 'null', host: 'gw', allowedOrigins }), { allowed: false, reason: 'origin "null" is not allowed' });
  t.same(checkOrigin({ origin: 'null', host: 'gw', allowedOrigins: ['null'] }), { allowed: true, reason: 'origin listed' });
  for (const origin of ['not a url', 'file:///etc', 'https://user@console.example.com', 'https://console.example.com/path']) {
    t.same(checkOrigin({ origin, host: 'gw', allowedOrigins }), { allowed: false, reason: 'malformed Origin header' }, origin);
  }
});
