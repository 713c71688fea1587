import { parseArgs, type ParseArgsConfig } from 'node:util';

/** A command line that cannot be understood: one line naming the option, exit code 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

type Options = NonNullable<ParseArgsConfig['options']>;

export type ParsedOptions = Record<string, string | boolean | undefined>;

/**
 * Strict parsing of one command's options (node:util parseArgs): unknown options, missing values and
 * positional arguments are refused naming the option. Returns undefined when `--help` (`-h`) was
 * asked for, after printing the help to stdout.
 */
export function parseCommandLine(command: string, args: string[], options: Options, help: string): ParsedOptions | undefined {
  let parsed;
  try {
    parsed = parseArgs({ args, options: { ...options, help: { type: 'boolean', short: 'h' } }, strict: true, allowPositionals: false });
  } catch (error) {
    const reason = (error as Error).message.split('\n')[0]!.replace(/\. To specify a positional argument.*$/, '').replace(/\.$/, '');
    throw new UsageError(`${command}: ${reason[0]!.toLowerCase()}${reason.slice(1)} (see kube-stream-gateway ${command} --help)`);
  }
  if (parsed.values.help) {
    process.stdout.write(help);
    return undefined;
  }
  return parsed.values as ParsedOptions;
}

/** A path or argument as a shell reads it back: bare when safe, single-quoted otherwise. */
export function shellQuote(value: string): string {
  return /^[\w@%+=:,./-]+$/.test(value) ? value : `'${value.replace(/'/g, `'\\''`)}'`;
}
