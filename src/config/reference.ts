/**
 * docs/configuration.md, generated from the schema (its descriptions, defaults, flags and
 * variables) so that the reference cannot drift from what the gateway accepts. A test compares the
 * committed file with what this renders.
 *
 *   npm run docs:config      (node dist/config/reference.js docs/configuration.md)
 */
import { writeFile } from 'node:fs/promises';
import { pathToFileURL } from 'node:url';
import { z } from 'zod';
import { ENVIRONMENT_VARIABLES } from './gateway-config.js';
import { gatewayFileSchema } from './schema.js';

/** One field of the file, as the reference lists it. */
export interface FieldDoc {
  /** `upstreams[].credential.tokenFile` */
  path: string;
  type: string;
  required: boolean;
  /** JSON of the default, or words for a computed one. */
  default?: string;
  description: string;
  flag?: string;
  env?: string;
  /** A mapping (or list of mappings) whose fields follow it. */
  section: boolean;
}

interface JsonSchema {
  type?: string;
  description?: string;
  default?: unknown;
  enum?: unknown[];
  properties?: Record<string, JsonSchema>;
  required?: string[];
  items?: JsonSchema;
  additionalProperties?: JsonSchema | boolean;
  flag?: string;
  env?: string;
  defaultText?: string;
  minimum?: number;
}

/** Every field of the schema, depth first, in the schema's order. */
export function configurationFields(): FieldDoc[] {
  const root = z.toJSONSchema(gatewayFileSchema, { io: 'input', unrepresentable: 'any' }) as JsonSchema;
  const fields: FieldDoc[] = [];
  const walk = (node: JsonSchema, prefix: string): void => {
    for (const [key, child] of Object.entries(node.properties ?? {})) {
      const path = `${prefix}${key}`;
      const list = child.type === 'array' && child.items?.type === 'object' && child.items.properties !== undefined;
      const section = (child.type === 'object' && child.properties !== undefined) || list;
      const field: FieldDoc = { path, type: typeName(child), required: node.required?.includes(key) ?? false, description: child.description ?? '', section };
      const fallback = defaultText(child);
      if (fallback !== undefined) field.default = fallback;
      if (child.flag) field.flag = child.flag;
      if (child.env) field.env = child.env;
      fields.push(field);
      if (list) walk(child.items!, `${path}[].`);
      else if (section) walk(child, `${path}.`);
    }
  };
  walk(root, '');
  return fields;
}

function typeName(node: JsonSchema): string {
  if (node.enum) return node.enum.map((value) => `\`${String(value)}\``).join(' \\| ');
  if (node.type === 'array') {
    const items = node.items ?? {};
    if (items.type === 'object' && items.properties) return 'list of mappings';
    return items.enum ? `list of ${typeName(items)}` : `list of ${items.type ?? 'values'}s`;
  }
  if (node.type === 'object') return node.properties ? 'mapping' : `mapping of ${typeof node.additionalProperties === 'object' ? (node.additionalProperties.type ?? 'value') : 'value'}s`;
  // Every number in the schema is a whole number with a lower bound (its isInteger check is a
  // refinement, which JSON Schema does not show).
  if (node.type === 'number' || node.type === 'integer') return node.minimum === undefined ? 'integer' : `integer ≥ ${node.minimum}`;
  return node.type ?? 'any';
}

function defaultText(node: JsonSchema): string | undefined {
  if (node.defaultText) return node.defaultText;
  if (node.default === undefined) return undefined;
  if (typeof node.default === 'object' && node.default !== null && !Array.isArray(node.default) && Object.keys(node.default).length === 0 && node.properties) return undefined;
  return `\`${JSON.stringify(node.default)}\``;
}

const INTRO = `# Configuration reference

<!-- Generated from src/config/schema.ts by \`npm run docs:config\`; do not edit by hand (a test fails
when this file differs from what the schema generates). -->

kube-stream-gateway reads one YAML file (\`serve --config FILE\`, or \`KSG_CONFIG\`). Keys are camelCase.
Examples: [config/gateway.example.yaml](../config/gateway.example.yaml) (every setting, commented) and
[config/gateway.multi-cluster.example.yaml](../config/gateway.multi-cluster.example.yaml) (two clusters,
edge authentication).

- **Validation.** Unknown keys and wrongly typed values are refused at start. Every problem is
  reported, one per line, naming where the value came from and what is wrong:
  \`gateway.yaml: upstreams[1].server: must be an https URL, got "ftp://x"\`, \`--listen: expected HOST:PORT …\`,
  \`KSG_LOG_LEVEL: must be one of …\`. \`kube-stream-gateway check-config --config FILE\` runs the same
  checks, including reading every file the configuration names, without starting anything (exit 0
  when valid, 1 with the problems, 2 for bad options).
- **Precedence.** Flags win over environment variables, which win over the file, which wins over
  the defaults below. An empty environment variable counts as unset; so does a key with no value.
- **Paths** in the file are relative to the file's folder; paths in flags to the working directory.
- **Reloading.** Files marked "reloaded" are watched (polling, so that the symlink swap of a
  mounted Secret or ConfigMap is seen) and their new contents used for new connections, without
  dropping sessions.
- **The \`--upstream*\` flags** (and \`KSG_UPSTREAM\`) describe a single upstream named \`default\`; they
  cannot be combined with \`upstreams\` in the file. They accept \`http://\` servers, as they always did.
`;

/** docs/configuration.md */
export function renderConfigurationReference(): string {
  const fields = configurationFields();
  const out: string[] = [INTRO];
  out.push('## Environment variables\n');
  out.push('| Variable | Sets |');
  out.push('|---|---|');
  for (const [name, sets] of Object.entries(ENVIRONMENT_VARIABLES)) out.push(`| \`${name}\` | ${/^[a-z]/.test(sets) && !sets.includes(' ') ? `\`${sets}\`` : sets} |`);
  out.push('');
  out.push('## Flags of `serve`\n');
  out.push('| Flag | Sets |');
  out.push('|---|---|');
  out.push('| `--config FILE` | the file |');
  for (const field of fields) if (field.flag) out.push(`| \`${field.flag}\` | \`${field.path.replace('upstreams[].', 'upstreams[0].')}\`${field.path.startsWith('upstreams[]') ? ' (of the single upstream `default`)' : ''} |`);
  out.push('');
  out.push('## Settings\n');
  for (const top of fields.filter((field) => !field.path.includes('.') && !field.path.includes('['))) {
    out.push(`### \`${top.path}\`\n`);
    out.push(`${top.description}${top.required ? ' **Required.**' : ''}\n`);
    const rows = top.section ? fields.filter((field) => field.path.startsWith(`${top.path}.`) || field.path.startsWith(`${top.path}[].`)) : [top];
    out.push('| Field | Type | Default | Description |');
    out.push('|---|---|---|---|');
    for (const field of rows) {
      const notes = [field.description, field.required ? '**Required.**' : '', field.flag ? `Flag \`${field.flag}\`.` : '', field.env ? `Environment \`${field.env}\`.` : ''].filter(Boolean).join(' ');
      out.push(`| \`${field.path}\` | ${field.type} | ${field.default ?? ''} | ${notes.replace(/\|/g, '\\|').replace(/\n/g, ' ')} |`);
    }
    out.push('');
  }
  return `${out.join('\n').trimEnd()}\n`;
}

// Run as a script: write to the file named, or print.
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const target = process.argv[2];
  const text = renderConfigurationReference();
  if (target) await writeFile(target, text);
  else process.stdout.write(text);
}
