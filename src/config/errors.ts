/**
 * A configuration problem (a flag, a setting in the --config file, a file they name): the CLI prints
 * it as one line, `kube-stream-gateway: <message>`, and exits 2. The message names the option.
 */
export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** A file-system error in a few words (`no such file or directory`), for one-line messages. */
export function describeFsError(error: unknown): string {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return 'no such file or directory';
  if (code === 'EACCES') return 'permission denied';
  if (code === 'EISDIR') return 'is a directory';
  if (code === 'ENOTDIR') return 'not a directory';
  return (error as Error).message;
}
