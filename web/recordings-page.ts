// The Recordings page: the recordings this gateway replica can read (docs/ui.md), filtered; terminal
// sessions replay in the asciinema web player, every recording downloads as its file.
import 'asciinema-player/dist/bundle/asciinema-player.css';
import { create as createPlayer, type Player } from 'asciinema-player';

interface RecordingRow {
  name: string;
  format: 'asciicast' | 'raw' | 'portforward';
  user: string | null;
  cluster: string | null;
  namespace: string | null;
  pod: string | null;
  container: string | null;
  kind: string | null;
  command: string[] | null;
  startedAt: string | null;
  size: number;
  modifiedAt: string;
  complete: boolean;
}

interface Listing {
  recordingEnabled: boolean;
  recordings: RecordingRow[];
  truncated: boolean;
  scanLimited: boolean;
}

export interface RecordingsPageContext {
  /** The interface's JSON API (app.ts), authenticated as the signed-in user. */
  api<T>(path: string): Promise<T>;
  /** `Authorization` for a request that is not JSON (the file itself). */
  authorization(): Record<string, string>;
  /** The API's base URL. */
  base: URL;
  /** A byte count for people (app.ts, as the Sessions page shows it). */
  bytes(count: number): string;
}

const FILTERS = ['user', 'cluster', 'namespace', 'pod', 'text'] as const;
const FORMAT_LABELS: Record<RecordingRow['format'], string> = {
  asciicast: 'terminal',
  raw: 'streams — download only',
  portforward: 'port-forward metadata — download only',
};

export function recordingsPage(context: RecordingsPageContext): { open(): void; close(): void } {
  const $ = <T extends HTMLElement>(id: string): T => document.getElementById(id) as T;
  const status = (text: string): void => void ($('recordings-status').textContent = text);
  let player: Player | undefined;
  let loading = 0;

  async function load(): Promise<void> {
    const query = new URLSearchParams();
    for (const field of FILTERS) {
      const value = $<HTMLInputElement>(`recordings-${field}`).value.trim();
      if (value) query.set(field, value);
    }
    for (const field of ['since', 'until'] as const) {
      const value = $<HTMLInputElement>(`recordings-${field}`).value;
      if (value) query.set(field, new Date(value).toISOString());
    }
    const attempt = ++loading;
    status('Loading…');
    try {
      const listing = await context.api<Listing>(`recordings?${query}`);
      if (attempt !== loading) return;
      $('recording-rows').replaceChildren(...listing.recordings.map(row));
      status(summary(listing));
    } catch (error) {
      if (attempt === loading) status((error as Error).message);
    }
  }

  function summary(listing: Listing): string {
    if (!listing.recordingEnabled) return 'Recording is off on this gateway (recording.directory).';
    const notes = [
      listing.recordings.length === 0 ? 'No recordings match.' : `${listing.recordings.length} recording${listing.recordings.length === 1 ? '' : 's'}, newest first.`,
      listing.truncated ? 'More match: narrow the filters or the time range.' : '',
      listing.scanLimited ? 'The directory holds more files than one listing reads: older ones are not shown.' : '',
    ];
    return notes.filter(Boolean).join(' ');
  }

  function row(recording: RecordingRow): HTMLTableRowElement {
    const tr = document.createElement('tr');
    tr.dataset.recording = recording.name;
    const texts = [
      recording.startedAt ? new Date(recording.startedAt).toLocaleString() : '',
      recording.user ?? '',
      recording.cluster ?? '',
      recording.namespace ?? '',
      recording.pod ?? '',
      recording.container ?? '',
      (recording.command ?? []).join(' '),
      `${recording.kind ?? ''} (${FORMAT_LABELS[recording.format]})`,
      context.bytes(recording.size),
      recording.complete ? 'ended' : 'running or cut short',
    ];
    for (const text of texts) tr.insertCell().textContent = text;
    tr.cells[8]!.className = 'number';
    const actions = tr.insertCell();
    if (recording.format === 'asciicast') {
      const replay = button('Replay', () => void play(recording));
      replay.className = 'replay';
      actions.append(replay, ' ');
    }
    const download = button('Download', () => void save(recording.name));
    download.className = 'download';
    actions.append(download);
    return tr;
  }

  function button(text: string, onClick: () => void): HTMLButtonElement {
    const element = document.createElement('button');
    element.type = 'button';
    element.textContent = text;
    element.addEventListener('click', onClick);
    return element;
  }

  async function file(name: string): Promise<Response> {
    const response = await fetch(new URL(`recordings/${encodeURIComponent(name)}`, context.base), { headers: context.authorization(), credentials: 'same-origin', cache: 'no-store' });
    if (!response.ok) {
      const body = (await response.json().catch(() => ({}))) as { message?: string };
      throw new Error(body.message ?? `${response.status} ${response.statusText}`);
    }
    return response;
  }

  async function play(recording: RecordingRow): Promise<void> {
    stopPlayer();
    status(`Loading ${recording.name}…`);
    document.body.dataset.player = 'loading';
    try {
      const cast = await (await file(recording.name)).text();
      const screen = $('player');
      screen.hidden = false;
      $('player-title').textContent = `${recording.user ?? ''} in ${recording.namespace ?? ''}/${recording.pod ?? ''}: ${(recording.command ?? []).join(' ')}`;
      player = createPlayer({ data: cast }, $('player-screen'), { autoPlay: true, fit: 'width', idleTimeLimit: 2, controls: true });
      player.addEventListener('playing', () => void (document.body.dataset.player = 'playing'));
      player.addEventListener('ended', () => void (document.body.dataset.player = 'ended'));
      status('');
    } catch (error) {
      document.body.dataset.player = 'failed';
      status((error as Error).message);
    }
  }

  /** The file through a short-lived object URL: the token is a header, which a plain link could not send. */
  async function save(name: string): Promise<void> {
    try {
      const blob = await (await file(name)).blob();
      const url = URL.createObjectURL(blob);
      const link = document.createElement('a');
      link.href = url;
      link.download = name;
      link.hidden = true;
      document.body.append(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(url), 60_000);
    } catch (error) {
      status((error as Error).message);
    }
  }

  function stopPlayer(): void {
    player?.dispose();
    player = undefined;
    $('player-screen').replaceChildren();
    $('player').hidden = true;
    delete document.body.dataset.player;
  }

  $('recording-filters').addEventListener('submit', (event) => {
    event.preventDefault();
    void load();
  });
  $('player-close').addEventListener('click', stopPlayer);

  // What the player shows, as text, for people and for the browser test alike.
  (window as unknown as Record<string, unknown>).kubeStreamGatewayPlayer = {
    text: (): string => [...document.querySelectorAll('#player-screen .ap-line')].map((line) => line.textContent ?? '').join('\n'),
  };

  return {
    open: () => void load(),
    close: stopPlayer,
  };
}
