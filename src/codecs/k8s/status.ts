/** metav1.Status as it travels on the error channel and in HTTP error bodies. */
export interface StatusCause {
  /** Go field `Type`, JSON key `reason` (e.g. "ExitCode"). */
  reason?: string;
  message?: string;
  field?: string;
}

export interface Status {
  kind?: 'Status';
  apiVersion?: 'v1';
  metadata: Record<string, never> | Record<string, unknown>;
  status: 'Success' | 'Failure';
  message?: string;
  reason?: string;
  details?: { name?: string; group?: string; kind?: string; causes?: StatusCause[] };
  code?: number;
}

const NON_ZERO_EXIT_PREFIX = 'command terminated with non-zero exit code: ';

/** What a v4 server writes on success: exactly `{"metadata":{},"status":"Success"}` (captures). */
export function successStatus(): Status {
  return { metadata: {}, status: 'Success' };
}

/**
 * The kubelet's report of a non-zero exit (captures/spdy-exec-exit3): key order and wording as
 * written by kubelet/pkg/cri/streaming/remotecommand, which client-go reads back as an exit code.
 */
export function exitCodeStatus(code: number): Status {
  return {
    metadata: {},
    status: 'Failure',
    message: `${NON_ZERO_EXIT_PREFIX}exit status ${code}`,
    reason: 'NonZeroExitCode',
    details: { causes: [{ reason: 'ExitCode', message: String(code) }] },
  };
}

/** A full Status for HTTP error bodies and gateway-made failures (e.g. 503 ServiceUnavailable). */
export function errorStatus(code: number, reason: string, message: string): Status {
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code };
}

export class StatusParseError extends Error {
  override name = 'StatusParseError';
}

/** Reads a JSON Status; anything that is not one (no `status` field) is refused. */
export function parseStatus(bytes: Buffer | string): Status {
  let value: unknown;
  try {
    value = JSON.parse(typeof bytes === 'string' ? bytes : bytes.toString('utf8'));
  } catch (error) {
    throw new StatusParseError(`error stream is not JSON: ${(error as Error).message}`);
  }
  if (typeof value !== 'object' || value === null) throw new StatusParseError('error stream is not a Status object');
  const status = (value as { status?: unknown }).status;
  if (status !== 'Success' && status !== 'Failure') throw new StatusParseError('error stream Status has no valid "status"');
  return value as Status;
}

/** 0 for Success; the ExitCode cause for NonZeroExitCode (client-go v4 errorDecoder); otherwise undefined. */
export function exitCodeOf(status: Status): number | undefined {
  if (status.status === 'Success') return 0;
  if (status.reason !== 'NonZeroExitCode') return undefined;
  const cause = status.details?.causes?.find((c) => c.reason === 'ExitCode');
  const code = Number(cause?.message);
  return Number.isInteger(code) ? code : undefined;
}

/** v1–v3 error channels carry `status.Error()`: the message alone, and only on failure. */
export function statusToText(status: Status): string {
  return status.message ?? status.reason ?? 'unknown error';
}

/**
 * A v1–v3 upstream reports failures as text. The kubelet's text for an exit code is
 * "command terminated with non-zero exit code: exit status N"; recover N so v4/v5 clients still
 * get the exit code (client-go v1–v3 clients only see the text).
 */
export function textToStatus(text: string): Status {
  const match = /^command terminated with non-zero exit code: (?:error executing command \[.*\], )?exit status (\d+)$/.exec(text.trim());
  if (match) {
    const status = exitCodeStatus(Number(match[1]));
    status.message = text.trim();
    return status;
  }
  return { metadata: {}, status: 'Failure', message: text, reason: 'InternalError' };
}
