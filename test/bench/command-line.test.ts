// The bench tools answer a bad option as the gateway's commands do: one line and the usage, exit 2,
// never a stack trace; --help prints the usage and exits 0. (Runs the built tools in build/bench/.)
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const tool = (name: string): string => fileURLToPath(new URL(`../../build/bench/${name}.js`, import.meta.url));
const TOOLS = [
  ['main', 'bench', 'npm run bench --'],
  ['ab', 'bench:ab', 'npm run bench:ab --'],
  ['instructions', 'bench:instructions', 'npm run bench:instructions --'],
  ['soak', 'soak', 'npm run soak --'],
] as const;

for (const [file, name, usage] of TOOLS) {
  t.test(`${name}: an unknown option is one line and the usage, exit 2; --help exits 0`, async (t) => {
    // --full was an option of an earlier bench: exactly the typo a developer makes.
    const bad = spawnSync(process.execPath, [tool(file), '--full'], { encoding: 'utf8', timeout: 20_000 });
    t.equal(bad.status, 2);
    t.match(bad.stderr, new RegExp(`^${name}: Unknown option '--full'\\n`));
    t.notMatch(bad.stderr, /\n\s+at /, 'no stack trace');
    const help = spawnSync(process.execPath, [tool(file), '--help'], { encoding: 'utf8', timeout: 20_000 });
    t.equal(help.status, 0);
    t.match(help.stdout, `usage: ${usage}`);
  });
}
