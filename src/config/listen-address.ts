import { isIP } from 'node:net';
import type { ListenAddress } from '../net/running-server.js';
import { ConfigError } from './errors.js';

const HOST_NAME = /^[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?$/;

/**
 * `HOST:PORT` or `[IPv6]:PORT`; HOST is an IPv4 address or a host name. Port 0 asks the system for
 * a free one (the servers report the port they got). `label` names the option in errors.
 */
export function parseListenAddress(value: string, label: string): ListenAddress {
  const address = readListenAddress(value);
  if (!address) throw new ConfigError(`${label}: ${expectation(value)}`);
  return address;
}

/** What is wrong with `value` as a listen address (the words after `label: `), or undefined. */
export function listenAddressProblem(value: string): string | undefined {
  return readListenAddress(value) ? undefined : expectation(value);
}

function expectation(value: string): string {
  return `expected HOST:PORT (e.g. 127.0.0.1:8080, [::1]:8080; port 0-65535), got ${JSON.stringify(value)}`;
}

function readListenAddress(value: string): ListenAddress | undefined {
  const match = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(value.trim());
  if (!match) return undefined;
  const port = Number(match[3]);
  const host = (match[1] ?? match[2])!;
  if (port > 65535) return undefined;
  if (match[1] !== undefined ? isIP(host) !== 6 : !HOST_NAME.test(host)) return undefined;
  return { host, port };
}

/** 127.0.0.0/8, ::1 (any spelling) and `localhost`. */
export function isLoopback(host: string): boolean {
  if (host.toLowerCase() === 'localhost') return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  if (isIP(host) === 6) return new URL(`http://[${host}]/`).hostname === '[::1]';
  return false;
}
