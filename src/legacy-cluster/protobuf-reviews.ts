/**
 * Request bodies of the review APIs in Kubernetes protobuf (`application/vnd.kubernetes.protobuf`),
 * which kubectl sends for built-in kinds (`kubectl auth can-i` posts a SelfSubjectAccessReview so).
 * Decoded into the JSON shape reviews.ts reads; answers stay JSON, which those clients also accept.
 *
 * The envelope is `k8s\0` + runtime.Unknown {typeMeta=1 {apiVersion=1, kind=2}, raw=2}; the field
 * numbers below are k8s.io/api's generated.proto (authentication/v1, authorization/v1). Only
 * length-delimited fields are read; others are skipped. Free of I/O.
 */

class ProtobufBodyError extends Error {
  override name = 'ProtobufBodyError';
}

const MAGIC = Buffer.from('k8s\0', 'latin1');

interface Field {
  number: number;
  bytes: Buffer;
}

/** The length-delimited fields of one message, in order (wire types 0, 1 and 5 are skipped). */
function fields(message: Buffer): Field[] {
  const found: Field[] = [];
  let at = 0;
  const varint = (): number => {
    let value = 0;
    for (let shift = 0; shift < 35; shift += 7) {
      if (at >= message.length) throw new ProtobufBodyError('truncated varint');
      const byte = message[at++]!;
      value += (byte & 0x7f) * 2 ** shift;
      if (byte < 0x80) return value;
    }
    throw new ProtobufBodyError('varint too long');
  };
  while (at < message.length) {
    const tag = varint();
    const wireType = tag % 8;
    const number = Math.floor(tag / 8);
    if (wireType === 2) {
      const length = varint();
      if (at + length > message.length) throw new ProtobufBodyError(`field ${number}: length ${length} runs past the message`);
      found.push({ number, bytes: message.subarray(at, at + length) });
      at += length;
    } else if (wireType === 0) varint();
    else if (wireType === 1) at += 8;
    else if (wireType === 5) at += 4;
    else throw new ProtobufBodyError(`unsupported wire type ${wireType}`);
  }
  if (at !== message.length) throw new ProtobufBodyError('truncated field');
  return found;
}

type Schema = Record<number, { name: string; type: 'string' | 'strings' | Schema | 'extra' }>;

const RESOURCE_ATTRIBUTES: Schema = {
  1: { name: 'namespace', type: 'string' },
  2: { name: 'verb', type: 'string' },
  3: { name: 'group', type: 'string' },
  4: { name: 'version', type: 'string' },
  5: { name: 'resource', type: 'string' },
  6: { name: 'subresource', type: 'string' },
  7: { name: 'name', type: 'string' },
};
const NON_RESOURCE_ATTRIBUTES: Schema = { 1: { name: 'path', type: 'string' }, 2: { name: 'verb', type: 'string' } };
const METADATA: Schema = { 1: { name: 'name', type: 'string' } };
const ACCESS_SPEC: Schema = {
  1: { name: 'resourceAttributes', type: RESOURCE_ATTRIBUTES },
  2: { name: 'nonResourceAttributes', type: NON_RESOURCE_ATTRIBUTES },
  3: { name: 'user', type: 'string' },
  4: { name: 'groups', type: 'strings' },
  5: { name: 'extra', type: 'extra' },
  6: { name: 'uid', type: 'string' },
};
const TOKEN_REVIEW_SPEC: Schema = { 1: { name: 'token', type: 'string' }, 2: { name: 'audiences', type: 'strings' } };

const KINDS: Record<string, Schema> = {
  TokenReview: { 1: { name: 'metadata', type: METADATA }, 2: { name: 'spec', type: TOKEN_REVIEW_SPEC } },
  SubjectAccessReview: { 1: { name: 'metadata', type: METADATA }, 2: { name: 'spec', type: ACCESS_SPEC } },
  SelfSubjectAccessReview: { 1: { name: 'metadata', type: METADATA }, 2: { name: 'spec', type: ACCESS_SPEC } },
};

function decodeMessage(message: Buffer, schema: Schema): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const { number, bytes } of fields(message)) {
    const field = schema[number];
    if (!field) continue;
    if (field.type === 'string') out[field.name] = bytes.toString('utf8');
    else if (field.type === 'strings') ((out[field.name] ??= []) as string[]).push(bytes.toString('utf8'));
    else if (field.type === 'extra') {
      // map<string, ExtraValue>: entries {key=1, value=2 {items=1 repeated}}
      const entry = fields(bytes);
      const key = entry.find((f) => f.number === 1)?.bytes.toString('utf8') ?? '';
      const value = entry.find((f) => f.number === 2);
      const items = value ? fields(value.bytes).filter((f) => f.number === 1).map((f) => f.bytes.toString('utf8')) : [];
      ((out[field.name] ??= {}) as Record<string, string[]>)[key] = items;
    } else out[field.name] = decodeMessage(bytes, field.type);
  }
  return out;
}

/** A protobuf-encoded review request as the JSON object it stands for (with apiVersion and kind). */
export function decodeProtobufReview(body: Buffer): Record<string, unknown> {
  if (body.length < MAGIC.length || !body.subarray(0, MAGIC.length).equals(MAGIC)) throw new ProtobufBodyError('not a Kubernetes protobuf envelope (no k8s\\0 prefix)');
  const unknown = fields(body.subarray(MAGIC.length));
  const typeMeta = unknown.find((f) => f.number === 1);
  const raw = unknown.find((f) => f.number === 2)?.bytes ?? Buffer.alloc(0);
  const meta = typeMeta ? fields(typeMeta.bytes) : [];
  const apiVersion = meta.find((f) => f.number === 1)?.bytes.toString('utf8') ?? '';
  const kind = meta.find((f) => f.number === 2)?.bytes.toString('utf8') ?? '';
  const schema = KINDS[kind];
  if (!schema) throw new ProtobufBodyError(`kind ${JSON.stringify(kind)} is not served in protobuf here`);
  return { apiVersion, kind, ...decodeMessage(raw, schema) };
}
