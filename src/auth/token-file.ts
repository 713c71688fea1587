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
 * reload() re-reads the file; on any error the last good contents stay in force and the error is
 * returned (the config engineer's file watcher calls it). Tokens are compared in constant time:
 * every entry's SHA-256 digest is compared with timingSafeEqual, without stopping at a match.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { Authenticator, AuthenticationResult, Credentials, UserInfo } from './identity.js';

export class TokenFileError extends Error {
  override name = 'TokenFileError';
}

export interface TokenFileEntry {
  token: string;
  user: UserInfo;
}

export interface ParsedTokenFile {
  entries: TokenFileEntry[];
  warnings: string[];
}

export type TokenFileReload = { ok: true; tokens: number; warnings: string[] } | { ok: false; error: string };

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

async function loadTokens(path: string): Promise<{ tokens: StoredToken[]; warnings: string[] }> {
  const bytes = await readFile(path);
  if (bytes.length > MAX_FILE_BYTES) throw new TokenFileError(`${path}: larger than ${MAX_FILE_BYTES} bytes`);
  const parsed = parseTokenFile(bytes.toString('utf8'), path);
  return { tokens: parsed.entries.map((e) => ({ digest: digest(e.token), user: e.user })), warnings: parsed.warnings };
}

export async function createTokenFileAuthenticator(path: string): Promise<TokenFileAuthenticator> {
  let tokens = (await loadTokens(path)).tokens;
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
    async reload(): Promise<TokenFileReload> {
      try {
        const loaded = await loadTokens(path);
        tokens = loaded.tokens;
        return { ok: true, tokens: loaded.tokens.length, warnings: loaded.warnings };
      } catch (error) {
        return { ok: false, error: `token file not reloaded, keeping the previous contents: ${(error as Error).message}` };
      }
    },
  };
}
