import type { ListenAddress } from '../server/running-server.js';

/** `HOST:PORT`, `[v6]:PORT`; port 0 asks the system for a free one. */
export function parseListenAddress(value: string, option: string): ListenAddress {
  const match = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(value.trim());
  const port = match ? Number(match[3]) : NaN;
  if (!match || port > 65535) throw new ConfigError(`${option}: expected HOST:PORT (port 0-65535), got "${value}"`);
  return { host: (match[1] ?? match[2])!, port };
}

const LOOPBACK = /^(127\.\d{1,3}\.\d{1,3}\.\d{1,3}|::1|localhost)$/;

export function isLoopback(host: string): boolean {
  return LOOPBACK.test(host);
}

/** A configuration problem: printed as one line naming the option, exit code 2. */
export class ConfigError extends Error {
  override name = 'ConfigError';
}
