import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join, posix } from 'node:path';
import t, { type Test } from 'tap';
import { parse, parseAllDocuments } from 'yaml';
import { kubectlPath } from '../helpers/kubectl.js';

/**
 * Renders every kustomization under deploy/ with a real `kubectl kustomize` and checks what an
 * operator relies on: probes on the admin port, the locked-down security context, replicas and
 * disruption budget, ports that match the configuration, the configuration and credentials mounted
 * where gateway.yaml says they are, and a termination grace period longer than the drain.
 */

const ROOT = new URL('../../', import.meta.url).pathname;
const IMAGE = 'registry.example.com/kube-stream-gateway:0.1.0';
const CONFIG_DIR = '/etc/kube-stream-gateway';

// Loose shapes: the rendered manifests are data, checked field by field.
type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

function render(folder: string): Obj[] {
  const output = execFileSync(kubectlPath(33), ['kustomize', join(ROOT, folder)], { encoding: 'utf8', timeout: 60_000 });
  return parseAllDocuments(output).map((document) => document.toJS() as Obj);
}

function find(objects: Obj[], kind: string, name?: string): Obj | undefined {
  return objects.find((object) => object.kind === kind && (name === undefined || object.metadata.name === name));
}

function only(objects: Obj[], kind: string, name?: string): Obj {
  const found = find(objects, kind, name);
  if (!found) throw new Error(`no ${kind} ${name ?? ''} rendered`);
  return found;
}

interface GatewayConfig {
  listen: string;
  admin: { listen: string };
  tls?: { cert: string; key: string };
  upstreams: Array<{ name: string; ca?: string; credential?: { tokenFile?: string } }>;
  shutdown: { gracePeriodSeconds: number };
}

function portOf(listen: string): number {
  return Number(/:(\d+)$/.exec(listen)![1]);
}

/** The file paths inside the pod that the configuration reads. */
function configuredFiles(config: GatewayConfig): string[] {
  const files = [`${CONFIG_DIR}/gateway.yaml`];
  if (config.tls) files.push(config.tls.cert, config.tls.key);
  for (const upstream of config.upstreams) {
    if (upstream.ca) files.push(upstream.ca);
    if (upstream.credential?.tokenFile) files.push(upstream.credential.tokenFile);
  }
  return files;
}

/**
 * The gateway container of a pod spec, checked for everything every overlay shares; returns the
 * configuration it is started with (the rendered ConfigMap's gateway.yaml).
 */
function checkGatewayPod(t: Test, objects: Obj[], pod: Obj, gateway: Obj): GatewayConfig {
  t.equal(gateway.image, IMAGE, 'the image, as set by the kustomization');
  t.notOk(gateway.command ?? gateway.args, "the image's entry point: serve --config /etc/kube-stream-gateway/gateway.yaml");

  t.equal(pod.securityContext.runAsNonRoot, true);
  t.equal(pod.securityContext.runAsUser, 1000, "the image's user");
  t.equal(pod.securityContext.seccompProfile.type, 'RuntimeDefault');
  t.equal(pod.automountServiceAccountToken, false);
  t.same(gateway.securityContext, {
    runAsNonRoot: true,
    allowPrivilegeEscalation: false,
    readOnlyRootFilesystem: true,
    capabilities: { drop: ['ALL'] },
    seccompProfile: { type: 'RuntimeDefault' },
  });
  t.ok(gateway.resources.requests.cpu && gateway.resources.requests.memory, 'requests');
  t.ok(gateway.resources.limits.cpu && gateway.resources.limits.memory, 'limits');

  const adminPort = gateway.ports.find((port: Obj) => port.name === 'admin');
  t.equal(adminPort?.containerPort, 9090);
  t.same(gateway.livenessProbe.httpGet, { path: '/livez', port: 'admin' });
  t.same(gateway.readinessProbe.httpGet, { path: '/readyz', port: 'admin' });
  t.same(gateway.startupProbe.httpGet, { path: '/livez', port: 'admin' });
  t.ok(gateway.readinessProbe.timeoutSeconds > 2, 'the probe waits longer than a readiness check may take (2 s)');

  // The configuration: mounted from the generated ConfigMap, with every file it names.
  const mount = gateway.volumeMounts.find((volumeMount: Obj) => volumeMount.mountPath === CONFIG_DIR);
  t.equal(mount?.readOnly, true);
  const volume = pod.volumes.find((candidate: Obj) => candidate.name === mount.name);
  const sources: Obj[] = volume.projected.sources;
  const configMapName = sources.find((source) => source.configMap)!.configMap.name as string;
  const configMap = only(objects, 'ConfigMap', configMapName);
  t.match(configMapName, /^kube-stream-gateway-config-[a-z0-9]{10}$/, 'a generated name: a new configuration rolls the pods');
  const config = parse(configMap.data['gateway.yaml'] as string) as GatewayConfig;
  const projected = new Map<string, Obj>();
  for (const source of sources) {
    const from = source.configMap ?? source.secret;
    for (const item of from.items) projected.set(posix.join(CONFIG_DIR, item.path), { kind: source.configMap ? 'ConfigMap' : 'Secret', name: from.name, key: item.key });
  }
  for (const file of configuredFiles(config)) {
    const item = projected.get(file);
    t.ok(item, `${file} is mounted`);
    if (item?.kind === 'ConfigMap') t.ok(only(objects, 'ConfigMap', item.name).data[item.key], `${file} has content`);
  }
  t.equal(volume.projected.defaultMode, 0o440, 'credentials readable by the gateway only');

  const tmp = gateway.volumeMounts.find((volumeMount: Obj) => volumeMount.mountPath === '/tmp');
  t.ok(pod.volumes.find((candidate: Obj) => candidate.name === tmp?.name)?.emptyDir, 'a writable /tmp beside the read-only root');

  t.equal(portOf(config.admin.listen), adminPort.containerPort, 'admin.listen is the probed port');
  t.match(config.admin.listen, /^0\.0\.0\.0:/, 'the kubelet reaches the admin listener on the pod IP');

  // SIGTERM comes after preStop; the drain and the final Status must fit before SIGKILL.
  const preStop = Number(gateway.lifecycle?.preStop?.exec?.command?.[1] ?? 0);
  t.ok(
    pod.terminationGracePeriodSeconds > preStop + config.shutdown.gracePeriodSeconds,
    `terminationGracePeriodSeconds ${pod.terminationGracePeriodSeconds} > preStop ${preStop} + drain ${config.shutdown.gracePeriodSeconds}`,
  );
  return config;
}

/** Deployment, Service, PDB and HPA of the base, in an overlay that keeps them. */
function checkReplicatedGateway(t: Test, objects: Obj[]): { config: GatewayConfig; deployment: Obj; service: Obj; gateway: Obj } {
  const deployment = only(objects, 'Deployment', 'kube-stream-gateway');
  const pod = deployment.spec.template.spec;
  const gateway = pod.containers.find((container: Obj) => container.name === 'gateway');
  const config = checkGatewayPod(t, objects, pod, gateway);
  const podLabels = deployment.spec.template.metadata.labels;

  t.ok(deployment.spec.replicas >= 2, 'at least two replicas');
  t.same(deployment.spec.strategy.rollingUpdate, { maxSurge: 1, maxUnavailable: 0 });
  const antiAffinity = pod.affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].podAffinityTerm;
  t.equal(antiAffinity.topologyKey, 'kubernetes.io/hostname');
  t.same(antiAffinity.labelSelector.matchLabels, deployment.spec.selector.matchLabels);
  t.same(gateway.lifecycle.preStop.exec.command, ['sleep', '5']);
  t.equal(pod.serviceAccountName, only(objects, 'ServiceAccount').metadata.name);

  const pdb = only(objects, 'PodDisruptionBudget');
  t.equal(pdb.spec.maxUnavailable, 1);
  t.same(pdb.spec.selector.matchLabels, deployment.spec.selector.matchLabels);
  const hpa = only(objects, 'HorizontalPodAutoscaler');
  t.same(hpa.spec.scaleTargetRef, { apiVersion: 'apps/v1', kind: 'Deployment', name: 'kube-stream-gateway' });
  t.ok(hpa.spec.minReplicas >= 2 && hpa.spec.maxReplicas > hpa.spec.minReplicas);

  const service = only(objects, 'Service', 'kube-stream-gateway');
  for (const [key, value] of Object.entries(service.spec.selector)) t.equal(podLabels[key], value, `the Service selects the pods (${key})`);
  t.equal(service.spec.sessionAffinity, 'None');
  for (const port of service.spec.ports) {
    const target = gateway.ports.find((containerPort: Obj) => containerPort.name === port.targetPort);
    t.ok(target, `Service port ${port.name} targets a container port`);
    t.equal(target?.containerPort, portOf(config.listen), 'and that is the listener of gateway.yaml');
  }
  t.notOk(service.spec.ports.some((port: Obj) => port.targetPort === 'admin'), 'the admin port is not on the Service');

  const namespace = only(objects, 'Namespace');
  t.equal(namespace.metadata.labels['pod-security.kubernetes.io/enforce'], 'restricted');
  for (const object of objects.filter((candidate) => candidate.kind !== 'Namespace')) {
    t.equal(object.metadata.namespace, namespace.metadata.name, `${object.kind} ${object.metadata.name} is in the namespace`);
  }
  return { config, deployment, service, gateway };
}

t.test('base', async (t) => {
  const objects = render('deploy/base');
  const { config, service, gateway } = checkReplicatedGateway(t, objects);
  t.equal(service.spec.type, 'ClusterIP');
  t.equal(config.listen, '0.0.0.0:8080');
  t.equal(gateway.ports.find((port: Obj) => port.name === 'http')?.containerPort, 8080);
  t.equal(only(objects, 'Deployment').spec.template.spec.terminationGracePeriodSeconds, 35);
  t.equal(config.shutdown.gracePeriodSeconds, 25);
  t.notOk(find(objects, 'Secret'), 'no Secret: a re-apply never puts placeholders over the real one');
  const volume = only(objects, 'Deployment').spec.template.spec.volumes[0];
  t.ok(volume.projected.sources.some((source: Obj) => source.secret?.name === 'kube-stream-gateway-upstream'), 'the Secret the operator creates is mounted');
});

t.test('every overlay: no Secret to overwrite a real one, and the image set in one place', async (t) => {
  for (const folder of ['deploy/base', 'deploy/overlays/ingress-backend', 'deploy/overlays/standalone', 'deploy/overlays/sidecar']) {
    t.notOk(find(render(folder), 'Secret'), `${folder}: no Secret in the manifests`);
  }
  const kustomizations = execFileSync('find', [join(ROOT, 'deploy'), '-name', 'kustomization.yaml'], { encoding: 'utf8' }).trim().split('\n');
  const settingImages = kustomizations.filter((file) => /^images:/m.test(readFileSync(file, 'utf8')));
  t.same(settingImages.map((file) => file.slice(ROOT.length)), ['deploy/components/image/kustomization.yaml'], 'images: in one file only');
  t.match(readFileSync(join(ROOT, 'deploy/components/image/kustomization.yaml'), 'utf8'), /placeholder/, 'and it says it is a placeholder');
});

t.test('autoscaling is sized for a streaming proxy: CPU request and target from the bench', async (t) => {
  const objects = render('deploy/base');
  const gateway = only(objects, 'Deployment').spec.template.spec.containers[0];
  const target = only(objects, 'HorizontalPodAutoscaler').spec.metrics[0].resource.target.averageUtilization as number;
  const requestCpu = Number(/^(\d+)m$/.exec(gateway.resources.requests.cpu)?.[1] ?? NaN) / 1000;
  t.equal(requestCpu, 0.5, 'request 500m (docs/deployment.md, sizing)');
  t.ok(target >= 60 && target <= 70, `target ${target} % of the request`);
  // At ~3 CPU-s per GiB with TLS, the load a pod takes before the HPA adds one: 80–150 MiB/s.
  const mibPerSecond = ((requestCpu * target) / 100 / 3) * 1024;
  t.ok(mibPerSecond >= 80 && mibPerSecond <= 150, `${mibPerSecond.toFixed(0)} MiB/s per pod before scaling out`);
  t.ok(Number(gateway.resources.limits.cpu) >= 4 * requestCpu, 'the limit leaves room for bursts while a new pod starts');
});

t.test('NetworkPolicy: the admin port only from the monitoring namespace, the listener from anyone', async (t) => {
  for (const folder of ['deploy/base', 'deploy/overlays/ingress-backend', 'deploy/overlays/standalone']) {
    const objects = render(folder);
    const policy = only(objects, 'NetworkPolicy');
    const deployment = only(objects, 'Deployment');
    t.same(policy.spec.podSelector.matchLabels, deployment.spec.selector.matchLabels, `${folder}: it selects the gateway's pods`);
    t.same(policy.spec.policyTypes, ['Ingress']);
    const rules: Obj[] = policy.spec.ingress;
    const admin = rules.filter((rule) => rule.ports.some((port: Obj) => port.port === 9090));
    t.equal(admin.length, 1, 'one rule opens the admin port');
    t.same(admin[0]!.from, [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' } } }], 'from the monitoring namespace only');
    const listenerPort = deployment.spec.template.spec.containers[0].ports[0].containerPort as number;
    const open = rules.find((rule) => rule.from === undefined);
    t.ok(open?.ports.some((port: Obj) => port.port === listenerPort), `the listener port ${listenerPort} is open to clients`);
    t.notOk(open?.ports.some((port: Obj) => port.port === 9090), 'but not the admin port');
  }
  t.notOk(find(render('deploy/overlays/sidecar'), 'NetworkPolicy'), "the sidecar: the application's own policy governs its pod");
});

t.test('overlay ingress-backend: Ingress and HTTPRoute with WebSocket-friendly timeouts', async (t) => {
  const objects = render('deploy/overlays/ingress-backend');
  const { config, service } = checkReplicatedGateway(t, objects);
  t.equal(service.spec.type, 'ClusterIP');
  const ingress = only(objects, 'Ingress');
  const annotations = ingress.metadata.annotations;
  const idle = (config as unknown as { limits: { idleTimeoutSeconds: number } }).limits.idleTimeoutSeconds;
  t.ok(Number(annotations['nginx.ingress.kubernetes.io/proxy-read-timeout']) >= idle, 'nginx keeps an idle session as long as the gateway does');
  t.ok(Number(annotations['nginx.ingress.kubernetes.io/proxy-send-timeout']) >= idle);
  t.equal(annotations['nginx.ingress.kubernetes.io/proxy-buffering'], 'off');
  t.equal(annotations['projectcontour.io/websocket-routes'], '/');
  t.match(annotations['alb.ingress.kubernetes.io/load-balancer-attributes'], /idle_timeout\.timeout_seconds=3600/);
  const backend = ingress.spec.rules[0].http.paths[0].backend.service;
  t.equal(backend.name, service.metadata.name);
  t.ok(service.spec.ports.some((port: Obj) => port.name === backend.port.name), 'the Ingress names a Service port');
  t.equal(ingress.spec.tls[0].hosts[0], ingress.spec.rules[0].host, 'TLS ends at the ingress for the same host');

  const route = only(objects, 'HTTPRoute');
  t.equal(route.apiVersion, 'gateway.networking.k8s.io/v1');
  const rule = route.spec.rules[0];
  t.same(rule.timeouts, { request: '0s', backendRequest: '0s' });
  t.same(rule.backendRefs, [{ name: service.metadata.name, port: service.spec.ports[0].port }]);
});

t.test('overlay standalone: a LoadBalancer Service with Local traffic policy, TLS on the gateway', async (t) => {
  const objects = render('deploy/overlays/standalone');
  const { config, service, gateway } = checkReplicatedGateway(t, objects);
  t.equal(service.spec.type, 'LoadBalancer');
  t.equal(service.spec.externalTrafficPolicy, 'Local');
  t.same(service.spec.ports, [{ name: 'https', port: 443, targetPort: 'https', protocol: 'TCP', appProtocol: 'https' }]);
  t.same(gateway.ports.find((port: Obj) => port.name === 'https'), { name: 'https', containerPort: 8443, protocol: 'TCP' });
  t.equal(config.listen, '0.0.0.0:8443');
  t.same(config.tls, { cert: `${CONFIG_DIR}/tls/tls.crt`, key: `${CONFIG_DIR}/tls/tls.key` });
  const deployment = only(objects, 'Deployment');
  const sources: Obj[] = deployment.spec.template.spec.volumes[0].projected.sources;
  t.ok(sources.some((source) => source.secret?.name === 'kube-stream-gateway-tls'), 'the TLS Secret is mounted');
  t.equal(objects.filter((object) => object.kind === 'ConfigMap').length, 1, "the overlay's configuration replaces the base's");
});

t.test('overlay sidecar: the gateway as a native sidecar on loopback, nothing of the standalone gateway left', async (t) => {
  const objects = render('deploy/overlays/sidecar');
  for (const kind of ['Service', 'HorizontalPodAutoscaler', 'PodDisruptionBudget']) t.notOk(find(objects, kind), `no ${kind}`);
  t.notOk(find(objects, 'Deployment', 'kube-stream-gateway'));
  const app = only(objects, 'Deployment', 'example-app');
  const pod = app.spec.template.spec;
  t.equal(pod.initContainers.length, 1);
  const sidecar = pod.initContainers[0];
  t.equal(sidecar.name, 'kube-stream-gateway');
  t.equal(sidecar.restartPolicy, 'Always', 'a native sidecar: starts first, runs beside the app, stops last');
  const config = checkGatewayPod(t, objects, pod, sidecar);
  t.equal(config.listen, '127.0.0.1:8080', 'only the pod itself reaches the gateway');
  t.notOk(sidecar.ports.some((port: Obj) => port.containerPort === portOf(config.listen)), 'the loopback listener is not declared as a pod port');

  const container = pod.containers[0];
  const kubeconfigPath = container.env.find((variable: Obj) => variable.name === 'KUBECONFIG').value as string;
  const mount = container.volumeMounts.find((volumeMount: Obj) => kubeconfigPath.startsWith(`${volumeMount.mountPath}/`));
  const volume = pod.volumes.find((candidate: Obj) => candidate.name === mount.name);
  const kubeconfig = parse(only(objects, 'ConfigMap', volume.configMap.name).data[posix.basename(kubeconfigPath)] as string) as Obj;
  t.equal(kubeconfig.clusters[0].cluster.server, `http://${config.listen}`, "the application's kubeconfig points at the sidecar");
  t.ok(container.securityContext.readOnlyRootFilesystem);
});
