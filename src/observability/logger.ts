import { pino, type Logger, type DestinationStream } from 'pino';
import { PinoPretty } from 'pino-pretty';

export type { Logger };

export interface LoggerOptions {
  level?: string;
  /** Where JSON lines go; stdout when absent. Tests pass a stream to read the session lines back. */
  destination?: DestinationStream;
  /** `json` lines (for machines), `pretty` (for people), `auto`: pretty when stdout is a terminal. Default json. */
  format?: 'json' | 'pretty' | 'auto';
}

/** Never let a credential reach a log line, whatever object a caller hands to pino. */
const REDACTED_PATHS = [
  'authorization',
  'headers.authorization',
  'req.headers.authorization',
  'token',
  '*.token',
  'bearerToken',
  '*.bearerToken',
];

export function createLogger(options: LoggerOptions = {}): Logger {
  const settings = {
    level: options.level ?? 'info',
    base: { service: 'kube-stream-gateway' },
    redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
  };
  const pretty = options.format === 'pretty' || (options.format === 'auto' && process.stdout.isTTY === true);
  if (pretty) return pino(settings, PinoPretty({ destination: options.destination ?? 1, sync: true, ignore: 'service,pid,hostname' }));
  return options.destination ? pino(settings, options.destination) : pino(settings);
}
