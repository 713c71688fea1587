import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { cpSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import t from 'tap';
import { closedPort } from '../helpers/closed-port.js';
import { dockerignoreAllows, imageEnvironment, parseDockerfile, replayDockerfile, stagePath, type Stage } from './dockerfile-replay.js';

const ROOT = new URL('../../', import.meta.url).pathname;
const DOCKERFILE = join(ROOT, 'Dockerfile');
const run = promisify(execFile);
const packageVersion = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;

t.test('the Dockerfile passes dockerfile-utils lint, which does flag a broken one', async (t) => {
  const linter = join(ROOT, 'node_modules/.bin/dockerfile-utils');
  const clean = await run(linter, ['lint', DOCKERFILE]);
  t.equal(clean.stdout + clean.stderr, '', 'no problems reported');

  const scratch = mkdtempSync(join(tmpdir(), 'ksg-lint-'));
  t.teardown(() => rmSync(scratch, { recursive: true, force: true }));
  const broken = join(scratch, 'Dockerfile');
  writeFileSync(broken, `${readFileSync(DOCKERFILE, 'utf8')}\nCMD ["serve"]\nMAINTAINER someone\n`);
  const flagged = await run(linter, ['lint', broken]);
  t.match(flagged.stdout, /There can only be one CMD instruction/);
  t.match(flagged.stdout, /MAINTAINER has been deprecated/);
});

t.test('the Dockerfile: Node.js 26 LTS, multi-stage, non-root, ports, health check, entry point', async (t) => {
  const instructions = parseDockerfile(readFileSync(DOCKERFILE, 'utf8'));
  const froms = instructions.filter((instruction) => instruction.keyword === 'FROM');
  t.ok(froms.length >= 2, 'multi-stage');
  t.ok(froms.every((from) => from.args.startsWith('${NODE_IMAGE}')), 'every stage from the one NODE_IMAGE');
  t.match(instructions.find((instruction) => instruction.keyword === 'ARG')?.args, /^NODE_IMAGE=node:26-[a-z]+-slim@sha256:[0-9a-f]{64}$/, 'the base image pinned by digest');
  const finalStage = instructions.slice(instructions.lastIndexOf(froms[froms.length - 1]!));
  const user = finalStage.find((instruction) => instruction.keyword === 'USER')?.args ?? '';
  t.match(user, /^[1-9]\d*:[1-9]\d*$/, 'a numeric non-root user and group, so runAsNonRoot can check it');
  t.notOk(finalStage.some((instruction) => instruction.keyword === 'RUN'), 'nothing runs in the runtime stage: no layer to write, nothing installed');
  t.notOk(instructions.some((instruction) => instruction.keyword === 'ADD'), 'COPY only');

  t.same(dockerignoreAllows(readFileSync(join(ROOT, '.dockerignore'), 'utf8'), 'src/cli/main.ts'), true);
  for (const excluded of ['node_modules', 'dist', 'test', 'bench', 'build', '.git', 'demo.kubeconfig', 'tls.key']) {
    t.equal(dockerignoreAllows(readFileSync(join(ROOT, '.dockerignore'), 'utf8'), excluded), false, `${excluded} stays out of the build context`);
  }
});

/** Runs the image's entry point (ENTRYPOINT + args) inside the replayed runtime stage. */
function entrypoint(stage: Stage, args: string[]): ReturnType<typeof spawn> {
  const [command, ...rest] = stage.entrypoint!;
  const found = stagePath(stage)
    .split(':')
    .map((dir) => join(dir, command!))
    .find((candidate) => existsSync(candidate));
  if (!found) throw new Error(`${command} is not on the image's PATH`);
  return spawn(found, [...rest, ...args], {
    cwd: join(stage.root, stage.workdir),
    env: { ...imageEnvironment(), ...stage.env, PATH: stagePath(stage) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

async function exitOf(child: ReturnType<typeof spawn>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const [code] = (await once(child, 'exit')) as [number | null];
  return { code, stdout, stderr };
}

t.test('the build steps, replayed as plain commands, give a runtime stage that starts the gateway', async (t) => {
  const scratch = mkdtempSync(join(tmpdir(), 'ksg-image-'));
  t.teardown(() => rmSync(scratch, { recursive: true, force: true }));
  // The build context as `docker build .` would send it (less what changes under a running test
  // suite): the replay only reads what .dockerignore lets through.
  const context = join(scratch, 'context');
  cpSync(ROOT, context, { recursive: true, filter: (source) => !/\/(node_modules|dist|build|\.git|\.tap|coverage)$/.test(source) });
  const stages = replayDockerfile({
    context,
    dockerfile: join(context, 'Dockerfile'),
    scratch,
    // The npm cache of this machine serves the packages; the registry only for what it lacks.
    env: { npm_config_prefer_offline: 'true', npm_config_update_notifier: 'false' },
    timeoutMs: 240_000,
  });
  const runtime = stages[stages.length - 1]!;
  const app = join(runtime.root, 'app');

  t.same(readdirSync(app).sort(), ['bin', 'dist', 'node_modules', 'package.json']);
  // The product alone: the benchmark lives in bench/ (built into build/), never compiled into dist/.
  const compiled = readdirSync(join(app, 'dist'), { recursive: true, encoding: 'utf8' });
  t.ok(compiled.includes(join('cli', 'main.js')), 'the CLI is compiled');
  t.same(compiled.filter((file) => /(^|\/)bench(\/|$)/.test(file)), [], 'no benchmark file in the image');
  const modules = readdirSync(join(app, 'node_modules'));
  for (const needed of ['pino', 'prom-client', 'yaml', 'pako']) t.ok(modules.includes(needed), `${needed} is in the image`);
  // ws: only the tests and the benchmark's clients use it; node-pty: only the stand-in cluster's terminals.
  for (const left of ['typescript', 'tap', '@types', 'fast-check', 'dockerfile-utils', 'node-pty', 'node-addon-api', 'ws']) {
    t.notOk(modules.includes(left), `${left} is not in the image`);
  }
  t.equal(runtime.user, '1000:1000');
  t.same(runtime.exposed, ['8080', '8443', '9090']);
  t.same([...runtime.entrypoint!, ...runtime.cmd!], ['kube-stream-gateway', 'serve', '--config', '/etc/kube-stream-gateway/gateway.yaml']);
  t.equal(runtime.env.NODE_ENV, 'production');

  const version = await exitOf(entrypoint(runtime, ['--version']));
  t.same([version.code, version.stdout], [0, `${packageVersion}\n`]);

  // `serve` loads every module it needs from the production tree alone, listens, and stops cleanly.
  const gateway = entrypoint(runtime, ['serve', '--listen', '127.0.0.1:0', '--admin-listen', '127.0.0.1:0', '--upstream', `http://127.0.0.1:${await closedPort()}`]);
  const finished = exitOf(gateway);
  const lines = createInterface({ input: gateway.stdout! });
  for await (const line of lines) {
    if ((JSON.parse(line) as { event?: string }).event === 'listening') break;
  }
  gateway.kill('SIGTERM');
  const stopped = await finished;
  t.equal(stopped.code, 0, `serve exits 0 after SIGTERM ${stopped.stderr}`);
});

t.test("the HEALTHCHECK command: 0 only when the admin listener answers 200", async (t) => {
  const stage = replayDockerfileHealthcheck();
  let status = 200;
  const admin = http.createServer((request, response) => {
    response.writeHead(request.url === '/healthz' ? status : 404).end('ok');
  });
  admin.listen(0, '127.0.0.1');
  await once(admin, 'listening');
  t.teardown(() => admin.close());
  const url = `http://127.0.0.1:${(admin.address() as AddressInfo).port}/healthz`;
  const probe = async (target: string): Promise<number | null> => {
    const [command, ...args] = stage.command;
    const child = spawn(command!, args, { env: { ...imageEnvironment(), KSG_HEALTHCHECK_URL: target }, stdio: 'ignore' });
    return ((await once(child, 'exit')) as [number | null])[0];
  };
  t.equal(await probe(url), 0);
  status = 503;
  t.equal(await probe(url), 1);
  t.equal(await probe(`http://127.0.0.1:${await closedPort()}/healthz`), 1);
  t.match(stage.options, /--timeout=5s/);
  t.match(stage.command.join(' '), /http:\/\/127\.0\.0\.1:9090\/healthz/, 'the default is the admin port');
});

function replayDockerfileHealthcheck(): { options: string; command: string[] } {
  const instruction = parseDockerfile(readFileSync(DOCKERFILE, 'utf8')).find((candidate) => candidate.keyword === 'HEALTHCHECK');
  const match = /^(.*?)CMD\s+(\[.*\])$/.exec(instruction?.args ?? '');
  if (!match) throw new Error('no HEALTHCHECK ... CMD [exec form] in the Dockerfile');
  return { options: match[1]!.trim(), command: JSON.parse(match[2]!) as string[] };
}
