/**
 * Environment resolution as the provider receives it: configMap/secret references (optional and
 * mandatory), envFrom with prefixes, the downward API including status.podIP and
 * resourceFieldRef (both of which the Go implementation cannot do), $(VAR) expansion and
 * service links. A missing mandatory ConfigMap keeps the pod Pending with
 * CreateContainerConfigError until the ConfigMap appears.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { ConfigMap, Event, Pod, Secret, Service } from 'kubernetes-types/core/v1.js';
import { ConfigMaps, Events, Pods, Secrets, Services } from '../../src/kube/resources.ts';
import { MOCK_POD_IP } from '../../src/providers/mock/index.ts';
import { type TestCluster, testCluster, waitFor } from '../../tools/kube/testing.ts';
import { VirtualKubeletProcess } from './support/virtual-kubelet.ts';

let cluster: TestCluster;
let namespace: string;
let vk: VirtualKubeletProcess;

before(async () => {
  cluster = await testCluster();
  namespace = await cluster.createNamespace('env');
  vk = await VirtualKubeletProcess.start(cluster, { mock: { cpu: '4', memory: '8Gi' } });
});

after(async () => {
  await vk?.destroy();
  await cluster?.deleteNamespace(namespace);
});

/** The environment the provider received for a container, as a map. */
async function providerEnv(pod: string, container = 'app'): Promise<Record<string, string>> {
  const stored = await waitFor(`the provider to have ${pod}`, () =>
    vk.providerPods().find((p) => p.metadata?.name === pod && p.metadata?.namespace === namespace),
  );
  const c = stored.spec?.containers?.find((x) => x.name === container);
  return Object.fromEntries((c?.env ?? []).map((e) => [e.name, e.value ?? '']));
}

test('every kind of environment source resolves as the kubelet would', async () => {
  await cluster.client.create(ConfigMaps, {
    metadata: { name: 'settings', namespace },
    data: { mode: 'fast', level: '3' },
  } as ConfigMap);
  await cluster.client.create(Secrets, {
    metadata: { name: 'creds', namespace },
    data: { password: Buffer.from('s3cret').toString('base64') },
  } as Secret);
  await cluster.client.create(Services, {
    metadata: { name: 'backend', namespace },
    spec: { ports: [{ name: 'http', port: 8080, protocol: 'TCP' }] },
  } as Service);
  const service = await cluster.client.get<Service>(Services, { namespace, name: 'backend' });

  await cluster.client.create(Pods, {
    metadata: { name: 'everything', namespace, labels: { app: 'demo', tier: 'web' }, annotations: { note: 'hi' } },
    spec: {
      nodeName: vk.nodeName,
      serviceAccountName: 'default',
      containers: [
        {
          name: 'app',
          image: 'registry.local/app:1',
          resources: { limits: { cpu: '250m', memory: '64Mi' }, requests: { cpu: '100m' } },
          envFrom: [{ configMapRef: { name: 'settings' }, prefix: 'CFG_' }],
          env: [
            { name: 'PLAIN', value: 'a' },
            { name: 'EXPANDED', value: 'mode=$(CFG_mode) plain=$(PLAIN) escaped=$$(PLAIN) missing=$(NOPE)' },
            { name: 'PASSWORD', valueFrom: { secretKeyRef: { name: 'creds', key: 'password' } } },
            { name: 'OPTIONAL_MISSING', valueFrom: { configMapKeyRef: { name: 'absent', key: 'k', optional: true } } },
            { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
            { name: 'POD_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
            { name: 'POD_UID', valueFrom: { fieldRef: { fieldPath: 'metadata.uid' } } },
            { name: 'TIER', valueFrom: { fieldRef: { fieldPath: "metadata.labels['tier']" } } },
            { name: 'NODE', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } },
            { name: 'SA', valueFrom: { fieldRef: { fieldPath: 'spec.serviceAccountName' } } },
            { name: 'HOST_IP', valueFrom: { fieldRef: { fieldPath: 'status.hostIP' } } },
            { name: 'POD_IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } },
            { name: 'URL', value: 'http://$(POD_IP):80' },
            { name: 'CPU_LIMIT_MILLIS', valueFrom: { resourceFieldRef: { resource: 'limits.cpu', divisor: '1m' } } },
            { name: 'CPU_LIMIT', valueFrom: { resourceFieldRef: { resource: 'limits.cpu' } } },
            { name: 'MEM_LIMIT_MI', valueFrom: { resourceFieldRef: { resource: 'limits.memory', divisor: '1Mi' } } },
            { name: 'MEM_REQUEST', valueFrom: { resourceFieldRef: { resource: 'requests.memory' } } },
            {
              name: 'SIDECAR_MEM',
              valueFrom: { resourceFieldRef: { containerName: 'sidecar', resource: 'limits.memory', divisor: '1Gi' } },
            },
          ],
        },
        { name: 'sidecar', image: 'registry.local/sidecar:1' },
      ],
    },
  });
  const pod = await waitFor('Running', async () => {
    const p = await cluster.client.get<Pod>(Pods, { namespace, name: 'everything' });
    return p.status?.phase === 'Running' ? p : undefined;
  });
  const env = await providerEnv('everything');
  assert.equal(env.CFG_mode, 'fast');
  assert.equal(env.CFG_level, '3');
  assert.equal(env.PLAIN, 'a');
  assert.equal(env.EXPANDED, 'mode=fast plain=a escaped=$(PLAIN) missing=$(NOPE)');
  assert.equal(env.PASSWORD, 's3cret');
  assert.equal('OPTIONAL_MISSING' in env, false);
  assert.equal(env.POD_NAME, 'everything');
  assert.equal(env.POD_NAMESPACE, namespace);
  assert.equal(env.POD_UID, pod.metadata?.uid);
  assert.equal(env.TIER, 'web');
  assert.equal(env.NODE, vk.nodeName);
  assert.equal(env.SA, 'default');
  assert.equal(env.HOST_IP, '127.0.0.1');
  // status.podIP: the mock allocates the pod's IP before its containers are created.
  assert.equal(env.POD_IP, MOCK_POD_IP);
  assert.equal(env.URL, `http://${MOCK_POD_IP}:80`);
  assert.equal(env.CPU_LIMIT_MILLIS, '250');
  assert.equal(env.CPU_LIMIT, '1'); // rounded up, as the kubelet does
  assert.equal(env.MEM_LIMIT_MI, '64');
  // No memory request: the request defaults to the limit.
  assert.equal(env.MEM_REQUEST, String(64 * 1024 * 1024));
  // The sidecar has no limit: node allocatable (8Gi) stands in.
  assert.equal(env.SIDECAR_MEM, '8');
  // Service links: the namespace's service and the cluster's `kubernetes` service.
  assert.equal(env.BACKEND_SERVICE_HOST, service.spec?.clusterIP);
  assert.equal(env.BACKEND_SERVICE_PORT, '8080');
  assert.equal(env.BACKEND_SERVICE_PORT_HTTP, '8080');
  assert.equal(env.BACKEND_PORT, `tcp://${service.spec?.clusterIP}:8080`);
  assert.equal(env.BACKEND_PORT_8080_TCP_ADDR, service.spec?.clusterIP);
  assert.ok(env.KUBERNETES_SERVICE_HOST, 'KUBERNETES_SERVICE_HOST');
  assert.equal(env.KUBERNETES_SERVICE_PORT, '443');
  assert.equal(vk.count('allocatePodIPs', `${namespace}/everything`), 1);
});

test('enableServiceLinks: false leaves out the namespace services but keeps KUBERNETES_SERVICE_*', async () => {
  await cluster.client.create(Pods, {
    metadata: { name: 'no-links', namespace },
    spec: {
      nodeName: vk.nodeName,
      enableServiceLinks: false,
      containers: [{ name: 'app', image: 'registry.local/app:1' }],
    },
  });
  const env = await providerEnv('no-links');
  assert.ok(env.KUBERNETES_SERVICE_HOST);
  assert.equal(
    Object.keys(env).some((k) => k.startsWith('BACKEND_')),
    false,
  );
});

test('a missing mandatory ConfigMap holds the pod with CreateContainerConfigError until it appears', async () => {
  await cluster.client.create(Pods, {
    metadata: { name: 'waits', namespace },
    spec: {
      nodeName: vk.nodeName,
      containers: [
        {
          name: 'app',
          image: 'registry.local/app:1',
          env: [{ name: 'FLAG', valueFrom: { configMapKeyRef: { name: 'late', key: 'flag' } } }],
        },
      ],
    },
  });
  const waiting = await waitFor('CreateContainerConfigError', async () => {
    const p = await cluster.client.get<Pod>(Pods, { namespace, name: 'waits' });
    const state = p.status?.containerStatuses?.[0]?.state?.waiting;
    return state?.reason === 'CreateContainerConfigError' ? { pod: p, state } : undefined;
  });
  assert.equal(waiting.pod.status?.phase, 'Pending');
  assert.match(waiting.state.message ?? '', /configmap "late" not found/);
  assert.equal(vk.count('createPod', `${namespace}/waits`), 0);
  const event = await waitFor('the MandatoryConfigMapNotFound event', async () => {
    const events = (await cluster.client.list<Event>(Events, { namespace })).items;
    return events.find((e) => e.involvedObject?.name === 'waits' && e.reason === 'MandatoryConfigMapNotFound');
  });
  assert.equal(event.type, 'Warning');

  await cluster.client.create(ConfigMaps, { metadata: { name: 'late', namespace }, data: { flag: 'on' } } as ConfigMap);
  await waitFor(
    'Running once the ConfigMap exists',
    async () => (await cluster.client.get<Pod>(Pods, { namespace, name: 'waits' })).status?.phase === 'Running',
    { timeoutMs: 15_000 },
  );
  assert.equal((await providerEnv('waits')).FLAG, 'on');
});
