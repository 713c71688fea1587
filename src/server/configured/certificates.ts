/** The expiry of every certificate in use, for alerts before one runs out (again after each reload). */
import type { GatewayConfig } from '../../config/model.js';
import type { GatewayMetrics } from '../../observability/metrics.js';

export function recordCertificates(config: GatewayConfig, metrics: GatewayMetrics): void {
  if (config.tls) {
    metrics.certificate('serving', config.tls.cert);
    if (config.tls.clientCA) metrics.certificate('client-ca', config.tls.clientCA);
  }
  for (const upstream of config.upstreams) {
    if (upstream.credentials?.clientCert) metrics.certificate('upstream-client', upstream.credentials.clientCert, upstream.name);
  }
}
