/** Metrics for every session: counted when it starts, its bytes as the registry's sweep reads them, its outcome. */
import type { GatewayMetrics, SessionMetrics } from '../../observability/metrics.js';
import type { LiveSession } from '../../translators/live-session.js';
import type { SessionObserver } from '../session-registry.js';

export function sessionObserver(metrics: GatewayMetrics): SessionObserver {
  const handles = new WeakMap<LiveSession, SessionMetrics>();
  return {
    started(session, labels) {
      handles.set(session, metrics.sessionStarted({ kind: session.kind, clientProtocol: session.clientProtocol, upstream: labels.upstream }));
    },
    moved(session, fromClient, toClient) {
      const handle = handles.get(session);
      if (fromClient > 0) handle?.addBytes('client-to-upstream', fromClient);
      if (toClient > 0) handle?.addBytes('upstream-to-client', toClient);
    },
    ended(session, _labels, outcome) {
      handles.get(session)?.ended(outcome);
    },
  };
}
