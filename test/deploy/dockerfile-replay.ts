import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { basename, delimiter, join } from 'node:path';

/**
 * Replays a Dockerfile's stages as plain commands, for machines without a Docker engine: each stage
 * gets a folder standing for its root filesystem, COPY copies (from the build context, checked
 * against .dockerignore, or from an earlier stage's folder), RUN runs `sh -c` in the stage's
 * WORKDIR with this machine's Node.js in place of the base image's. Only the instructions and forms
 * the project's Dockerfile uses are understood; anything else fails loudly rather than being skipped,
 * so the replay cannot silently drift from the file.
 */

export interface Instruction {
  keyword: string;
  args: string;
  line: number;
}

export interface Stage {
  name: string | undefined;
  image: string;
  root: string;
  workdir: string;
  env: Record<string, string>;
  user?: string;
  exposed: string[];
  healthcheck?: { options: string; command: string[] };
  entrypoint?: string[];
  cmd?: string[];
}

/** Instructions with continuation lines joined; comments and blank lines dropped. */
export function parseDockerfile(text: string): Instruction[] {
  const instructions: Instruction[] = [];
  const lines = text.split('\n');
  for (let index = 0; index < lines.length; index++) {
    const first = index + 1;
    let line = lines[index]!;
    if (/^\s*(#|$)/.test(line)) continue;
    while (/\\\s*$/.test(line) && index + 1 < lines.length) {
      line = line.replace(/\\\s*$/, ' ') + lines[++index]!.trim();
    }
    const match = /^\s*([A-Za-z]+)\s+(.*)$/.exec(line);
    if (!match) throw new Error(`Dockerfile line ${first}: cannot parse ${JSON.stringify(line)}`);
    instructions.push({ keyword: match[1]!.toUpperCase(), args: match[2]!.trim(), line: first });
  }
  return instructions;
}

function substitute(text: string, variables: Record<string, string>, where: string): string {
  return text.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)/g, (_whole, braced: string | undefined, bare: string | undefined) => {
    const name = (braced ?? bare)!;
    const value = variables[name];
    if (value === undefined) throw new Error(`${where}: variable ${name} is not defined`);
    return value;
  });
}

function jsonArray(text: string, where: string): string[] {
  const parsed: unknown = JSON.parse(text);
  if (!Array.isArray(parsed) || !parsed.every((item) => typeof item === 'string')) throw new Error(`${where}: expected the exec (JSON array) form`);
  return parsed as string[];
}

/** `key=value` pairs, values optionally double-quoted. */
function keyValues(text: string, where: string): Array<[string, string]> {
  const pairs: Array<[string, string]> = [];
  const pattern = /([A-Za-z_][A-Za-z0-9_.-]*)=("(?:[^"\\]|\\.)*"|\S*)\s*/gy;
  let consumed = 0;
  let match: RegExpExecArray | null;
  while ((match = pattern.exec(text)) !== null) {
    const raw = match[2]!;
    pairs.push([match[1]!, raw.startsWith('"') ? (JSON.parse(raw) as string) : raw]);
    consumed = pattern.lastIndex;
  }
  if (pairs.length === 0 || consumed < text.length) throw new Error(`${where}: expected key=value pairs, got ${JSON.stringify(text)}`);
  return pairs;
}

/** Docker's .dockerignore for top-level names: patterns in order, the last one that matches wins. */
export function dockerignoreAllows(dockerignore: string, path: string): boolean {
  const top = path.replace(/^\.\//, '').split('/')[0]!;
  let allowed = true;
  for (const raw of dockerignore.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const negated = line.startsWith('!');
    const pattern = negated ? line.slice(1) : line;
    const regex = new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*').replace(/\?/g, '[^/]')}$`);
    if (regex.test(top)) allowed = negated;
  }
  return allowed;
}

export interface ReplayOptions {
  context: string;
  dockerfile: string;
  /** Where the stage folders go. */
  scratch: string;
  /** Extra environment for RUN (e.g. npm settings); the stage's ENV wins. */
  env?: Record<string, string>;
  timeoutMs: number;
}

/**
 * This process's environment without what the test runner adds (its loaders in NODE_OPTIONS, V8
 * coverage): commands of the image would not have them either.
 */
export function imageEnvironment(): NodeJS.ProcessEnv {
  const environment: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (key === 'NODE_OPTIONS' || key === 'NODE_V8_COVERAGE' || /^_?TAP/i.test(key)) continue;
    environment[key] = value;
  }
  return environment;
}

/** PATH of a stage: its entries that exist inside the stage folder, then this machine's. */
export function stagePath(stage: Stage): string {
  const inside = (stage.env.PATH ?? '')
    .split(delimiter)
    .filter((entry) => entry.startsWith('/') && existsSync(join(stage.root, entry)))
    .map((entry) => join(stage.root, entry));
  return [...inside, process.env.PATH ?? ''].join(delimiter);
}

export function replayDockerfile(options: ReplayOptions): Stage[] {
  const instructions = parseDockerfile(readFileSync(options.dockerfile, 'utf8'));
  const dockerignorePath = join(options.context, '.dockerignore');
  const dockerignore = existsSync(dockerignorePath) ? readFileSync(dockerignorePath, 'utf8') : '';
  const globalArgs: Record<string, string> = {};
  const stages: Stage[] = [];
  const deadline = Date.now() + options.timeoutMs;

  for (const instruction of instructions) {
    const where = `Dockerfile line ${instruction.line} (${instruction.keyword})`;
    const stage = stages[stages.length - 1];
    if (instruction.keyword === 'ARG' && !stage) {
      for (const [key, value] of keyValues(instruction.args, where)) globalArgs[key] = value;
      continue;
    }
    if (instruction.keyword === 'FROM') {
      const match = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(instruction.args);
      if (!match) throw new Error(`${where}: cannot parse`);
      const root = join(options.scratch, `stage-${stages.length}`);
      mkdirSync(root, { recursive: true });
      // The base image's PATH stands for this machine's: its Node.js replaces the image's.
      stages.push({ name: match[2], image: substitute(match[1]!, globalArgs, where), root, workdir: '/', env: { PATH: process.env.PATH ?? '' }, exposed: [] });
      continue;
    }
    if (!stage) throw new Error(`${where}: before the first FROM`);
    const cwd = join(stage.root, stage.workdir);
    switch (instruction.keyword) {
      case 'WORKDIR': {
        if (!instruction.args.startsWith('/')) throw new Error(`${where}: use an absolute WORKDIR`);
        stage.workdir = instruction.args;
        mkdirSync(join(stage.root, stage.workdir), { recursive: true });
        break;
      }
      case 'ENV': {
        for (const [key, value] of keyValues(instruction.args, where)) stage.env[key] = substitute(value, stage.env, where);
        break;
      }
      case 'COPY': {
        const words = instruction.args.split(/\s+/);
        let from: Stage | undefined;
        while (words[0]?.startsWith('--')) {
          const flag = words.shift()!;
          const fromMatch = /^--from=(.+)$/.exec(flag);
          if (!fromMatch) throw new Error(`${where}: flag ${flag} is not replayed`);
          from = stages.find((candidate) => candidate.name === fromMatch[1]);
          if (!from) throw new Error(`${where}: no stage named ${fromMatch[1]}`);
        }
        const destination = words.pop()!;
        if (words.length === 0) throw new Error(`${where}: nothing to copy`);
        const target = destination.startsWith('/') ? join(stage.root, destination) : join(cwd, destination);
        for (const source of words) {
          if (!from && !dockerignoreAllows(dockerignore, source)) throw new Error(`${where}: ${source} is excluded by .dockerignore`);
          const path = from ? join(from.root, source) : join(options.context, source);
          if (!existsSync(path)) throw new Error(`${where}: ${source} does not exist`);
          const into = statSync(path).isDirectory() || !destination.endsWith('/') ? target : join(target, basename(source));
          cpSync(path, into, { recursive: true, verbatimSymlinks: true });
        }
        break;
      }
      case 'RUN': {
        if (/(^|[\s;&|])\/[A-Za-z]/.test(instruction.args)) throw new Error(`${where}: uses an absolute path; keep RUN relative to WORKDIR so it can be replayed`);
        execFileSync('sh', ['-c', instruction.args], {
          cwd,
          env: { ...imageEnvironment(), ...options.env, ...stage.env, PATH: stagePath(stage) },
          stdio: ['ignore', 'pipe', 'pipe'],
          timeout: Math.max(1_000, deadline - Date.now()),
        });
        break;
      }
      case 'USER':
        stage.user = instruction.args;
        break;
      case 'EXPOSE':
        stage.exposed.push(...instruction.args.split(/\s+/));
        break;
      case 'LABEL':
        keyValues(instruction.args, where);
        break;
      case 'HEALTHCHECK': {
        const match = /^((?:--[a-z-]+=\S+\s+)*)CMD\s+(\[.*\])$/.exec(instruction.args);
        if (!match) throw new Error(`${where}: expected HEALTHCHECK [options] CMD [exec form]`);
        stage.healthcheck = { options: match[1]!.trim(), command: jsonArray(match[2]!, where) };
        break;
      }
      case 'ENTRYPOINT':
        stage.entrypoint = jsonArray(instruction.args, where);
        break;
      case 'CMD':
        stage.cmd = jsonArray(instruction.args, where);
        break;
      default:
        throw new Error(`${where}: instruction not replayed`);
    }
  }
  return stages;
}
