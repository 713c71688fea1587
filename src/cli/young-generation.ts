import { setFlagsFromString } from 'node:v8';

/**
 * Keeps V8's young generation at its start size (1 MiB per semi-space) instead of letting it grow
 * to 16 MiB; called before the gateway's modules load. The gateway's old generation is small (about 15 MiB live) and V8 schedules a full
 * collection once its headroom is below the young generation's capacity (`--trace-incremental-marking`:
 * "Start (task)" with 26–43 MiB of headroom): at full speed that was a mark-compact every 20–30 MiB
 * relayed, 32–48 per GiB. Held small, none, and less CPU per GiB (docs/performance.md).
 * `semi_space_growth_factor` is read each time the young generation would grow, so setting it at
 * start-up takes effect; an operator's own semi-space flags (NODE_OPTIONS, node's command line) win.
 */
export function keepYoungGenerationSmall(): void {
  const given = [...process.execArgv, process.env.NODE_OPTIONS ?? ''].join(' ');
  if (/semi[-_]space/.test(given)) return;
  setFlagsFromString('--semi-space-growth-factor=1');
}
