/**
 * Health as the configuration describes it: one readiness check per upstream (its outcome in
 * metrics), and the admin listener that serves them with the metrics, unless `admin.listen` is off.
 */
import type { GatewayConfig } from '../../config/model.js';
import { withListenSetting } from '../../net/listen.js';
import type { RunningServer } from '../../net/running-server.js';
import { HealthChecks, startAdminServer, upstreamReachableCheck } from '../../observability/health.js';
import type { Logger } from '../../observability/logger.js';
import type { GatewayMetrics } from '../../observability/metrics.js';

export function upstreamHealth(config: GatewayConfig, metrics: GatewayMetrics, logger: Logger): HealthChecks {
  const health = new HealthChecks({ logger, onUpstreamOutcome: (upstream, reachable) => metrics.upstreamReachable(upstream, reachable) });
  for (const upstream of config.upstreams) health.addUpstreamCheck(upstream.name, upstreamReachableCheck(upstream.name, upstream));
  return health;
}

/** The admin listener, or undefined when it is off; a failure to bind names `admin.listen`. */
export async function adminListener(config: GatewayConfig, health: HealthChecks, metrics: GatewayMetrics, logger: Logger): Promise<RunningServer | undefined> {
  if (!config.admin) return undefined;
  return startAdminServer({ listen: config.admin, health, metrics, logger }).catch((error: unknown) => {
    throw withListenSetting(error, 'admin.listen');
  });
}

/** Whether a request may go to `upstream` now: not while its readiness check says unreachable. */
export function upstreamAvailable(health: HealthChecks): (upstream: string) => boolean {
  return (upstream) => {
    if (health.upstreamState(upstream) !== 'unreachable') return true;
    // Refused at once, and checked again now, so a cluster that is back is served without waiting for the next round.
    void health.checkUpstream(upstream);
    return false;
  };
}
