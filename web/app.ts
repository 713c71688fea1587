// The web interface: sign-in, a terminal over the gateway's own WebSocket exec, and the live
// session list. It talks only to the gateway that served it; the token stays in this tab.
import './app.css';
import { Terminal } from '@xterm/xterm';
import { FitAddon } from '@xterm/addon-fit';
import { recordingsPage } from './recordings-page.js';

// xterm.js adds <style> elements at run time; the page's CSP admits them by this nonce only.
const styleNonce = document.querySelector('meta[name="csp-style-nonce"]')?.getAttribute('content') ?? '';
const createElement = Document.prototype.createElement;
Document.prototype.createElement = function (this: Document, tagName: string, options?: ElementCreationOptions) {
  const element = createElement.call(this, tagName, options);
  if (tagName.toLowerCase() === 'style') element.nonce = styleNonce;
  return element;
} as typeof Document.prototype.createElement;

const TOKEN_KEY = 'kube-stream-gateway.token';
const BEARER_PROTOCOL_PREFIX = 'base64url.bearer.authorization.k8s.io.';
const EXEC_PROTOCOL = 'v5.channel.k8s.io';
const WATCH_PROTOCOL = 'watch.kube-stream-gateway.v1';
const CHANNEL = { stdin: 0, stdout: 1, stderr: 2, error: 3, resize: 4, close: 255 } as const;
const API = new URL('api/', document.baseURI);

const $ = <T extends HTMLElement>(id: string): T => document.getElementById(id) as T;

interface Whoami {
  user: string;
  groups: string[];
  admin: boolean;
}

function token(): string | null {
  return sessionStorage.getItem(TOKEN_KEY);
}

async function api<T>(path: string, init: RequestInit = {}): Promise<T> {
  const headers = new Headers(init.headers);
  const bearer = token();
  if (bearer) headers.set('authorization', `Bearer ${bearer}`);
  const response = await fetch(new URL(path, API), { ...init, headers, credentials: 'same-origin', cache: 'no-store' });
  const body = (await response.json().catch(() => ({}))) as T & { message?: string };
  if (!response.ok) throw Object.assign(new Error(body.message ?? `${response.status} ${response.statusText}`), { status: response.status });
  return body;
}

/** A request to the gateway's own Kubernetes API (proxied to the cluster as the signed-in user). */
async function kube<T>(path: string): Promise<T> {
  const bearer = token();
  const response = await fetch(path, { headers: bearer ? { authorization: `Bearer ${bearer}` } : {}, credentials: 'same-origin', cache: 'no-store' });
  if (!response.ok) throw new Error(`${response.status} ${response.statusText}`);
  return (await response.json()) as T;
}

let me: Whoami | undefined;

async function signIn(): Promise<void> {
  try {
    me = await api<Whoami>('whoami');
  } catch (error) {
    me = undefined;
    if ((error as { status?: number }).status === 401 && token()) $('sign-in-error').textContent = 'That token was not accepted.';
    else if ((error as { status?: number }).status !== 401) $('sign-in-error').textContent = (error as Error).message;
  }
  $('who').textContent = me ? `${me.user}${me.admin ? ' (admin)' : ''}` : '';
  $('sign-out').hidden = !me || !token();
  show();
}

function show(): void {
  const [route = '', argument] = location.hash.slice(1).split('/');
  const page = me ? route || 'terminal' : 'sign-in';
  for (const id of ['sign-in', 'terminal', 'sessions', 'watch', 'recordings']) $(id).hidden = id !== page;
  if (page === 'terminal') void terminalPage.open();
  if (page === 'sessions') sessionsPage.start();
  else sessionsPage.stop();
  if (page === 'watch' && argument) watchPage.open(decodeURIComponent(argument));
  else watchPage.close();
  if (page === 'recordings') recordings.open();
  else recordings.close();
}

/** What a terminal shows, as text, for people and for the browser test alike. */
function exposeBuffer(name: string, term: Terminal): void {
  (window as unknown as Record<string, unknown>)[name] = {
    text: (): string => {
      const buffer = term.buffer.active;
      const lines: string[] = [];
      for (let row = 0; row < buffer.length; row++) lines.push(buffer.getLine(row)?.translateToString(true) ?? '');
      return lines.join('\n');
    },
    size: (): { cols: number; rows: number } => ({ cols: term.cols, rows: term.rows }),
  };
}

function webSocketUrl(path: string): URL {
  const url = new URL(path, location.href);
  url.protocol = location.protocol === 'https:' ? 'wss:' : 'ws:';
  return url;
}

/** The WebSocket subprotocols: `first`, and the tab's token the way the gateway reads it from a browser. */
function protocolsWith(first: string): string[] {
  const bearer = token();
  return bearer ? [first, BEARER_PROTOCOL_PREFIX + base64url(bearer)] : [first];
}

$('token-form').addEventListener('submit', (event) => {
  event.preventDefault();
  const input = $<HTMLInputElement>('token');
  sessionStorage.setItem(TOKEN_KEY, input.value.trim());
  input.value = '';
  void signIn();
});
$('sign-out').addEventListener('click', () => {
  sessionStorage.removeItem(TOKEN_KEY);
  terminalPage.disconnect();
  void signIn();
});
window.addEventListener('hashchange', show);

const terminalPage = (() => {
  let term: Terminal | undefined;
  let fit: FitAddon | undefined;
  let socket: WebSocket | undefined;
  let loaded = false;
  const encoder = new TextEncoder();
  const status = (text: string): void => void ($('terminal-status').textContent = text);

  function ensureTerminal(): Terminal {
    if (term) return term;
    term = new Terminal({ cursorBlink: true, fontSize: 14, convertEol: false });
    fit = new FitAddon();
    term.loadAddon(fit);
    term.open($('screen'));
    fit.fit();
    term.onData((data) => send(CHANNEL.stdin, encoder.encode(data)));
    term.onResize(({ cols, rows }) => sendSize(cols, rows));
    window.addEventListener('resize', () => fit?.fit());
    exposeBuffer('kubeStreamGatewayTerminal', term);
    return term;
  }

  function send(channel: number, payload: Uint8Array): void {
    if (socket?.readyState !== WebSocket.OPEN) return;
    const frame = new Uint8Array(payload.length + 1);
    frame[0] = channel;
    frame.set(payload, 1);
    socket.send(frame);
  }

  function sendSize(cols: number, rows: number): void {
    send(CHANNEL.resize, encoder.encode(JSON.stringify({ Width: cols, Height: rows })));
  }

  async function loadChoices(): Promise<void> {
    const { clusters, default: preferred } = await api<{ clusters: string[]; default: string | null }>('clusters');
    const select = $<HTMLSelectElement>('cluster');
    select.replaceChildren(...clusters.map((name) => new Option(name, name, false, name === preferred)));
    await loadPods();
  }

  /** The pods of the chosen namespace, through the gateway as the signed-in user; typing one in works too. */
  async function loadPods(): Promise<void> {
    const cluster = $<HTMLSelectElement>('cluster').value;
    const namespace = $<HTMLInputElement>('namespace').value.trim();
    if (!cluster || !namespace) return;
    try {
      const list = await kube<{ items: Array<{ metadata: { name: string }; spec?: { containers?: Array<{ name: string }> } }> }>(
        `/clusters/${encodeURIComponent(cluster)}/api/v1/namespaces/${encodeURIComponent(namespace)}/pods`,
      );
      $('pods').replaceChildren(...list.items.map((pod) => new Option(pod.metadata.name)));
      const containers = new Set(list.items.flatMap((pod) => (pod.spec?.containers ?? []).map((container) => container.name)));
      $('containers').replaceChildren(...[...containers].map((name) => new Option(name)));
      const pod = $<HTMLInputElement>('pod');
      if (!pod.value && list.items[0]) pod.value = list.items[0].metadata.name;
    } catch (error) {
      status(`Could not list pods (${(error as Error).message}); type the pod's name.`);
    }
  }

  function connect(): void {
    disconnect();
    const terminal = ensureTerminal();
    terminal.reset();
    const cluster = $<HTMLSelectElement>('cluster').value;
    const namespace = $<HTMLInputElement>('namespace').value.trim();
    const pod = $<HTMLInputElement>('pod').value.trim();
    const container = $<HTMLInputElement>('container').value.trim();
    const query = new URLSearchParams({ stdin: 'true', stdout: 'true', tty: 'true' });
    if (container) query.set('container', container);
    for (const word of $<HTMLInputElement>('command').value.trim().split(/\s+/)) query.append('command', word);
    const url = webSocketUrl(`/clusters/${encodeURIComponent(cluster)}/api/v1/namespaces/${encodeURIComponent(namespace)}/pods/${encodeURIComponent(pod)}/exec?${query}`);
    const ws = new WebSocket(url, protocolsWith(EXEC_PROTOCOL));
    ws.binaryType = 'arraybuffer';
    socket = ws;
    status(`Connecting to ${namespace}/${pod}…`);
    const decoder = new TextDecoder();
    ws.addEventListener('open', () => {
      status(`Connected to ${cluster}: ${namespace}/${pod}${container ? ` (${container})` : ''}`);
      document.body.dataset.terminal = 'connected';
      fit?.fit();
      sendSize(terminal.cols, terminal.rows);
      terminal.focus();
    });
    ws.addEventListener('message', (event) => {
      const bytes = new Uint8Array(event.data as ArrayBuffer);
      const channel = bytes[0];
      const payload = bytes.subarray(1);
      if (channel === CHANNEL.stdout || channel === CHANNEL.stderr) terminal.write(payload);
      else if (channel === CHANNEL.error) {
        const text = decoder.decode(payload);
        let message = text;
        try {
          const parsed = JSON.parse(text) as { status?: string; message?: string };
          message = parsed.status === 'Success' ? 'exited' : (parsed.message ?? text);
        } catch {
          // Not a Status: shown as it came.
        }
        status(`Session ended: ${message}`);
      }
    });
    ws.addEventListener('close', (event) => {
      if (socket !== ws) return;
      document.body.dataset.terminal = 'closed';
      if (!$('terminal-status').textContent?.startsWith('Session ended')) status(`Disconnected${event.reason ? `: ${event.reason}` : ''} (code ${event.code})`);
    });
  }

  function disconnect(): void {
    const ws = socket;
    socket = undefined;
    ws?.close();
  }

  $('target').addEventListener('submit', (event) => {
    event.preventDefault();
    connect();
  });
  $('cluster').addEventListener('change', () => void loadPods());
  $('namespace').addEventListener('change', () => void loadPods());

  return {
    async open(): Promise<void> {
      ensureTerminal();
      fit?.fit();
      if (loaded) return;
      loaded = true;
      await loadChoices().catch((error: Error) => status(error.message));
    },
    disconnect,
  };
})();

/** A live terminal session, read-only: its output and its resizes as they happen (from when the watch starts). */
const watchPage = (() => {
  let term: Terminal | undefined;
  let socket: WebSocket | undefined;
  let watching: string | undefined;
  const status = (text: string): void => void ($('watch-status').textContent = text);

  function open(id: string): void {
    if (watching === id) return;
    close();
    watching = id;
    term ??= new Terminal({ disableStdin: true, fontSize: 14, cursorBlink: false });
    if (!term.element) term.open($('watch-screen'));
    term.reset();
    exposeBuffer('kubeStreamGatewayWatch', term);
    $('watch-title').textContent = id;
    const ws = new WebSocket(webSocketUrl(new URL(`sessions/${encodeURIComponent(id)}/watch`, API).pathname), protocolsWith(WATCH_PROTOCOL));
    ws.binaryType = 'arraybuffer';
    socket = ws;
    status('Connecting…');
    ws.addEventListener('open', () => {
      status('Watching, read-only: output from now on.');
      document.body.dataset.watch = 'connected';
    });
    ws.addEventListener('message', (event) => {
      if (typeof event.data !== 'string') return void term!.write(new Uint8Array(event.data as ArrayBuffer));
      const message = JSON.parse(event.data) as { resize?: { cols: number; rows: number } };
      if (message.resize) term!.resize(message.resize.cols, message.resize.rows);
    });
    ws.addEventListener('close', (event) => {
      if (socket !== ws) return;
      document.body.dataset.watch = 'closed';
      status(event.code === 1000 && event.reason ? `Stopped: ${event.reason}.` : `Disconnected (code ${event.code}).`);
    });
  }

  function close(): void {
    watching = undefined;
    const ws = socket;
    socket = undefined;
    ws?.close();
  }

  return { open, close };
})();

interface SessionRow {
  id: string;
  user: string | null;
  cluster: string;
  namespace: string | null;
  pod: string | null;
  container: string | null;
  command: string[] | null;
  kind: string;
  client: string | null;
  bytesFromClient: number;
  bytesToClient: number;
  durationMs: number;
  /** The replica the session runs on (ui.peers); `local`: the one that served this page. */
  replica?: { name: string; address: string; local: boolean };
}

/** How each other replica answered the session list (ui.peers). */
interface PeerRow {
  name?: string;
  address: string;
  ok: boolean;
  error?: string;
}

const sessionsPage = (() => {
  let timer: number | undefined;
  const status = (text: string): void => void ($('sessions-status').textContent = text);

  /** Rows by session ID, updated in place: a button under the pointer stays the same button across refreshes. */
  const rows = new Map<string, HTMLTableRowElement>();

  async function refresh(): Promise<void> {
    try {
      const { sessions, peers = [] } = await api<{ sessions: SessionRow[]; peers?: PeerRow[] }>('sessions');
      const live = new Set(sessions.map((session) => session.id));
      for (const [id, tr] of rows) {
        if (live.has(id)) continue;
        tr.remove();
        rows.delete(id);
      }
      for (const session of sessions) {
        let tr = rows.get(session.id);
        if (!tr) {
          tr = row(session);
          rows.set(session.id, tr);
          $('session-rows').append(tr);
        }
        const texts = cellTexts(session);
        texts.forEach((text, index) => {
          const cell = tr!.cells[index]!;
          if (cell.textContent !== text) cell.textContent = text;
        });
      }
      const failed = peers.filter((peer) => !peer.ok).map((peer) => `replica ${peer.name ?? peer.address} did not answer (${peer.error ?? 'error'})`);
      status([sessions.length === 0 ? 'No live sessions.' : '', ...failed].filter(Boolean).join('; '));
    } catch (error) {
      status((error as Error).message);
    }
  }

  function cellTexts(session: SessionRow): string[] {
    return [
      session.user ?? '',
      session.cluster,
      session.namespace ?? '',
      session.pod ?? '',
      session.container ?? '',
      (session.command ?? []).join(' '),
      session.kind,
      session.client ?? '',
      bytes(session.bytesFromClient),
      bytes(session.bytesToClient),
      duration(session.durationMs),
      session.replica ? `${session.replica.name} (${session.replica.address})` : '',
    ];
  }

  function row(session: SessionRow): HTMLTableRowElement {
    const tr = document.createElement('tr');
    tr.dataset.session = session.id;
    cellTexts(session).forEach((_, index) => {
      const cell = tr.insertCell();
      if (index >= 8 && index <= 10) cell.className = 'number';
    });
    const actions = tr.insertCell();
    // Watch reaches sessions of the replica that serves the page only (docs/ui.md, "Several replicas").
    if ((session.kind === 'exec' || session.kind === 'attach') && session.replica?.local !== false) {
      const watch = document.createElement('a');
      watch.href = `#watch/${encodeURIComponent(session.id)}`;
      watch.textContent = 'Watch';
      actions.append(watch, ' ');
    }
    if (me?.admin) {
      const end = document.createElement('button');
      end.type = 'button';
      end.textContent = 'End';
      end.addEventListener('click', () => {
        end.disabled = true;
        api(`sessions/${encodeURIComponent(session.id)}/end`, { method: 'POST' })
          .then(() => status(`Ended ${session.user ?? ''}'s session in ${session.pod ?? ''}.`))
          .catch((error: Error) => status(error.message))
          .finally(() => void refresh());
      });
      actions.append(end);
    }
    return tr;
  }

  return {
    start(): void {
      if (timer !== undefined) return;
      void refresh();
      timer = window.setInterval(() => void refresh(), 1000);
    },
    stop(): void {
      window.clearInterval(timer);
      timer = undefined;
      // Rebuilt on the next visit: the signed-in user (and so the End buttons) may have changed.
      for (const tr of rows.values()) tr.remove();
      rows.clear();
    },
  };
})();

const recordings = recordingsPage({
  api,
  authorization: (): Record<string, string> => {
    const bearer = token();
    return bearer ? { authorization: `Bearer ${bearer}` } : {};
  },
  base: API,
  bytes,
});

function base64url(text: string): string {
  let binary = '';
  for (const byte of new TextEncoder().encode(text)) binary += String.fromCharCode(byte);
  return btoa(binary).replaceAll('+', '-').replaceAll('/', '_').replace(/=+$/, '');
}

function bytes(count: number): string {
  if (count < 1024) return `${count} B`;
  if (count < 1024 * 1024) return `${(count / 1024).toFixed(1)} KiB`;
  return `${(count / 1024 / 1024).toFixed(1)} MiB`;
}

function duration(ms: number): string {
  const seconds = Math.floor(ms / 1000);
  return `${Math.floor(seconds / 60)}:${String(seconds % 60).padStart(2, '0')}`;
}

void signIn();
