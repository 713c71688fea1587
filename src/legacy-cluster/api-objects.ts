/**
 * The documents a Kubernetes 1.28 API server returns, as far as kubectl and the gateway read them:
 * version, legacy discovery, pods, namespaces and metav1.Status errors. Shapes and wording follow
 * the API server (apimachinery `pkg/api/errors`, `pkg/registry/core/pod`); fields nothing reads are
 * still filled where a real object always has them.
 */
import type { Status } from '../codecs/k8s/status.js';

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

/** The review APIs this cluster serves besides the core group (reviews.ts). */
const REVIEW_GROUPS = ['authentication.k8s.io', 'authorization.k8s.io'] as const;

function apiGroup(name: string): object {
  const version = { groupVersion: `${name}/v1`, version: 'v1' };
  return { name, versions: [version], preferredVersion: version };
}

export const API_GROUP_LIST = { kind: 'APIGroupList', apiVersion: 'v1', groups: REVIEW_GROUPS.map(apiGroup) };

/** `/apis/{group}`, for the groups of API_GROUP_LIST. */
export const API_GROUPS: ReadonlyMap<string, object> = new Map(REVIEW_GROUPS.map((name) => [name, { kind: 'APIGroup', apiVersion: 'v1', ...apiGroup(name) }]));

const createOnly = (name: string, kind: string): object => ({ name, singularName: name.slice(0, -1), namespaced: false, kind, verbs: ['create'] });

/** `/apis/{group}/v1`: only the resources this cluster serves, with a 1.28 server's entries for them. */
export const API_GROUP_RESOURCES: ReadonlyMap<string, object> = new Map([
  ['authentication.k8s.io/v1', { kind: 'APIResourceList', apiVersion: 'v1', groupVersion: 'authentication.k8s.io/v1', resources: [createOnly('tokenreviews', 'TokenReview')] }],
  [
    'authorization.k8s.io/v1',
    {
      kind: 'APIResourceList',
      apiVersion: 'v1',
      groupVersion: 'authorization.k8s.io/v1',
      resources: [createOnly('selfsubjectaccessreviews', 'SelfSubjectAccessReview'), createOnly('subjectaccessreviews', 'SubjectAccessReview')],
    },
  ],
]);

/** The core/v1 entries of a 1.28 server for what this stand-in serves, with the real verbs and kinds. */
export const CORE_V1_RESOURCES = {
  kind: 'APIResourceList',
  groupVersion: 'v1',
  resources: [
    {
      name: 'namespaces',
      singularName: 'namespace',
      namespaced: false,
      kind: 'Namespace',
      verbs: ['create', 'delete', 'get', 'list', 'patch', 'update', 'watch'],
      shortNames: ['ns'],
      storageVersionHash: 'Q3oi5N2YM8M=',
    },
    {
      name: 'pods',
      singularName: 'pod',
      namespaced: true,
      kind: 'Pod',
      verbs: ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'],
      shortNames: ['po'],
      categories: ['all'],
      storageVersionHash: 'xPOwRZ+Yhw8=',
    },
    { name: 'pods/attach', singularName: '', namespaced: true, kind: 'PodAttachOptions', verbs: ['create', 'get'] },
    { name: 'pods/exec', singularName: '', namespaced: true, kind: 'PodExecOptions', verbs: ['create', 'get'] },
    { name: 'pods/log', singularName: '', namespaced: true, kind: 'Pod', verbs: ['get'] },
    { name: 'pods/portforward', singularName: '', namespaced: true, kind: 'PodPortForwardOptions', verbs: ['create', 'get'] },
  ],
};

export interface DemoContainer {
  name: string;
  /** Shown in the pod's spec as the image; nothing is pulled. */
  image: string;
  /** The container's main process, which `attach` connects to. */
  command: string[];
  stdin: boolean;
  /** The runtime closes the main process's stdin when the first attached client's stdin ends. */
  stdinOnce: boolean;
  tty: boolean;
  ports?: number[];
}

export interface DemoPod {
  namespace: string;
  name: string;
  uid: string;
  defaultContainer: string;
  containers: DemoContainer[];
  createdAt: string;
  nodeName: string;
}

export function podObject(pod: DemoPod, restartCount: (container: string) => number = () => 0): object {
  return { kind: 'Pod', apiVersion: 'v1', ...podBody(pod, restartCount) };
}

/** List items carry no kind/apiVersion, as the API server serializes them. */
export function podList(pods: DemoPod[], restartCount?: (pod: DemoPod, container: string) => number): object {
  return {
    kind: 'PodList',
    apiVersion: 'v1',
    metadata: { resourceVersion: '1' },
    items: pods.map((pod) => podBody(pod, (container) => restartCount?.(pod, container) ?? 0)),
  };
}

function podBody(pod: DemoPod, restartCount: (container: string) => number): object {
  const at = pod.createdAt;
  const condition = (type: string): object => ({ type, status: 'True', lastProbeTime: null, lastTransitionTime: at });
  return {
    metadata: {
      name: pod.name,
      namespace: pod.namespace,
      uid: pod.uid,
      resourceVersion: '1',
      creationTimestamp: at,
      labels: { app: pod.name },
      annotations: { 'kubectl.kubernetes.io/default-container': pod.defaultContainer },
    },
    spec: {
      containers: pod.containers.map((c) => ({
        name: c.name,
        image: c.image,
        command: c.command,
        ...(c.ports ? { ports: c.ports.map((port) => ({ containerPort: port, protocol: 'TCP' })) } : {}),
        resources: {},
        terminationMessagePath: '/dev/termination-log',
        terminationMessagePolicy: 'File',
        imagePullPolicy: 'IfNotPresent',
        ...(c.stdin ? { stdin: true } : {}),
        ...(c.stdinOnce ? { stdinOnce: true } : {}),
        ...(c.tty ? { tty: true } : {}),
      })),
      restartPolicy: 'Always',
      terminationGracePeriodSeconds: 30,
      dnsPolicy: 'ClusterFirst',
      serviceAccountName: 'default',
      serviceAccount: 'default',
      nodeName: pod.nodeName,
      securityContext: {},
      schedulerName: 'default-scheduler',
      priority: 0,
      enableServiceLinks: true,
      preemptionPolicy: 'PreemptLowerPriority',
    },
    status: {
      phase: 'Running',
      conditions: [condition('Initialized'), condition('Ready'), condition('ContainersReady'), condition('PodScheduled')],
      hostIP: '127.0.0.1',
      podIP: '127.0.0.1',
      podIPs: [{ ip: '127.0.0.1' }],
      startTime: at,
      containerStatuses: pod.containers.map((c) => ({
        name: c.name,
        state: { running: { startedAt: at } },
        lastState: {},
        ready: true,
        restartCount: restartCount(c.name),
        image: c.image,
        imageID: '',
        containerID: `containerd://${containerId(pod, c.name)}`,
        started: true,
      })),
      qosClass: 'BestEffort',
    },
  };
}

/** A stable 64-hex id per container, shaped like containerd's. */
function containerId(pod: DemoPod, container: string): string {
  const seed = `${pod.uid}/${container}`;
  let hex = '';
  for (let round = 0; hex.length < 64; round++) {
    let hash = 0x811c9dc5 ^ round;
    for (const ch of seed) hash = Math.imul(hash ^ ch.charCodeAt(0), 0x01000193) >>> 0;
    hex += hash.toString(16).padStart(8, '0');
  }
  return hex.slice(0, 64);
}

export function namespaceObject(name: string, createdAt: string): object {
  return {
    kind: 'Namespace',
    apiVersion: 'v1',
    metadata: { name, uid: '', resourceVersion: '1', creationTimestamp: createdAt, labels: { 'kubernetes.io/metadata.name': name } },
    spec: { finalizers: ['kubernetes'] },
    status: { phase: 'Active' },
  };
}

export function namespaceList(names: string[], createdAt: string): object {
  return {
    kind: 'NamespaceList',
    apiVersion: 'v1',
    metadata: { resourceVersion: '1' },
    items: names.map((name) => {
      const { kind: _kind, apiVersion: _apiVersion, ...item } = namespaceObject(name, createdAt) as Record<string, unknown>;
      return item;
    }),
  };
}

/**
 * An error the API server reports as a `metav1.Status` body (apimachinery `pkg/api/errors`), in the
 * server's key order: kind, apiVersion, metadata, status, message, reason, details, code.
 */
export class ApiError extends Error {
  constructor(readonly status: Status & { code: number }) {
    super(status.message);
  }

  get code(): number {
    return this.status.code;
  }
}

function failure(code: number, reason: string, message: string, details?: Status['details']): ApiError {
  return new ApiError({
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message,
    reason,
    ...(details ? { details } : {}),
    code,
  });
}

/** errors.NewUnauthorized(""), what the authentication filter answers. */
export const unauthorized = (): ApiError => failure(401, 'Unauthorized', 'Unauthorized');

/** errors.NewNotFound(pods, name). */
export const podNotFound = (name: string): ApiError => failure(404, 'NotFound', `pods "${name}" not found`, { name, kind: 'pods' });

export const namespaceNotFound = (name: string): ApiError =>
  failure(404, 'NotFound', `namespaces "${name}" not found`, { name, kind: 'namespaces' });

/** The API server's answer for a path no handler serves (a generic NotFound with empty details). */
export const pathNotFound = (): ApiError => failure(404, 'NotFound', 'the server could not find the requested resource', {});

export const methodNotAllowed = (): ApiError =>
  failure(405, 'MethodNotAllowed', 'the server does not allow this method on the requested resource', {});

export const requestEntityTooLarge = (limit: number): ApiError => failure(413, 'RequestEntityTooLarge', `Request entity too large: limit is ${limit}`);

/** errors.NewBadRequest(message). */
export const badRequest = (message: string): ApiError => failure(400, 'BadRequest', message);

