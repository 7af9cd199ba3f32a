/**
 * What users type against a node through the API server's node proxy —
 * `kubectl get --raw /api/v1/nodes/<node>/proxy/stats/summary`, `/pods`, `/runningpods/`,
 * `/metrics/resource`, `/healthz`, `/containerLogs/…` — with the real kubectl and API server.
 *
 * The API server refuses to proxy to loopback, so the virtual kubelet here runs in a network
 * namespace of the test's own (test/e2e/support/netns.ts) with an address on a veth pair, its
 * connection to the API server relayed through it. Needs root and iproute2; skipped otherwise.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { Pod } from 'kubernetes-types/core/v1.js';
import { Pods } from '../../src/kube/resources.ts';
import type { StatsSummary } from '../../src/provider/stats-types.ts';
import { type TestCluster, testCluster, waitFor } from '../../tools/kube/testing.ts';
import { NetworkNamespace, netnsUnavailable } from './support/netns.ts';
import { VirtualKubeletProcess } from './support/virtual-kubelet.ts';

const unavailable = netnsUnavailable();

let cluster: TestCluster;
let namespace: string;
let netns: NetworkNamespace | undefined;
let vk: VirtualKubeletProcess;
let loopback: VirtualKubeletProcess | undefined;

before(async () => {
  if (unavailable) return;
  cluster = await testCluster();
  namespace = await cluster.createNamespace('node-proxy');
  netns = NetworkNamespace.create();
  vk = await VirtualKubeletProcess.start(cluster, { networkNamespace: netns });
  await cluster.client.create(Pods, {
    metadata: { name: 'app', namespace },
    spec: { nodeName: vk.nodeName, containers: [{ name: 'main', image: 'registry.local/main:1' }] },
  });
  await waitFor(
    'app Running',
    async () => (await cluster.client.get<Pod>(Pods, { namespace, name: 'app' })).status?.phase === 'Running',
  );
});

after(async () => {
  await vk?.destroy();
  await loopback?.destroy();
  await netns?.close();
  if (namespace) await cluster.deleteNamespace(namespace);
});

/** `kubectl get --raw` on the node's proxy path; fails the test with kubectl's stderr. */
async function raw(path: string): Promise<string> {
  const result = await cluster.kubectl(['get', '--raw', `/api/v1/nodes/${vk.nodeName}/proxy${path}`]);
  assert.equal(result.code, 0, `kubectl get --raw …/proxy${path}: ${result.stderr}`);
  return result.stdout;
}

test('the node has the namespace address, and a loopback node is refused (why this needs a namespace)', {
  skip: unavailable,
}, async () => {
  const node = await vk.waitReady();
  assert.deepEqual(
    node.status?.addresses?.filter((a) => a.type === 'InternalIP').map((a) => a.address),
    [netns?.address],
  );
  loopback = await VirtualKubeletProcess.start(cluster);
  const refused = await cluster.kubectl(['get', '--raw', `/api/v1/nodes/${loopback.nodeName}/proxy/healthz`]);
  assert.notEqual(refused.code, 0);
  assert.match(refused.stderr, /address not allowed/);
  await loopback.destroy();
  loopback = undefined;
});

test('kubectl get --raw …/proxy/stats/summary: the node and its pod', { skip: unavailable }, async () => {
  const summary = JSON.parse(await raw('/stats/summary')) as StatsSummary;
  assert.equal(summary.node.nodeName, vk.nodeName);
  assert.ok((summary.node.cpu?.usageNanoCores ?? 0) > 0);
  const pod = summary.pods.find((p) => p.podRef.name === 'app' && p.podRef.namespace === namespace);
  assert.ok(pod, `app in ${JSON.stringify(summary.pods.map((p) => p.podRef))}`);
  assert.deepEqual(
    pod.containers?.map((c) => c.name),
    ['main'],
  );
  // metrics-server's form of the request.
  const trimmed = JSON.parse(await raw('/stats/summary?only_cpu_and_memory=true')) as StatsSummary;
  assert.equal(trimmed.node.nodeName, vk.nodeName);
  assert.equal(trimmed.node.fs, undefined);
});

test('kubectl get --raw …/proxy/pods and /runningpods/: PodLists with the pod', { skip: unavailable }, async () => {
  const pods = JSON.parse(await raw('/pods')) as { kind: string; items: Pod[] };
  assert.equal(pods.kind, 'PodList');
  assert.ok(pods.items.some((p) => p.metadata?.name === 'app' && p.metadata.namespace === namespace));
  const running = JSON.parse(await raw('/runningpods/')) as { kind: string; items: Pod[] };
  assert.equal(running.kind, 'PodList');
  assert.ok(running.items.some((p) => p.metadata?.name === 'app' && p.metadata.namespace === namespace));
});

test('kubectl get --raw …/proxy/metrics/resource and /metrics: Prometheus text', { skip: unavailable }, async () => {
  const resource = await raw('/metrics/resource');
  assert.match(resource, /^node_cpu_usage_seconds_total \d/m);
  assert.match(resource, /^node_memory_working_set_bytes \d/m);
  assert.match(
    resource,
    new RegExp(`^container_cpu_usage_seconds_total\\{container="main",namespace="${namespace}",pod="app"\\} \\d`, 'm'),
  );
  assert.match(await raw('/metrics'), /^virtual_kubelet_pods \d/m);
});

test('kubectl get --raw …/proxy/healthz and …/proxy/containerLogs, kubectl logs and exec', {
  skip: unavailable,
}, async () => {
  assert.equal(await raw('/healthz'), 'ok');
  assert.match(await raw(`/containerLogs/${namespace}/app/main?tailLines=2`), /^line \d+ of /);
  const unknown = await cluster.kubectl(['get', '--raw', `/api/v1/nodes/${vk.nodeName}/proxy/configz`]);
  assert.notEqual(unknown.code, 0);
  assert.match(unknown.stderr, /NotFound|404/);
  const logs = await cluster.kubectl(['-n', namespace, 'logs', 'app', '--tail=1']);
  assert.equal(logs.code, 0, logs.stderr);
  assert.match(logs.stdout, /^line \d+ of /);
  const exec = await cluster.kubectl(['-n', namespace, 'exec', 'app', '--', 'echo', 'through', 'the', 'veth']);
  assert.equal(exec.stdout, 'through the veth\n', exec.stderr);
});

test('the health port answers probes at the node address without credentials', { skip: unavailable }, async () => {
  const response = await fetch(`http://${netns?.address}:${vk.healthzPort}/healthz`);
  assert.equal(response.status, 200);
  assert.equal(await response.text(), 'ok');
});
