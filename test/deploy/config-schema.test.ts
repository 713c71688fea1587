// The configuration files the manifests mount must pass the gateway's own schema: the manifests and
// the schema cannot drift apart unnoticed. (Their files — CA, token — exist only in a cluster, so
// only the schema is checked here, not the files they name.)
import t from 'tap';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { validateGatewaySettings } from '../../src/config/gateway-config.js';

const root = new URL('../../deploy/', import.meta.url).pathname;
const files = [join(root, 'base', 'gateway.yaml'), ...readdirSync(join(root, 'overlays')).map((overlay) => join(root, 'overlays', overlay, 'gateway.yaml'))];

for (const file of files) {
  t.test(file.slice(root.length), async (t) => {
    if (!existsSync(file)) return t.pass('this overlay mounts the base configuration');
    const { problems } = await validateGatewaySettings({ config: file }, {});
    t.same(problems.lines, [], 'no schema problem');
  });
}
