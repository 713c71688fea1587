/** The configured audit sinks (the `path` log, the webhook) behind one write, each counted in metrics. */
import type { GatewayConfig } from '../../config/model.js';
import { createAuditWriter, type AuditEvent, type AuditWriter } from '../../observability/audit/events.js';
import { createAuditWebhook, type AuditWebhook } from '../../observability/audit/webhook.js';
import type { Logger } from '../../observability/logger.js';
import type { GatewayMetrics } from '../../observability/metrics.js';
import { postJson } from '../../upstream/api-client.js';
import type { UpstreamTarget } from '../../upstream/target.js';

/** How long a shutdown waits for the webhook receiver to take what is left. */
const WEBHOOK_FLUSH_MS = 3_000;
/** Attempts per webhook batch, the first included (kube-apiserver's webhook backoff has 5 steps). */
const WEBHOOK_ATTEMPTS = 5;

export interface AuditSinks {
  /** Absent when events go nowhere. */
  write?: (event: AuditEvent) => void;
  close(): Promise<void>;
}

export function auditSinks(config: GatewayConfig, metrics: GatewayMetrics, logger: Logger): AuditSinks {
  const audit = config.audit;
  let log: AuditWriter | undefined;
  let webhook: AuditWebhook | undefined;
  if (audit?.path !== undefined) {
    log = createAuditWriter(audit.path, {
      rotation: audit.rotation,
      onWritten: () => metrics.auditWritten('log'),
      onDropped: (count) => metrics.auditDropped('log', count),
    });
  }
  if (audit?.webhook) {
    const { target, ...batching } = audit.webhook;
    const receiver: UpstreamTarget = { ...target, url: new URL(target.url.origin) };
    const path = target.url.pathname + target.url.search;
    webhook = createAuditWebhook({
      ...batching,
      maxAttempts: WEBHOOK_ATTEMPTS,
      post: async (list) => (await postJson(receiver, path, list)).status,
      onWritten: (count) => metrics.auditWritten('webhook', count),
      onDropped: (count) => metrics.auditDropped('webhook', count),
      onError: (message) => logger.warn({ event: 'audit-webhook-failed', err: message }, 'audit webhook delivery failed'),
    });
  }
  const sinks = [log, webhook].filter((sink) => sink !== undefined);
  return {
    write: sinks.length === 0 ? undefined : (event) => {
      for (const sink of sinks) sink.write(event);
    },
    async close() {
      await Promise.all([log?.close(), webhook?.close(WEBHOOK_FLUSH_MS)]);
    },
  };
}
