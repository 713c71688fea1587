/**
 * A bench tool's command line read with `parse` (node:util parseArgs): an unknown or malformed
 * option is one line and the usage, exit 2, as the gateway's own commands answer — a typo such as
 * an option an older bench had is the developer's to fix, not a stack trace to read.
 */
export function readCommandLine<V extends { help?: boolean }>(tool: string, usage: string, parse: () => { values: V }): V {
  let values: V;
  try {
    ({ values } = parse());
  } catch (error) {
    if (!String((error as { code?: unknown }).code).startsWith('ERR_PARSE_ARGS')) throw error;
    process.stderr.write(`${tool}: ${(error as Error).message}\n${usage}\n`);
    process.exit(2);
  }
  if (values.help) {
    process.stdout.write(`${usage}\n`);
    process.exit(0);
  }
  return values;
}
