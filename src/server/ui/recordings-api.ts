import type { IncomingMessage, ServerResponse } from 'node:http';
import { pipeline } from 'node:stream/promises';
import type { UserInfo } from '../../auth/identity.js';
import { HttpStatusError } from '../../net/http-answers.js';
import type { Logger } from '../../observability/logger.js';
import { describeRecording, isRecordingName, listRecordings, openRecording, type RecordingEntry, type RecordingFormat, type RecordingQuery } from '../../recording/recording-index.js';
import { securityHeaders } from './security-headers.js';

/** The caller of one request, authenticated only once the route and method are known good. */
type Caller = () => Promise<{ user: UserInfo; admin: boolean }>;

const CONTENT_TYPES: Record<RecordingFormat, string> = {
  asciicast: 'application/x-asciicast',
  raw: 'application/octet-stream',
  portforward: 'application/x-ndjson',
};

const DEFAULT_LIMIT = 100;
const MAX_LIMIT = 500;
/** A filter value longer than this is no user, cluster, namespace or pod name. */
const MAX_FILTER_LENGTH = 256;
const FILTERS = ['user', 'cluster', 'namespace', 'pod', 'text'] as const;

/** Whether `route` (under `{ui.path}api/`) is the Recordings page's. */
export function isRecordingsRoute(route: string): boolean {
  return route === 'recordings' || route.startsWith('recordings/');
}

/**
 * The Recordings page's API: the recordings in `recording.directory` this replica can read, and one
 * of them as a file (for the player and for download). Admins see every recording; others only those
 * whose header names them as the user. GET (and HEAD) only: nothing here changes anything.
 */
export class RecordingsApi {
  constructor(
    /** `recording.directory`; undefined when recording is off. */
    private readonly directory: string | undefined,
    private readonly logger: Logger,
  ) {}

  async serve(route: string, req: IncomingMessage, res: ServerResponse, caller: Caller): Promise<void> {
    // The name is matched as the client sent it (not decoded): `..`, `%2e%2e`, `%2f`, `\` and NUL are no name.
    const name = route === 'recordings' ? undefined : route.slice('recordings/'.length);
    if (name !== undefined && !isRecordingName(name)) throw new HttpStatusError(404, 'NotFound', 'the web interface has no such API');
    if (req.method !== 'GET' && req.method !== 'HEAD') throw new HttpStatusError(405, 'MethodNotAllowed', `${req.method ?? ''} is not allowed here; use GET`);
    const { user, admin } = await caller();
    const visible = (entry: RecordingEntry): boolean => admin || (entry.user !== null && entry.user === user.name);
    if (name === undefined) return this.list(req, res, visible);
    return this.file(name, req, res, user, visible);
  }

  private async list(req: IncomingMessage, res: ServerResponse, visible: (entry: RecordingEntry) => boolean): Promise<void> {
    const query = parseQuery(new URLSearchParams((req.url ?? '').split('?')[1] ?? ''), visible);
    const listing = this.directory === undefined ? { recordings: [], truncated: false, scanLimited: false } : await listRecordings(this.directory, query);
    const body = Buffer.from(JSON.stringify({ recordingEnabled: this.directory !== undefined, ...listing }));
    res.writeHead(200, { ...securityHeaders(), 'content-type': 'application/json', 'content-length': body.length, 'cache-control': 'no-store' });
    res.end(req.method === 'HEAD' ? undefined : body);
  }

  private async file(name: string, req: IncomingMessage, res: ServerResponse, user: UserInfo, visible: (entry: RecordingEntry) => boolean): Promise<void> {
    const opened = this.directory === undefined ? undefined : await openRecording(this.directory, name);
    // Someone else's recording is "not found" to a non-admin, as a missing one: its existence is not theirs to learn.
    const entry = opened && (await describeRecording(name, opened).catch(() => undefined));
    if (!opened || !entry || !visible(entry)) {
      await opened?.handle.close();
      throw new HttpStatusError(404, 'NotFound', `no recording ${name}`);
    }
    this.logger.info({ event: 'recording-read', recording: name, auditID: entry.auditID, reader: user.name, user: entry.user, method: req.method }, 'a recording was read through the web interface');
    res.writeHead(200, {
      ...securityHeaders(),
      'content-type': CONTENT_TYPES[entry.format],
      'content-length': opened.size,
      'content-disposition': `attachment; filename="${name}"`,
      'cache-control': 'no-store',
    });
    if (req.method === 'HEAD' || opened.size === 0) {
      await opened.handle.close();
      res.end();
      return;
    }
    // Up to the size it had when opened (a recording being written grows): the Content-Length holds.
    const stream = opened.handle.createReadStream({ start: 0, end: opened.size - 1, autoClose: true });
    await pipeline(stream, res).catch((error: Error) => this.logger.debug({ event: 'recording-read-aborted', recording: name, err: error.message }, 'a recording download ended early'));
  }
}

function parseQuery(params: URLSearchParams, visible: (entry: RecordingEntry) => boolean): RecordingQuery {
  const query: RecordingQuery = { visible, limit: DEFAULT_LIMIT };
  for (const field of FILTERS) {
    const value = params.get(field);
    if (value === null || value === '') continue;
    if (value.length > MAX_FILTER_LENGTH) throw new HttpStatusError(400, 'BadRequest', `${field} is longer than ${MAX_FILTER_LENGTH} characters`);
    query[field] = value;
  }
  for (const field of ['since', 'until'] as const) {
    const value = params.get(field);
    if (value === null || value === '') continue;
    const time = Date.parse(value);
    if (Number.isNaN(time)) throw new HttpStatusError(400, 'BadRequest', `${field} must be a date and time (ISO 8601), not ${JSON.stringify(value.slice(0, 64))}`);
    query[field] = time;
  }
  const limit = params.get('limit');
  if (limit !== null && limit !== '') {
    if (!/^\d{1,4}$/.test(limit) || Number(limit) < 1 || Number(limit) > MAX_LIMIT) throw new HttpStatusError(400, 'BadRequest', `limit must be a number from 1 to ${MAX_LIMIT}`);
    query.limit = Number(limit);
  }
  return query;
}
