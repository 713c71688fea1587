/**
 * Server-side printing, as `kubectl get` asks for it: `Accept: application/json;as=Table;v=v1;
 * g=meta.k8s.io, …` makes the API server answer a meta.k8s.io Table (columns and wording of the
 * 1.28 pod and namespace printers) instead of the list. Without it kubectl would print NAME and AGE only.
 */

export interface TableRequest {
  apiVersion: 'meta.k8s.io/v1' | 'meta.k8s.io/v1beta1';
  /** `includeObject`: None, Metadata (default) or Object. */
  include: 'None' | 'Metadata' | 'Object';
}

/** The Table media range the client prefers, if it names one before plain JSON. */
export function tableRequested(accept: string | undefined, query: URLSearchParams): TableRequest | undefined {
  for (const range of (accept ?? '').split(',')) {
    const [type, ...rawParams] = range.split(';').map((part) => part.trim());
    const params = new Map(rawParams.map((p) => p.split('=').map((s) => s.trim()) as [string, string]));
    if (type !== 'application/json' && type !== '*/*' && type !== 'application/*') continue;
    if (!params.has('as')) return undefined;
    if (params.get('as') === 'Table' && params.get('g') === 'meta.k8s.io' && (params.get('v') === 'v1' || params.get('v') === 'v1beta1')) {
      const include = query.get('includeObject');
      return {
        apiVersion: `meta.k8s.io/${params.get('v')}` as TableRequest['apiVersion'],
        include: include === 'None' || include === 'Object' ? include : 'Metadata',
      };
    }
  }
  return undefined;
}

interface Column {
  name: string;
  type: string;
  format: string;
  description: string;
  priority: number;
}

const POD_COLUMNS: Column[] = [
  { name: 'Name', type: 'string', format: 'name', description: 'Name must be unique within a namespace.', priority: 0 },
  { name: 'Ready', type: 'string', format: '', description: 'The aggregate readiness state of this pod for accepting traffic.', priority: 0 },
  { name: 'Status', type: 'string', format: '', description: 'The aggregate status of the containers in this pod.', priority: 0 },
  { name: 'Restarts', type: 'string', format: '', description: 'The number of times the containers in this pod have been restarted and when the last container in this pod has restarted.', priority: 0 },
  { name: 'Age', type: 'string', format: '', description: 'CreationTimestamp is a timestamp representing the server time when this object was created.', priority: 0 },
  { name: 'IP', type: 'string', format: '', description: 'IP address allocated to the pod. Routable at least within the cluster. Empty if not yet allocated.', priority: 1 },
  { name: 'Node', type: 'string', format: '', description: 'NodeName indicates in which node this pod is scheduled.', priority: 1 },
  { name: 'Nominated Node', type: 'string', format: '', description: 'nominatedNodeName is set only when this pod preempts other pods on the node.', priority: 1 },
  { name: 'Readiness Gates', type: 'string', format: '', description: 'If specified, all readiness gates will be evaluated for pod readiness.', priority: 1 },
];

const NAMESPACE_COLUMNS: Column[] = [
  { name: 'Name', type: 'string', format: 'name', description: 'Name must be unique within a namespace.', priority: 0 },
  { name: 'Status', type: 'string', format: '', description: 'The status of the namespace', priority: 0 },
  { name: 'Age', type: 'string', format: '', description: 'CreationTimestamp is a timestamp representing the server time when this object was created.', priority: 0 },
];

export type ApiObject = { metadata: { creationTimestamp: string } & Record<string, unknown> } & Record<string, unknown>;

function table(request: TableRequest, columns: Column[], objects: ApiObject[], cells: (object: ApiObject) => unknown[]): object {
  return {
    kind: 'Table',
    apiVersion: request.apiVersion,
    metadata: { resourceVersion: '1' },
    columnDefinitions: columns,
    rows: objects.map((object) => ({
      cells: cells(object),
      ...(request.include === 'None'
        ? {}
        : { object: request.include === 'Object' ? object : { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: object.metadata } }),
    })),
  };
}

export function podTable(request: TableRequest, pods: ApiObject[], now = Date.now()): object {
  return table(request, POD_COLUMNS, pods, (pod) => {
    const statuses = ((pod.status as { containerStatuses?: Array<{ ready: boolean; restartCount: number }> }).containerStatuses ?? []);
    const ready = statuses.filter((s) => s.ready).length;
    const restarts = statuses.reduce((sum, s) => sum + s.restartCount, 0);
    const status = pod.status as { phase: string; podIP?: string };
    return [
      pod.metadata.name,
      `${ready}/${statuses.length}`,
      status.phase,
      String(restarts),
      humanDuration(now - Date.parse(pod.metadata.creationTimestamp)),
      status.podIP ?? '<none>',
      (pod.spec as { nodeName?: string }).nodeName ?? '<none>',
      '<none>',
      '<none>',
    ];
  });
}

export function namespaceTable(request: TableRequest, namespaces: ApiObject[], now = Date.now()): object {
  return table(request, NAMESPACE_COLUMNS, namespaces, (namespace) => [
    namespace.metadata.name,
    (namespace.status as { phase: string }).phase,
    humanDuration(now - Date.parse(namespace.metadata.creationTimestamp)),
  ]);
}

/**
 * apimachinery duration.HumanDuration, which the printers use for AGE.
 * @internal Exported for its unit test; the product uses it only here.
 */
export function humanDuration(ms: number): string {
  const seconds = Math.trunc(ms / 1000);
  if (seconds < -1) return '<invalid>';
  if (seconds < 0) return '0s';
  if (seconds < 120) return `${seconds}s`;
  const minutes = Math.trunc(seconds / 60);
  if (minutes < 10) return seconds % 60 === 0 ? `${minutes}m` : `${minutes}m${seconds % 60}s`;
  if (minutes < 180) return `${minutes}m`;
  const hours = Math.trunc(minutes / 60);
  if (hours < 8) return minutes % 60 === 0 ? `${hours}h` : `${hours}h${minutes % 60}m`;
  if (hours < 48) return `${hours}h`;
  if (hours < 24 * 8) return hours % 24 === 0 ? `${hours / 24}d` : `${Math.trunc(hours / 24)}d${hours % 24}h`;
  if (hours < 24 * 365 * 2) return `${Math.trunc(hours / 24)}d`;
  const days = Math.trunc(hours / 24);
  if (hours < 24 * 365 * 8) return days % 365 === 0 ? `${days / 365}y` : `${Math.trunc(days / 365)}y${days % 365}d`;
  return `${Math.trunc(days / 365)}y`;
}
