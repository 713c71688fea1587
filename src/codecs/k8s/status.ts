/**
 * metav1.Status as it travels on the error channel and in HTTP error bodies. Objects built here
 * serialize (JSON.stringify) with the keys in the order Go's encoding/json writes metav1.Status:
 * kind, apiVersion, metadata, status, message, reason, details, code — empty fields omitted
 * (omitempty), metadata always present.
 */
interface StatusCause {
  /** Go field `Type`, JSON key `reason` (e.g. "ExitCode"). */
  reason?: string;
  message?: string;
  field?: string;
}

export interface StatusDetails {
  name?: string;
  group?: string;
  kind?: string;
  uid?: string;
  causes?: StatusCause[];
  retryAfterSeconds?: number;
}

export interface Status {
  kind?: string;
  apiVersion?: string;
  metadata: Record<string, unknown>;
  status: 'Success' | 'Failure';
  message?: string;
  reason?: string;
  details?: StatusDetails;
  code?: number;
}

/** apimachinery util/remotecommand: NonZeroExitCodeReason and ExitCodeCauseType. */
const NON_ZERO_EXIT_CODE_REASON = 'NonZeroExitCode';
const EXIT_CODE_CAUSE_TYPE = 'ExitCode';

const NON_ZERO_EXIT_PREFIX = 'command terminated with non-zero exit code: ';

/** What v4/v5 servers write on success: exactly `{"metadata":{},"status":"Success"}` (captures/spdy-exec-cat-stdin). */
export function successStatus(): Status {
  return { metadata: {}, status: 'Success' };
}

/**
 * The kubelet's report of a non-zero exit (kubelet remotecommand/exec.go ServeExec), byte for byte as
 * in captures/spdy-exec-exit3: message `command terminated with non-zero exit code: <err>`, reason
 * NonZeroExitCode, one cause {reason: ExitCode, message: "<n>"}. `<err>` is the runtime's exit error
 * text: `exit status N` (os/exec, the default here), `error executing command [sh -c exit 3], exit
 * code 3` (containerd, CRI-O); pass it to keep an upstream's wording.
 */
export function exitCodeStatus(code: number, exitError = `exit status ${code}`): Status {
  return {
    metadata: {},
    status: 'Failure',
    message: NON_ZERO_EXIT_PREFIX + exitError,
    reason: NON_ZERO_EXIT_CODE_REASON,
    details: { causes: [{ reason: EXIT_CODE_CAUSE_TYPE, message: String(code) }] },
  };
}

/**
 * apierrors.NewInternalError(err) as written on an error channel (json.Marshal of the Status, so no
 * kind/apiVersion): what the API server's translator reports for every upstream failure that is not
 * an exit code or an upgrade refusal with a Status body.
 */
export function internalErrorStatus(error: string): Status {
  return {
    metadata: {},
    status: 'Failure',
    message: `Internal error occurred: ${error}`,
    reason: 'InternalError',
    details: { causes: [{ message: error }] },
    code: 500,
  };
}

/**
 * A full Status for HTTP error bodies (kind/apiVersion set, as the API server's responsewriters write
 * them), e.g. 400 BadRequest, 403 Forbidden, 502/503 for an unreachable upstream.
 */
export function errorStatus(code: number, reason: string, message: string, details?: StatusDetails): Status {
  const status: Status = { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason };
  if (details) status.details = details;
  status.code = code;
  return status;
}

/** @internal Exported for its unit tests (byte vectors, seams); the product does not import it. */
export class StatusParseError extends Error {
  override name = 'StatusParseError';
}

/**
 * Reads a JSON Status the way client-go's v4 errorDecoder does (json.Unmarshal into metav1.Status):
 * keys matched case-insensitively (the last match wins), unknown keys dropped, null = absent, a field
 * of the wrong type is an error. Anything that is not an object with status Success or Failure is
 * refused (client-go: "error stream protocol error"). The result is rebuilt in Go's key order, so
 * JSON.stringify of it is what Go would re-marshal.
 */
export function parseStatus(bytes: Buffer | string): Status {
  let value: unknown;
  try {
    value = JSON.parse(typeof bytes === 'string' ? bytes : bytes.toString('utf8'));
  } catch (error) {
    throw new StatusParseError(`error stream is not JSON: ${(error as Error).message}`);
  }
  if (!isObject(value)) throw new StatusParseError('error stream is not a Status object');
  const status = stringField(value, 'status');
  if (status !== 'Success' && status !== 'Failure') throw new StatusParseError('error stream Status has no valid "status"');
  const result = {} as Status;
  const kind = stringField(value, 'kind');
  const apiVersion = stringField(value, 'apiVersion');
  if (kind) result.kind = kind;
  if (apiVersion) result.apiVersion = apiVersion;
  const metadata = field(value, 'metadata');
  if (metadata !== undefined && !isObject(metadata)) throw new StatusParseError('Status "metadata" is not an object');
  result.metadata = metadata ?? {};
  result.status = status;
  const message = stringField(value, 'message');
  const reason = stringField(value, 'reason');
  if (message) result.message = message;
  if (reason) result.reason = reason;
  const details = parseDetails(field(value, 'details'));
  if (details) result.details = details;
  const code = integerField(value, 'code');
  if (code) result.code = code;
  return result;
}

/**
 * The exit code client-go's v4/v5 errorDecoder derives: 0 for Success; for Failure with reason
 * NonZeroExitCode, the first cause of type ExitCode parsed as strconv.ParseUint(msg, 10, 8) — decimal
 * digits, 0–255. Undefined for every other Status (client-go reports those as errors, kubectl exits 1)
 * and for a NonZeroExitCode it cannot read ("error stream protocol error").
 */
export function exitCodeOf(status: Status): number | undefined {
  if (status.status === 'Success') return 0;
  if (status.status !== 'Failure' || status.reason !== NON_ZERO_EXIT_CODE_REASON) return undefined;
  const cause = status.details?.causes?.find((c) => c.reason === EXIT_CODE_CAUSE_TYPE);
  const text = cause?.message ?? '';
  if (!/^[0-9]+$/.test(text)) return undefined;
  const code = Number(text);
  return code <= 255 ? code : undefined;
}

/**
 * What the API server's StreamTranslator writes to a v5 client for the Status a v4 upstream reported:
 * client-go's v4 errorDecoder reads it into an error, and the translator reports that error again
 * (apiserver util/proxy/streamtranslator.go). An exit code comes back as NonZeroExitCode with the
 * message rebuilt from client-go's CodeExitError, as in captures/websocket-apiserver-exec-v5-exit3;
 * any other failure becomes InternalError around the decoder's error text.
 */
export function translatorStatus(upstream: Status): Status {
  if (upstream.status === 'Success') return successStatus();
  if (upstream.reason !== NON_ZERO_EXIT_CODE_REASON) return internalErrorStatus(upstream.message ?? '');
  if (!upstream.details) return internalErrorStatus('error stream protocol error: details must be set');
  const cause = upstream.details.causes?.find((c) => c.reason === EXIT_CODE_CAUSE_TYPE);
  if (!cause) return internalErrorStatus(`error stream protocol error: no ${EXIT_CODE_CAUSE_TYPE} cause given`);
  const code = exitCodeOf(upstream);
  if (code === undefined) return internalErrorStatus(`error stream protocol error: invalid exit code value ${JSON.stringify(cause.message ?? '')}`);
  return exitCodeStatus(code, `command terminated with exit code ${code}`);
}

/**
 * The text a v1–v3 server writes on the error stream: `status.Error()`, which is the Status message
 * (kubelet v1WriteStatusFunc; nothing is written on success). Go would write an empty message as
 * nothing at all, which a client reads as success; here a failure always has some text.
 */
export function statusToText(status: Status): string {
  return status.message || status.reason || 'unknown error';
}

/**
 * A v1–v3 upstream's error-stream text as a Status for a v4/v5 client. client-go's v2/v3 errorDecoder
 * turns any non-empty text into the error `error executing remote command: <text>` (v1: capital E),
 * never an exit code, and the API server's translator reports that error as InternalError. The gateway
 * does the same, except that the kubelet's exit-code text (`command terminated with non-zero exit
 * code: …` ending in `exit status N` / `exit code N`) becomes the NonZeroExitCode Status again, so the
 * client still gets the exit code.
 */
export function textToStatus(text: string): Status {
  if (text.startsWith(NON_ZERO_EXIT_PREFIX)) {
    const exitError = text.slice(NON_ZERO_EXIT_PREFIX.length).replace(/\s+$/, '');
    const match = /(?:exit status|exit code) (\d+)$/.exec(exitError);
    if (match) return exitCodeStatus(Number(match[1]), exitError);
  }
  return internalErrorStatus(`error executing remote command: ${text}`);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * encoding/json's key matching: every key that equals the field name case-insensitively sets the
 * field, in input order, so the last one wins; null leaves the field as it is (= absent).
 */
function field(object: Record<string, unknown>, name: string): unknown {
  const lower = name.toLowerCase();
  let found: unknown;
  for (const key of Object.keys(object)) {
    if (key.toLowerCase() === lower && object[key] !== null) found = object[key];
  }
  return found;
}

function stringField(object: Record<string, unknown>, name: string): string | undefined {
  const value = field(object, name);
  if (value !== undefined && typeof value !== 'string') throw new StatusParseError(`Status "${name}" is not a string`);
  return value;
}

/** int32 fields (code, retryAfterSeconds). */
function integerField(object: Record<string, unknown>, name: string): number | undefined {
  const value = field(object, name);
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < -0x80000000 || value > 0x7fffffff) {
    throw new StatusParseError(`Status "${name}" is not a 32-bit integer`);
  }
  return value;
}

function parseDetails(value: unknown): StatusDetails | undefined {
  if (value === undefined) return undefined;
  if (!isObject(value)) throw new StatusParseError('Status "details" is not an object');
  const details: StatusDetails = {};
  for (const name of ['name', 'group', 'kind', 'uid'] as const) {
    const text = stringField(value, name);
    if (text) details[name] = text;
  }
  const causes = field(value, 'causes');
  if (causes !== undefined) {
    if (!Array.isArray(causes)) throw new StatusParseError('Status "details.causes" is not an array');
    const parsed = causes.map(parseCause);
    if (parsed.length > 0) details.causes = parsed;
  }
  const retry = integerField(value, 'retryAfterSeconds');
  if (retry) details.retryAfterSeconds = retry;
  return details;
}

function parseCause(value: unknown): StatusCause {
  if (value === null) return {};
  if (!isObject(value)) throw new StatusParseError('Status cause is not an object');
  const cause: StatusCause = {};
  for (const name of ['reason', 'message', 'field'] as const) {
    const text = stringField(value, name);
    if (text) cause[name] = text;
  }
  return cause;
}
