// The gateway keeps V8's young generation at its initial size (src/cli/young-generation.ts): run in a
// process of its own, since the flag holds for the life of the process, against the built module.
import t from 'tap';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const MODULE = new URL('../../dist/cli/young-generation.js', import.meta.url).href;

/**
 * Allocates objects that survive a few scavenges (what makes V8 grow the young generation) and prints
 * its size in MiB before and after.
 */
const PROGRAM = `
import { getHeapSpaceStatistics } from 'node:v8';
const { keepYoungGenerationSmall } = await import(${JSON.stringify(MODULE)});
const size = () => getHeapSpaceStatistics().find((space) => space.space_name === 'new_space').space_size / 2 ** 20;
if (process.argv[1] === 'tuned') keepYoungGenerationSmall();
const before = size();
let kept = [];
for (let i = 0; i < 2e6; i++) { kept.push({ i }); if (kept.length > 2e5) kept = []; }
console.log(JSON.stringify({ before, after: size() }));
`;

async function youngGenerationMiB(mode: 'tuned' | 'untuned', nodeOptions = ''): Promise<{ before: number; after: number }> {
  const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', PROGRAM, mode], { env: { ...process.env, NODE_OPTIONS: nodeOptions } });
  return JSON.parse(stdout) as { before: number; after: number };
}

t.test('once tuned the young generation no longer grows; without it, it does', async (t) => {
  const untuned = await youngGenerationMiB('untuned');
  const tuned = await youngGenerationMiB('tuned');
  t.ok(untuned.after >= 4 * untuned.before, `untuned it grows (${untuned.before} → ${untuned.after} MiB)`);
  t.equal(tuned.after, tuned.before, `tuned it stays at ${tuned.before} MiB`);
});

t.test("an operator's own semi-space flag wins", async (t) => {
  const tuned = await youngGenerationMiB('tuned', '--max-semi-space-size=4');
  t.equal(tuned.after, 8, `it grows to the 2 × 4 MiB the operator allowed (${tuned.before} → ${tuned.after} MiB)`);
});
