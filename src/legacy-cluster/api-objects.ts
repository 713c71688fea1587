/** The Kubernetes objects a 1.28 API server would return, as far as kubectl needs them to exec. */

export const LEGACY_VERSION = {
  major: '1',
  minor: '28',
  gitVersion: 'v1.28.15',
  gitCommit: '841856557ef0f6a399096c42635d114d6f2cf7f4',
  gitTreeState: 'clean',
  buildDate: '2024-10-22T20:25:06Z',
  goVersion: 'go1.22.8',
  compiler: 'gc',
  platform: 'linux/amd64',
};

export function apiVersions(serverAddress: string): object {
  return {
    kind: 'APIVersions',
    versions: ['v1'],
    serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress }],
  };
}

export const API_GROUP_LIST = { kind: 'APIGroupList', apiVersion: 'v1', groups: [] };

export const CORE_V1_RESOURCES = {
  kind: 'APIResourceList',
  groupVersion: 'v1',
  resources: [
    { name: 'namespaces', singularName: 'namespace', namespaced: false, kind: 'Namespace', verbs: ['get', 'list'], shortNames: ['ns'] },
    { name: 'pods', singularName: 'pod', namespaced: true, kind: 'Pod', verbs: ['get', 'list'], shortNames: ['po'], categories: ['all'] },
    { name: 'pods/attach', singularName: '', namespaced: true, kind: 'PodAttachOptions', verbs: ['create', 'get'] },
    { name: 'pods/exec', singularName: '', namespaced: true, kind: 'PodExecOptions', verbs: ['create', 'get'] },
    { name: 'pods/log', singularName: '', namespaced: true, kind: 'Pod', verbs: ['get'] },
    { name: 'pods/portforward', singularName: '', namespaced: true, kind: 'PodPortForwardOptions', verbs: ['create', 'get'] },
  ],
};

export interface DemoContainer {
  name: string;
  /** The container's main process, which `attach` connects to (started per attach, as stdinOnce does). */
  command: string[];
  stdin: boolean;
  ports?: number[];
}

export interface DemoPod {
  namespace: string;
  name: string;
  uid: string;
  defaultContainer: string;
  containers: DemoContainer[];
  createdAt: string;
}

export function podObject(pod: DemoPod): object {
  return {
    kind: 'Pod',
    apiVersion: 'v1',
    metadata: {
      name: pod.name,
      namespace: pod.namespace,
      uid: pod.uid,
      resourceVersion: '1',
      creationTimestamp: pod.createdAt,
      annotations: { 'kubectl.kubernetes.io/default-container': pod.defaultContainer },
      labels: { app: pod.name },
    },
    spec: {
      containers: pod.containers.map((c) => ({
        name: c.name,
        image: `kube-stream-gateway/legacy-${c.name}`,
        command: c.command,
        stdin: c.stdin,
        stdinOnce: c.stdin,
        ports: c.ports?.map((port) => ({ containerPort: port, protocol: 'TCP' })),
      })),
      nodeName: 'legacy-node',
    },
    status: {
      phase: 'Running',
      conditions: [{ type: 'Ready', status: 'True', lastTransitionTime: pod.createdAt }],
      podIP: '127.0.0.1',
      startTime: pod.createdAt,
      containerStatuses: pod.containers.map((c) => ({
        name: c.name,
        ready: true,
        started: true,
        restartCount: 0,
        image: `kube-stream-gateway/legacy-${c.name}`,
        imageID: '',
        state: { running: { startedAt: pod.createdAt } },
      })),
    },
  };
}

export function podList(pods: DemoPod[]): object {
  return { kind: 'PodList', apiVersion: 'v1', metadata: { resourceVersion: '1' }, items: pods.map(podObject) };
}
