// Origin checks for WebSocket upgrades (cross-site WebSocket hijacking).
import t from 'tap';
import { checkOrigin } from '../../../src/auth/origin.js';

const allowedOrigins = ['https://console.example.com', 'http://localhost:3000'];

t.test('no Origin (kubectl, client libraries): allowed', async (t) => {
  t.same(checkOrigin({ origin: undefined, host: 'gw.example.com', scheme: 'https', allowedOrigins }), { allowed: true, reason: 'no Origin header' });
});

t.test('same origin: scheme, host and port all equal the gateway\'s own origin, default ports ignored', async (t) => {
  for (const [origin, host, scheme] of [
    ['https://gw.example.com', 'gw.example.com', 'https'],
    ['https://gw.example.com', 'GW.example.com:443', 'https'],
    ['http://gw.example.com:8080', 'gw.example.com:8080', 'http'],
    ['http://gw.example.com', 'gw.example.com:80', 'http'],
    ['https://[::1]:8443', '[::1]:8443', 'https'],
  ] as const) {
    t.same(checkOrigin({ origin, host, scheme, allowedOrigins: [] }), { allowed: true, reason: 'same origin' }, `${origin} vs ${scheme}://${host}`);
  }
  t.same(checkOrigin({ origin: 'https://gw.example.com:8443', host: 'gw.example.com', scheme: 'https', allowedOrigins: [] }), { allowed: false, reason: 'origin https://gw.example.com:8443 is not allowed' });
});

t.test('same host and port under another scheme is another origin', async (t) => {
  // An http:// page can be injected by anyone on the path: it must not reach the https gateway.
  for (const [origin, host, scheme] of [
    ['http://gw.example.com:8443', 'gw.example.com:8443', 'https'],
    ['http://gw.example.com', 'gw.example.com', 'https'],
    ['HTTP://GW.example.com:443', 'gw.example.com:443', 'https'],
    ['https://gw.example.com:8080', 'gw.example.com:8080', 'http'],
  ] as const) {
    t.equal(checkOrigin({ origin, host, scheme, allowedOrigins: [] }).allowed, false, `${origin} vs ${scheme}://${host}`);
  }
});

t.test('other origins must be listed exactly', async (t) => {
  t.same(checkOrigin({ origin: 'https://console.example.com', host: 'gw', scheme: 'https', allowedOrigins }), { allowed: true, reason: 'origin listed' });
  t.same(checkOrigin({ origin: 'https://CONSOLE.example.com:443', host: 'gw', scheme: 'https', allowedOrigins }), { allowed: true, reason: 'origin listed' });
  t.same(checkOrigin({ origin: 'http://console.example.com', host: 'gw', scheme: 'https', allowedOrigins }), { allowed: false, reason: 'origin http://console.example.com is not allowed' }, 'scheme matters');
  t.same(checkOrigin({ origin: 'https://console.example.com.evil.io', host: 'gw', scheme: 'https', allowedOrigins }), { allowed: false, reason: 'origin https://console.example.com.evil.io is not allowed' });
  t.same(checkOrigin({ origin: 'https://evil.io', host: undefined, scheme: 'https', allowedOrigins }), { allowed: false, reason: 'origin https://evil.io is not allowed' });
  t.same(checkOrigin({ origin: 'null', host: 'gw', scheme: 'https', allowedOrigins }), { allowed: false, reason: 'origin "null" is not allowed' });
  t.same(checkOrigin({ origin: 'null', host: 'gw', scheme: 'https', allowedOrigins: ['null'] }), { allowed: true, reason: 'origin listed' });
  for (const origin of ['not a url', 'file:///etc', 'https://user@console.example.com', 'https://console.example.com/path']) {
    t.same(checkOrigin({ origin, host: 'gw', scheme: 'https', allowedOrigins }), { allowed: false, reason: 'malformed Origin header' }, origin);
  }
});
