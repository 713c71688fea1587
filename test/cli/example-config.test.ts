// The shipped example configuration must stay valid: every key known, every value well typed.
import t from 'tap';
import { readSettingsFile } from '../../src/config/gateway-config.js';

t.test('config/gateway.example.yaml is accepted by the reader', async (t) => {
  const settings = await readSettingsFile(new URL('../../config/gateway.example.yaml', import.meta.url).pathname);
  t.equal(settings.listen, '127.0.0.1:8443');
  t.equal(settings.upstream, 'https://legacy-apiserver.example.internal:6443');
  t.equal(settings['upstream-insecure-skip-tls-verify'], false);
});
