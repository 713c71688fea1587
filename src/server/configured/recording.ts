import type { GatewayConfig } from '../../config/model.js';
import type { Logger } from '../../observability/logger.js';
import type { GatewayMetrics } from '../../observability/metrics.js';
import { RecordingTaps } from '../../recording/recording-taps.js';
import { startRetention } from '../../recording/retention.js';

/** Session recording as `recording.*` configures it: the taps the translator opens, and the retention sweep. */
export function configuredRecording(config: GatewayConfig, logger: Logger, metrics: GatewayMetrics): { taps: RecordingTaps; stop(): Promise<void> } | undefined {
  const settings = config.recording;
  if (!settings) return undefined;
  const taps = new RecordingTaps(settings, logger.child({ component: 'recording' }), {
    written: (bytes) => metrics.recordingWritten(bytes),
    failed: (reason) => metrics.recordingFailed(reason),
  });
  const retention = startRetention(settings.directory, settings.retention, taps.active, settings.retention.sweepIntervalSeconds * 1000, logger, {
    swept: (result) => {
      metrics.recordingsRemoved('age', result.deletedForAge);
      metrics.recordingsRemoved('size', result.deletedForSize);
      if (result.spaceAvailable !== undefined) metrics.recordingSpaceAvailable(result.spaceAvailable);
    },
  });
  return {
    taps,
    stop: () => {
      retention.stop();
      return taps.close();
    },
  };
}
