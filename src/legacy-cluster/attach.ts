import { successStatus, type Status } from '../codecs/k8s/status.js';
import { internalErrorStatus } from '../codecs/k8s/status.js';
import type { Attachment, ContainerMainProcess } from './containers.js';
import type { Execution, SessionStreams } from './remote-command.js';

/**
 * `kubectl attach`: the client joins the container's main process (kubelet attach.go). The kubelet
 * reports Success when the attach ends, whatever the main process's exit code; only a failure to
 * attach becomes an InternalError "error attaching to container: …".
 */
export function attachToContainer(container: ContainerMainProcess, tty: boolean, streams: SessionStreams): Execution {
  let aborted = false;
  let attachment: Attachment | undefined;
  const status = (async (): Promise<Status> => {
    try {
      attachment = await container.attach({ stdin: streams.stdin, stdout: streams.stdout, stderr: streams.stderr }, tty);
    } catch (error) {
      return internalErrorStatus(`error attaching to container: ${(error as Error).message}`);
    }
    if (aborted) attachment.detach();
    // The main processes have no terminal: resizes go nowhere.
    streams.resize?.resume();
    await attachment.ended;
    return successStatus();
  })();
  return {
    status,
    async abort() {
      aborted = true;
      attachment?.detach();
    },
  };
}
