/**
 * Configuration problems as operators read them: one line each, naming where the value came from
 * (`--listen`, `KSG_LISTEN`, or `gateway.yaml: upstreams[1].server`) and what is wrong. Every
 * problem is collected, so that one run shows them all.
 */
import type { z } from 'zod';
import { ConfigError } from './errors.js';

export type FieldPath = readonly PropertyKey[];

/** `upstreams[1].server` */
function formatPath(path: FieldPath): string {
  let text = '';
  for (const segment of path) text += typeof segment === 'number' ? `[${segment}]` : text ? `.${String(segment)}` : String(segment);
  return text;
}

/**
 * Where each setting came from. Settings given by a flag or an environment variable are named by
 * it; the rest are fields of the --config file (or defaults), named by their path.
 */
export class SettingOrigins {
  private readonly overridden = new Map<string, string>();

  /** `file`: the --config file as given, prefixed to the paths of its fields in problem lines. */
  /**
   * `flags`: the flag for a field (`tls.key` → `--tls-key`), to name a field that was not given
   * when there is no --config file: the flag is then the only way to give it.
   */
  constructor(
    readonly file: string | undefined,
    private readonly topLevelKeys: readonly string[],
    private readonly flags: Readonly<Record<string, string>> = {},
  ) {}

  /** The setting at `path` came from `label` (`--listen`, `KSG_LISTEN`). */
  override(path: FieldPath, label: string): void {
    this.overridden.set(formatPath(path), label);
  }

  /** How the text of a message names a field: `--tls-key`, or `tls.key`. */
  name(path: FieldPath): string {
    const text = formatPath(path);
    return this.overridden.get(text) ?? (this.file === undefined ? this.flags[text] : undefined) ?? text;
  }

  /** A problem line: `--listen: …`, or `gateway.yaml: tls.cert: …`. */
  line(path: FieldPath, message: string): string {
    const text = formatPath(path);
    const label = this.overridden.get(text) ?? (this.file === undefined ? text : text ? `${this.file}: ${text}` : this.file);
    return `${label}: ${this.resolveReferences(path, message)}`;
  }

  /**
   * Messages name other fields as `{tls.key}` (from the top) or `{kubeconfig}` (a sibling of the
   * field at fault), so that the name a person gave (a flag, a path) is the one printed.
   */
  private resolveReferences(path: FieldPath, message: string): string {
    return message.replace(/\{([A-Za-z.]+)\}/g, (_, reference: string) => {
      const segments = reference.split('.');
      const absolute = this.topLevelKeys.includes(segments[0]!);
      return this.name(absolute ? segments : [...path.slice(0, -1), ...segments]);
    });
  }
}

/** Collects problem lines; `throwIfAny` ends the load with all of them. */
export class Problems {
  readonly lines: string[] = [];

  constructor(readonly origins: SettingOrigins) {}

  add(path: FieldPath, message: string): void {
    this.lines.push(this.origins.line(path, message));
  }

  /** A problem that is not about one field (an unreadable --config file, a conflict of sources). */
  addLine(line: string): void {
    this.lines.push(line);
  }

  throwIfAny(): void {
    if (this.lines.length > 0) throw new ConfigProblems(this.lines);
  }
}

/** A ConfigError with every problem found, one per line. */
export class ConfigProblems extends ConfigError {
  override name = 'ConfigProblems';

  constructor(readonly lines: readonly string[]) {
    super(lines.join('\n'));
  }
}

/** Zod's issues in our words: the type or values expected, and the value found. */
export function issueMessage(issue: z.core.$ZodRawIssue): string | undefined {
  switch (issue.code) {
    case 'invalid_type':
      if (issue.input === undefined) return 'required';
      return `must be ${EXPECTED[issue.expected] ?? issue.expected}, got ${describeValue(issue.input)}`;
    case 'invalid_value':
      return `must be one of ${issue.values.map((value) => String(value)).join(', ')}, got ${describeValue(issue.input)}`;
    case 'too_small':
      if (issue.origin === 'array') return `must list at least ${String(issue.minimum)}`;
      if (issue.origin === 'string') return 'must not be empty';
      return `must be ${String(issue.minimum)} or more`;
    case 'too_big':
      if (issue.origin === 'string') return `must be at most ${String(issue.maximum)} characters`;
      return `must be ${String(issue.maximum)} or less`;
    default:
      return undefined;
  }
}

const EXPECTED: Record<string, string> = {
  string: 'a string',
  number: 'a number',
  int: 'a whole number',
  boolean: 'true or false',
  array: 'a list',
  object: 'a mapping',
  record: 'a mapping',
};

/** A value as a problem line shows it: short, on one line. */
function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  if (typeof value === 'string') return JSON.stringify(value.length > 60 ? `${value.slice(0, 57)}...` : value);
  return String(value);
}
