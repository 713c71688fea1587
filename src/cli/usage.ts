import { parseArgs, type ParseArgsConfig } from 'node:util';

/** A command line that cannot be understood: one line naming the option, exit code 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

type Options = NonNullable<ParseArgsConfig['options']>;

/**
 * Strict parsing: unknown options and missing values are refused naming the option.
 * Returns undefined when `--help` was asked for (after printing the help).
 */
export type ParsedOptions = Record<string, string | boolean | undefined>;

export function parseCommandLine(args: string[], options: Options, help: string): ParsedOptions | undefined {
  let parsed;
  try {
    parsed = parseArgs({ args, options: { ...options, help: { type: 'boolean' as const } }, strict: true, allowPositionals: false });
  } catch (error) {
    throw new UsageError((error as Error).message.split('\n')[0]!.replace(/\. To specify a positional argument.*$/, ''));
  }
  if (parsed.values.help) {
    process.stdout.write(help);
    return undefined;
  }
  return parsed.values as ParsedOptions;
}
