import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { createLogger } from '../src/observability/logger.js';
import { TOKEN } from './clients.js';
import { startSyntheticUpstream } from './synthetic-upstream.js';

/**
 * The synthetic upstream (synthetic-upstream.ts) as a process of its own, for the benchmark: listens
 * on loopback (HTTPS with `--tls-cert` and `--tls-key`), accepts the benchmark's token, and prints its
 * address as the gateway's `listening` line does. Logs only warnings: its per-session lines are not
 * part of what is measured.
 */
const { values } = parseArgs({ options: { 'tls-cert': { type: 'string' }, 'tls-key': { type: 'string' } } });
const tls = values['tls-cert'] && values['tls-key'] ? { cert: readFileSync(values['tls-cert']), key: readFileSync(values['tls-key']) } : undefined;
const upstream = await startSyntheticUpstream({ listen: { host: '127.0.0.1', port: 0 }, token: TOKEN, logger: createLogger({ level: 'warn' }), ...(tls ? { tls } : {}) });
process.stdout.write(`${JSON.stringify({ event: 'listening', url: upstream.url })}\n`);
process.on('SIGTERM', () => process.exit(0));
