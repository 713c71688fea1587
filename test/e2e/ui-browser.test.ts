// The web interface in a real browser (Debian's chromium, driven by puppeteer-core): sign in with a
// token, open a terminal to the demo pod over the gateway's WebSocket exec, type, resize; then the
// Sessions page shows a kubectl session live and an admin ends it; the Recordings page replays a
// recorded kubectl terminal session in the asciinema player and downloads it. Screenshots for the
// README are taken here, so they always show the interface as it is.
import t from 'tap';
import { spawn } from 'node:child_process';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';
import { kubectlPath } from '../helpers/kubectl.js';
import { startUiStack, UI_USERS, type UiStack } from '../helpers/ui-gateway.js';
import { startPtyTerminal } from '../helpers/pty-terminal.js';
import { until } from '../helpers/wait.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const IMAGES = new URL('../../docs/images/', import.meta.url).pathname;
/** Hang guard for each browser wait: far above what a loaded machine needs, far below tap's limit. */
const WAIT_MS = 30_000;

interface TerminalHook {
  text(): string;
  size(): { cols: number; rows: number };
}
/** What the page functions below read in the browser (the tests compile without the DOM library). */
interface PageGlobals {
  kubeStreamGatewayTerminal?: TerminalHook;
  kubeStreamGatewayWatch?: TerminalHook;
  kubeStreamGatewayPlayer?: { text(): string };
  document: { cookie: string; getElementById(id: string): { value: string } | null; querySelectorAll(selector: string): Iterable<{ textContent: string | null; dataset: Record<string, string | undefined> }> };
  sessionStorage: { getItem(key: string): string | null };
}

let stack: UiStack;
let browser: Browser;
let page: Page;
/** Where the browser saves downloads. */
let downloads: string;

t.before(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install -y chromium (.ci/run does)`);
  stack = await startUiStack(t, {}, { recording: true });
  downloads = join(stack.env.dir, 'downloads');
  await mkdir(downloads);
  browser = await puppeteer.launch({
    executablePath: CHROMIUM,
    headless: true,
    // The test CA is not the system's; root in CI needs --no-sandbox.
    args: ['--no-sandbox', '--ignore-certificate-errors', '--disable-gpu', '--disable-dev-shm-usage'],
    defaultViewport: { width: 1100, height: 640 },
    downloadBehavior: { policy: 'allow', downloadPath: downloads },
    timeout: WAIT_MS,
  });
  t.teardown(() => browser.close());
  page = await browser.newPage();
  page.setDefaultTimeout(WAIT_MS);
});

/** Waits until the terminal shows a line equal to `line`. */
async function terminalLine(line: string): Promise<void> {
  await page.waitForFunction((wanted: string) => (globalThis as unknown as PageGlobals).kubeStreamGatewayTerminal?.text().split('\n').some((row) => row.trim() === wanted) ?? false, {}, line);
}

t.test('sign in with a token, a terminal to the demo pod, typing and resizing', async (t) => {
  const violations: string[] = [];
  page.on('console', (message) => {
    if (/Content.Security.Policy|Refused to/i.test(message.text())) violations.push(message.text());
  });
  await page.goto(`${stack.url}/ui/`);
  await page.waitForSelector('#sign-in:not([hidden])');
  await page.type('#token', UI_USERS.root);
  await page.click('#token-form button[type=submit]');
  await page.waitForSelector('#terminal:not([hidden])');
  t.equal(await page.$eval('#who', (element) => element.textContent), 'root (admin)');
  t.equal(await page.evaluate(() => (globalThis as unknown as PageGlobals).document.cookie), '', 'no cookie is set');
  t.equal(await page.evaluate((key) => (globalThis as unknown as PageGlobals).sessionStorage.getItem(key), 'kube-stream-gateway.token'), UI_USERS.root, 'the token is kept for the tab');

  // The pod list comes from the cluster through the gateway, as the signed-in user.
  await page.waitForFunction(() => (globalThis as unknown as PageGlobals).document.getElementById('pod')?.value === 'demo');
  await page.click('#connect');
  await page.waitForSelector('body[data-terminal="connected"]');
  // Typed once the shell shows its prompt: a shell setting up its terminal may discard input typed earlier.
  await page.waitForFunction(() => ((globalThis as unknown as PageGlobals).kubeStreamGatewayTerminal?.text().trim().length ?? 0) > 0);
  await page.click('#screen');
  await page.keyboard.type('echo hi\r');
  await terminalLine('hi');
  t.pass('typed echo hi, the terminal shows hi');

  const before = await page.evaluate(() => (globalThis as unknown as PageGlobals).kubeStreamGatewayTerminal!.size());
  await page.setViewport({ width: 820, height: 460 });
  await page.waitForFunction((old: { cols: number; rows: number }) => {
    const now = (globalThis as unknown as PageGlobals).kubeStreamGatewayTerminal!.size();
    return now.cols !== old.cols && now.rows !== old.rows;
  }, {}, before);
  const after = await page.evaluate(() => (globalThis as unknown as PageGlobals).kubeStreamGatewayTerminal!.size());
  await page.keyboard.type('stty size\r');
  await terminalLine(`${after.rows} ${after.cols}`);
  t.pass(`the pod's terminal follows the window: ${before.rows}x${before.cols} -> ${after.rows}x${after.cols}`);
  await page.keyboard.type('clear; echo "hello from the demo pod, through kube-stream-gateway"; stty size\r');
  await terminalLine(`${after.rows} ${after.cols}`);
  await page.screenshot({ path: `${IMAGES}ui-terminal.png` });
  t.same(violations, [], 'no Content-Security-Policy violation');
});

t.test('the Sessions page shows a kubectl session live, and an admin ends it', async (t) => {
  const kubeconfig = await stack.kubeconfig('alice');
  const kubectl = spawn(kubectlPath(33), ['--kubeconfig', kubeconfig, 'exec', '-i', 'demo', '--', 'cat'], { stdio: ['pipe', 'pipe', 'pipe'], env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp' } });
  let stderr = '';
  kubectl.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => kubectl.on('exit', (code) => resolve(code)));
  const guard = setTimeout(() => kubectl.kill('SIGKILL'), WAIT_MS * 2);
  t.teardown(() => {
    clearTimeout(guard);
    kubectl.kill('SIGKILL');
  });
  kubectl.stdin.write('some input\n');

  await page.setViewport({ width: 1400, height: 520 });
  await page.goto(`${stack.url}/ui/#sessions`);
  // Bytes update live: the row shows what kubectl sent once the next refresh reads it.
  await page.waitForFunction(() => [...(globalThis as unknown as PageGlobals).document.querySelectorAll('#session-rows tr')].some((tr) => tr.textContent?.includes('alice') && tr.textContent.includes('11 B')));
  await page.waitForSelector('#session-rows a[href^="#watch/"]');
  const cells = await page.$$eval('#session-rows tr', (rows) => rows.map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent ?? '')));
  const alice = cells.find((cells) => cells[0] === 'alice');
  t.match(alice, ['alice', 'legacy', 'default', 'demo', 'shell', 'cat', 'exec', '127.0.0.1', '11 B'], 'user, cluster, namespace, pod, container (kubectl\'s default), command, kind, client, bytes in');
  t.ok(cells.some((cells) => cells[0] === 'root' && cells[5] === 'sh'), "the browser terminal's own session is listed too");
  await page.screenshot({ path: `${IMAGES}ui-sessions.png` });

  // Watch it, read-only: what kubectl's command writes from now on appears in the page.
  const id = await page.evaluate(() => [...(globalThis as unknown as PageGlobals).document.querySelectorAll('#session-rows tr')].find((tr) => tr.textContent?.startsWith('alice'))?.dataset.session);
  t.ok(id, "alice's session has its audit ID in the table");
  await page.click(`a[href="#watch/${id}"]`);
  await page.waitForSelector('body[data-watch="connected"]');
  kubectl.stdin.write('watch me\n');
  await page.waitForFunction(() => (globalThis as unknown as PageGlobals).kubeStreamGatewayWatch?.text().split('\n').some((row) => row.trim() === 'watch me') ?? false);
  t.pass('the watcher sees the output as it happens');
  await page.screenshot({ path: `${IMAGES}ui-watch.png` });
  await page.goto(`${stack.url}/ui/#sessions`);

  const end = await page.waitForSelector('xpath///tr[td[1][text()="alice"]]//button[text()="End"]');
  await end!.click();
  t.not(await exited, 0, 'kubectl exits with a failure');
  t.match(stderr, /session ended by admin root/, 'kubectl prints the Status naming the admin');
  await page.waitForFunction(() => ![...(globalThis as unknown as PageGlobals).document.querySelectorAll('#session-rows tr td:first-child')].some((td) => td.textContent === 'alice'));
});

t.test('the Recordings page lists a recorded kubectl terminal session, replays it in the asciinema player, downloads it', async (t) => {
  const violations: string[] = [];
  page.on('console', (message) => {
    if (/Content.Security.Policy|Refused to/i.test(message.text())) violations.push(message.text());
  });
  const before = stack.logs.records.length;
  const kubectl = startPtyTerminal(kubectlPath(33), ['--kubeconfig', await stack.kubeconfig('alice'), 'exec', '-it', 'demo', '--', 'sh']);
  const guard = setTimeout(() => kubectl.terminal.kill('SIGKILL'), WAIT_MS * 2);
  t.teardown(() => clearTimeout(guard));
  await kubectl.waitFor(/# $/);
  kubectl.terminal.write('echo "replayed-$((6*7))"\r');
  await kubectl.waitFor(/replayed-42/);
  kubectl.terminal.write('exit 0\r');
  t.equal(await kubectl.exited, 0, 'kubectl exec -it ran and exited');
  const end = await stack.logs.waitFor((record) => record.event === 'session-end' && record.user === 'alice' && stack.logs.records.indexOf(record) >= before);
  const name = end.recording as string;
  t.match(name, /\.cast$/, 'recorded as asciicast');
  const path = join(stack.recordingsDir!, name);
  await until(() => /"m", "exit 0"\]\n$/.test(readFileSync(path, 'utf8')), 'the recording to be complete');

  await page.setViewport({ width: 1400, height: 900 });
  await page.goto(`${stack.url}/ui/#recordings`);
  const row = `#recording-rows tr[data-recording="${name}"]`;
  await page.waitForSelector(row);
  const cells = await page.$$eval(`${row} td`, (tds) => tds.map((td) => td.textContent ?? ''));
  t.match(cells.slice(1, 10), ['alice', 'legacy', 'default', 'demo', 'shell', 'sh', 'exec (terminal)', /B$/, 'ended'], 'user, cluster, namespace, pod, command, kind, size, state');
  t.ok(await page.$('#recording-rows tr td:nth-child(8)::-p-text(download only)'), 'a stream recording (the Sessions test\'s cat) says it is download only');

  await page.type('#recordings-user', 'alice');
  await page.type('#recordings-text', 'sh');
  await page.click('#recording-filters button[type=submit]');
  await page.waitForFunction(() => {
    const rows = [...(globalThis as unknown as PageGlobals).document.querySelectorAll('#recording-rows tr')];
    return rows.length > 0 && rows.every((tr) => tr.textContent?.includes('alice'));
  });
  t.ok(await page.$(row), "filtered to alice's recordings, hers is listed");

  await page.click(`${row} button.replay`);
  await page.waitForSelector('body[data-player="ended"]');
  // The player draws on the next animation frame after its last event.
  await page.waitForFunction(() => /replayed-42/.test((globalThis as unknown as PageGlobals).kubeStreamGatewayPlayer!.text()));
  const played = await page.evaluate(() => (globalThis as unknown as PageGlobals).kubeStreamGatewayPlayer!.text());
  t.match(played, /replayed-42/, 'the player shows what the session printed');
  t.match(played, /echo "replayed-\$\(\(6\*7\)\)"/, 'and what the shell echoed of the typing');
  await page.screenshot({ path: `${IMAGES}ui-recordings.png` });

  await page.click(`${row} button.download`);
  // Chromium writes a download under a temporary name and renames it when complete.
  await until(() => existsSync(join(downloads, name)), 'the downloaded file', WAIT_MS);
  t.same(await readdir(downloads), [name], 'saved under the recording\'s name');
  t.ok(readFileSync(join(downloads, name)).equals(readFileSync(path)), 'the downloaded file is the recording, byte for byte');
  t.same(violations, [], 'no Content-Security-Policy violation');
});

t.test('a page on a foreign origin cannot open a session, even holding a valid token', async (t) => {
  // Any other site the user visits: here a plain page on another loopback port. It knows alice's
  // token (the worst case) and asks the browser for the gateway's exec WebSocket with it.
  const site = createServer((_req, res) => res.end('<!doctype html><title>elsewhere</title>'));
  await new Promise<void>((resolve) => site.listen(0, '127.0.0.1', resolve));
  t.teardown(() => site.close());
  const foreign = await browser.newPage();
  t.teardown(() => foreign.close());
  await foreign.goto(`http://127.0.0.1:${(site.address() as AddressInfo).port}/`);
  const target = `${stack.url.replace(/^https:/, 'wss:')}/api/v1/namespaces/default/pods/demo/exec?command=echo&command=foreign-page-ran&stdout=true`;
  const tokenProtocol = `base64url.bearer.authorization.k8s.io.${Buffer.from(UI_USERS.alice).toString('base64url').replace(/=+$/, '')}`;
  const refusedBefore = stack.logs.find((record) => record.event === 'session-refused').length;
  const outcome = await foreign.evaluate(
    (url: string, protocols: string[]) =>
      new Promise<string>((resolve) => {
        const socket = new (globalThis as unknown as { WebSocket: new (url: string, protocols: string[]) => { onopen: () => void; onclose: (event: { code: number }) => void } }).WebSocket(url, protocols);
        socket.onopen = () => resolve('opened');
        socket.onclose = (event) => resolve(`closed ${event.code}`);
      }),
    target,
    ['v5.channel.k8s.io', tokenProtocol],
  );
  t.equal(outcome, 'closed 1006', 'the browser never gets a WebSocket: the upgrade was refused');
  const refusal = await stack.logs.waitFor((record) => record.event === 'session-refused' && stack.logs.find((r) => r.event === 'session-refused').indexOf(record) >= refusedBefore);
  t.match(refusal, { status: 403 }, 'refused by the Origin check, 403');
  t.match(String(refusal.reason), /origin/i, 'for its Origin');
  t.notOk(stack.logs.find((record) => record.event === 'session-start' && JSON.stringify(record.command ?? '').includes('foreign-page-ran')).length, 'nothing ran');
});
