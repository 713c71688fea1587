/**
 * kube-apiserver's `--token-auth-file` format for the legacy cluster's `--users-file`: the same
 * parser the gateway's token-file authenticator uses (src/auth/token-file.ts, checked against
 * kube-apiserver's tokenfile.go), mapped to the cluster's users.
 */
import { parseTokenFile } from '../auth/token-file.js';
import type { LegacyUser } from './identity.js';

export { TokenFileError } from '../auth/token-file.js';

/** Parses the file's text; `source` names it in errors. Free of I/O. */
export function parseTokenAuthFile(text: string, source: string): LegacyUser[] {
  return parseTokenFile(text, source).entries.map(({ token, user }) => ({ token, name: user.name, ...(user.uid ? { uid: user.uid } : {}), groups: user.groups }));
}
