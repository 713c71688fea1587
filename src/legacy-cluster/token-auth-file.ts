/**
 * kube-apiserver's `--token-auth-file` format (apiserver plugin/pkg/authenticator/token/tokenfile):
 * CSV read with Go's encoding/csv, one user per record — `token,user,uid[,"group1,group2"]`.
 * At least three columns; a record with an empty token is skipped (kube-apiserver warns); the
 * fourth column is split on commas into groups; a duplicate token keeps the last record.
 */
import type { LegacyUser } from './identity.js';

export class TokenFileError extends Error {
  override name = 'TokenFileError';
}

/** Parses the file's text; `source` names it in errors. Free of I/O. */
export function parseTokenAuthFile(text: string, source: string): LegacyUser[] {
  const users: LegacyUser[] = [];
  for (const { line, fields } of csvRecords(text, source)) {
    if (fields.length < 3) {
      throw new TokenFileError(`token file '${source}' must have at least 3 columns (token, user name, user uid), found ${fields.length} (line ${line})`);
    }
    const [token, name, uid, groups] = fields as [string, string, string, string | undefined];
    if (token === '') continue;
    users.push({ token, name, ...(uid ? { uid } : {}), groups: groups === undefined ? [] : groups.split(',') });
  }
  return users;
}

interface CsvRecord {
  line: number;
  fields: string[];
}

/**
 * RFC 4180 records as Go's csv.Reader reads them with default settings: `"` quotes a field (`""`
 * inside is one quote), a quote inside an unquoted field is an error, empty lines are skipped,
 * CRLF counts as LF, white space is kept.
 */
function csvRecords(text: string, source: string): CsvRecord[] {
  const records: CsvRecord[] = [];
  const input = text.replace(/\r\n/g, '\n');
  let line = 1;
  let at = 0;
  while (at < input.length) {
    if (input[at] === '\n') {
      line++;
      at++;
      continue;
    }
    const startLine = line;
    const fields: string[] = [];
    for (;;) {
      let field = '';
      if (input[at] === '"') {
        at++;
        for (;;) {
          if (at >= input.length) throw new TokenFileError(`token file '${source}': line ${startLine}: extraneous or missing " in quoted-field`);
          const ch = input[at]!;
          if (ch === '"') {
            if (input[at + 1] === '"') {
              field += '"';
              at += 2;
              continue;
            }
            at++;
            break;
          }
          if (ch === '\n') line++;
          field += ch;
          at++;
        }
        if (at < input.length && input[at] !== ',' && input[at] !== '\n') {
          throw new TokenFileError(`token file '${source}': line ${line}: extraneous or missing " in quoted-field`);
        }
      } else {
        while (at < input.length && input[at] !== ',' && input[at] !== '\n') {
          if (input[at] === '"') throw new TokenFileError(`token file '${source}': line ${line}: bare " in non-quoted-field`);
          field += input[at];
          at++;
        }
      }
      fields.push(field);
      if (input[at] === ',') {
        at++;
        continue;
      }
      break;
    }
    records.push({ line: startLine, fields });
  }
  return records;
}
