import type { Logger } from '../observability/logger.js';
import { Channel } from '../codecs/channels/protocols.js';
import { exitCodeOf, statusToText, type Status } from '../codecs/k8s/status.js';
import type { ChannelConnection } from '../connections/websocket/channel-connection.js';
import { ChannelDuplex } from './channel-duplex.js';
import { flushed, type Execution, type SessionStreams, type StreamOptions } from './remote-command.js';

export interface WebSocketRemoteCommandOptions {
  channels: ChannelConnection;
  streams: StreamOptions;
  start(streams: SessionStreams): Execution;
  logger: Logger;
  /** Fields for the start and end lines: kind, namespace, pod, container, command. */
  logFields: Record<string, unknown>;
}

/**
 * The WebSocket side of exec/attach as a 1.31 API server serves it (apiserver streamtranslator.go for
 * v5, the kubelet's wsstream for v4/v1/base64): every channel exists from the start, so the command
 * runs at once; the client's v5 CLOSE on stdin ends the process's input; the Status goes on channel 3
 * after the output (JSON on v4/v5, success included; text on failures only before v4); then the
 * WebSocket is closed with 1000. The client going first aborts the execution.
 */
export function serveRemoteCommandOverWebSocket(options: WebSocketRemoteCommandOptions): Promise<void> {
  const { channels, logger } = options;
  const wanted = options.streams;
  const protocol = channels.protocol;
  const streams: SessionStreams = {
    stdin: wanted.stdin ? new ChannelDuplex(channels.channel(Channel.stdin), true) : undefined,
    stdout: wanted.stdout ? new ChannelDuplex(channels.channel(Channel.stdout), false) : undefined,
    stderr: wanted.stderr ? new ChannelDuplex(channels.channel(Channel.stderr), false) : undefined,
    resize: wanted.tty ? new ChannelDuplex(channels.channel(Channel.resize), true) : undefined,
  };
  let ended = false;
  const started = Date.now();
  logger.info({ event: 'session-start', ...options.logFields, protocol: protocol.name, tty: wanted.tty }, 'session started');
  const execution = options.start(streams);
  return new Promise((resolve) => {
    channels.onClose(() => {
      if (ended) return resolve();
      ended = true;
      logger.info({ event: 'session-end', ...options.logFields, protocol: protocol.name, reason: 'client connection closed' }, 'session ended');
      void execution.abort().then(() => resolve());
    });
    void execution.status.then(finish);
  });

  async function finish(status: Status): Promise<void> {
    // Every byte of output goes out before the Status (one socket carries every channel, in order).
    await Promise.all([flushed(streams.stdout), flushed(streams.stderr)]);
    if (ended) return;
    ended = true;
    const text = protocol.statusFormat === 'json' ? JSON.stringify(status) : status.status === 'Success' ? '' : statusToText(status);
    if (text) channels.send(Channel.error, Buffer.from(text));
    logger.info(
      {
        event: 'session-end',
        ...options.logFields,
        protocol: protocol.name,
        exitCode: exitCodeOf(status) ?? null,
        status: status.reason ?? status.status,
        durationMs: Date.now() - started,
      },
      'session ended',
    );
    channels.close(1000, '');
  }
}
