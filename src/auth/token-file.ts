/**
 * Static bearer tokens in kube-apiserver's `--token-auth-file` format (apiserver tokenfile.go):
 * CSV records `token,user,uid[,"group1,group2"]`, read as Go's encoding/csv reads them (quoted
 * fields with "" escapes, variable field count, blank lines skipped, no comments, no trimming).
 * A record with fewer than 3 fields makes the whole file invalid; an empty token is skipped and a
 * repeated token replaced by its last record (both reported as warnings, as Kubernetes logs them).
 * Empty group names (an empty 4th field splits to [""] in Go) are dropped.
 *
 *   parseTokenFile(text) → { entries, warnings }          throws TokenFileError
 *   createTokenFileAuthenticator(path) → Authenticator & { reload() }   (first load must succeed)
 *
 * reload() re-reads the file and takes only a complete, valid one; otherwise the last good contents
 * stay in force and the reason is returned (the file watcher calls it). An editor or `printf >
 * tokens.csv` rewrites the file in place: truncated first, then written in pieces. So a reload
 * reads until two reads settleMs apart agree (at most maxReads), refuses a file that does not parse
 * (`invalid`), and refuses a file with no tokens when the one in force has some (`empty`): a
 * truncated file must not lock every user out, and the next good write reloads as usual. Reloads
 * run one at a time. Tokens are compared in constant time:
 * every entry's SHA-256 digest is compared with timingSafeEqual, without stopping at a match.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { setTimeout as delay } from 'node:timers/promises';
import type { Authenticator, AuthenticationResult, Credentials, UserInfo } from './identity.js';

export class TokenFileError extends Error {
  override name = 'TokenFileError';
}

interface TokenFileEntry {
  token: string;
  user: UserInfo;
}

export interface ParsedTokenFile {
  entries: TokenFileEntry[];
  warnings: string[];
}

/** Why a reload did not take the file: a bounded vocabulary, for metrics. */
export type TokenFileRefusal = 'unreadable' | 'unstable' | 'invalid' | 'empty';

type TokenFileReload = { ok: true; tokens: number; warnings: string[] } | { ok: false; result: TokenFileRefusal; error: string };

export interface TokenFileOptions {
  /** Time between the reads that must agree. Default 100 ms. */
  settleMs?: number;
  /** Reads before giving up on a file that keeps changing (it is reloaded on its next change). Default 10. */
  maxReads?: number;
  /** The contents already read and checked (the configuration's), instead of reading the file again. */
  initial?: string;
}

export interface TokenFileAuthenticator extends Authenticator {
  reload(): Promise<TokenFileReload>;
}

/** A token file is read whole; this bounds what a wrong path (a log, a device) can cost. */
const MAX_FILE_BYTES = 16 * 1024 * 1024;

export function parseTokenFile(text: string, source = 'token file'): ParsedTokenFile {
  const byToken = new Map<string, TokenFileEntry>();
  const warnings: string[] = [];
  let recordNumber = 0;
  for (const { fields, line } of readCsvRecords(text, source)) {
    if (fields.length < 3) {
      throw new TokenFileError(`${source} line ${line}: must have at least 3 columns (token, user name, user uid), found ${fields.length}`);
    }
    recordNumber++;
    const [token, name, uid, groups] = fields as [string, string, string, string | undefined];
    if (token === '') {
      warnings.push(`empty token in ${source}, record number ${recordNumber}`);
      continue;
    }
    if (byToken.has(token)) warnings.push(`duplicate token in ${source}, record number ${recordNumber}`);
    const user: UserInfo = { name, groups: groups === undefined ? [] : groups.split(',').filter((g) => g !== ''), extra: {} };
    if (uid !== '') user.uid = uid;
    byToken.delete(token); // last record wins, as Kubernetes' map assignment
    byToken.set(token, { token, user });
  }
  return { entries: [...byToken.values()], warnings };
}

interface CsvRecord {
  fields: string[];
  line: number;
}

/** RFC 4180 as Go's encoding/csv (LazyQuotes off): a stray or unterminated quote is an error. */
function* readCsvRecords(text: string, source: string): Generator<CsvRecord> {
  const input = text.replace(/\r\n/g, '\n');
  let pos = 0;
  let line = 1;
  while (pos < input.length) {
    const startLine = line;
    if (input[pos] === '\n') {
      pos++;
      line++;
      continue; // blank line
    }
    const fields: string[] = [];
    for (;;) {
      let field = '';
      if (input[pos] === '"') {
        pos++;
        for (;;) {
          if (pos >= input.length) throw new TokenFileError(`${source} line ${startLine}: extraneous or missing " in quoted-field`);
          const ch = input[pos]!;
          if (ch === '"') {
            if (input[pos + 1] === '"') {
              field += '"';
              pos += 2;
              continue;
            }
            pos++;
            break;
          }
          if (ch === '\n') line++;
          field += ch;
          pos++;
        }
        if (pos < input.length && input[pos] !== ',' && input[pos] !== '\n') {
          throw new TokenFileError(`${source} line ${line}: extraneous or missing " in quoted-field`);
        }
      } else {
        const end = nextDelimiter(input, pos);
        field = input.slice(pos, end);
        if (field.includes('"')) throw new TokenFileError(`${source} line ${line}: bare " in non-quoted-field`);
        pos = end;
      }
      fields.push(field);
      if (pos < input.length && input[pos] === ',') {
        pos++;
        continue;
      }
      break;
    }
    if (pos < input.length) {
      pos++; // the newline
      line++;
    }
    yield { fields, line: startLine };
  }
}

function nextDelimiter(input: string, from: number): number {
  for (let i = from; i < input.length; i++) if (input[i] === ',' || input[i] === '\n') return i;
  return input.length;
}

interface StoredToken {
  digest: Buffer;
  user: UserInfo;
}

function digest(token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest();
}

async function readBounded(path: string): Promise<Buffer> {
  const bytes = await readFile(path);
  if (bytes.length > MAX_FILE_BYTES) throw new TokenFileError(`${path}: larger than ${MAX_FILE_BYTES} bytes`);
  return bytes;
}

function tokensOf(bytes: Buffer, path: string): { tokens: StoredToken[]; warnings: string[] } {
  const parsed = parseTokenFile(bytes.toString('utf8'), path);
  return { tokens: parsed.entries.map((e) => ({ digest: digest(e.token), user: e.user })), warnings: parsed.warnings };
}

/** The file once two reads settleMs apart agree, or undefined when it kept changing. */
async function readSettled(path: string, settleMs: number, maxReads: number): Promise<Buffer | undefined> {
  let previous = await readBounded(path);
  for (let read = 1; read < maxReads; read++) {
    await delay(settleMs);
    const next = await readBounded(path);
    if (next.equals(previous)) return next;
    previous = next;
  }
  return undefined;
}

export async function createTokenFileAuthenticator(path: string, options: TokenFileOptions = {}): Promise<TokenFileAuthenticator> {
  const settleMs = options.settleMs ?? 100;
  const maxReads = Math.max(2, options.maxReads ?? 10);
  let tokens = tokensOf(options.initial === undefined ? await readBounded(path) : Buffer.from(options.initial, 'utf8'), path).tokens;
  let running: Promise<TokenFileReload> = Promise.resolve({ ok: true, tokens: tokens.length, warnings: [] });

  async function reloadOnce(): Promise<TokenFileReload> {
    const keeping = `keeping the previous ${tokens.length} token${tokens.length === 1 ? '' : 's'}`;
    let bytes: Buffer | undefined;
    try {
      bytes = await readSettled(path, settleMs, maxReads);
    } catch (error) {
      return { ok: false, result: 'unreadable', error: `token file not reloaded, keeping the previous contents: ${(error as Error).message}` };
    }
    if (!bytes) return { ok: false, result: 'unstable', error: `token file not reloaded: it kept changing over ${maxReads} reads; ${keeping}` };
    let loaded: ReturnType<typeof tokensOf>;
    try {
      loaded = tokensOf(bytes, path);
    } catch (error) {
      return { ok: false, result: 'invalid', error: `token file not reloaded, keeping the previous contents: ${(error as Error).message}` };
    }
    if (loaded.tokens.length === 0 && tokens.length > 0) {
      return { ok: false, result: 'empty', error: `token file not reloaded: it now holds no tokens (a file being rewritten in place?); ${keeping}` };
    }
    tokens = loaded.tokens;
    return { ok: true, tokens: loaded.tokens.length, warnings: loaded.warnings };
  }
  return {
    name: 'token-file',
    async authenticate(credentials: Credentials): Promise<AuthenticationResult> {
      if (credentials.bearerToken === undefined) return { outcome: 'no-credential' };
      const presented = digest(credentials.bearerToken);
      let found: UserInfo | undefined;
      for (const entry of tokens) {
        // No early exit: the time taken does not depend on where (or whether) the token matches.
        if (timingSafeEqual(entry.digest, presented) && found === undefined) found = entry.user;
      }
      if (!found) return { outcome: 'rejected', reason: 'token is not in the token file' };
      return { outcome: 'authenticated', user: structuredClone(found), by: 'token-file' };
    },
    reload(): Promise<TokenFileReload> {
      // One at a time: a reload never overwrites a later one's tokens with an older read.
      running = running.then(reloadOnce, reloadOnce);
      return running;
    },
  };
}
