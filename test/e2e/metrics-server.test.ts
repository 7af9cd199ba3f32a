/**
 * The real metrics-server, beside the control plane and registered with the aggregation layer,
 * scrapes a virtual node's /metrics/resource (authenticating with its ServiceAccount token and
 * verifying the node's serving certificate): `kubectl top node` and `kubectl top pod` show the
 * mock provider's values.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import type { Pod } from 'kubernetes-types/core/v1.js';
import { Pods } from '../../src/kube/resources.ts';
import { mockContainerUsage } from '../../src/providers/mock/stats.ts';
import { type MetricsServer, pinnedMetricsServerVersion, startMetricsServer } from '../../tools/kube/metrics-server.ts';
import { type TestCluster, testCluster, waitFor } from '../../tools/kube/testing.ts';
import { VirtualKubeletProcess } from './support/virtual-kubelet.ts';

const execFileAsync = promisify(execFile);
const API_SERVICE = 'v1beta1.metrics.k8s.io';

interface APIService {
  spec: { insecureSkipTLSVerify?: boolean; caBundle?: string };
  status?: { conditions?: { type: string; status: string; reason?: string; message?: string }[] };
}

let cluster: TestCluster;
let metricsServer: MetricsServer;
let vk: VirtualKubeletProcess;
let namespace: string;

before(async () => {
  cluster = await testCluster();
  namespace = await cluster.createNamespace('top');
  // The node's certificate comes through the CSR API (approved as an administrator would), and
  // metrics-server verifies it against the cluster's kubelet CA: no --kubelet-insecure-tls.
  vk = await VirtualKubeletProcess.start(cluster, { servingCertificate: false });
  await vk.approveServingCertificate();
  for (const name of ['web', 'worker']) {
    await cluster.client.create(Pods, {
      metadata: { name, namespace },
      spec: {
        nodeName: vk.nodeName,
        containers: [
          { name: 'a', image: 'x' },
          { name: 'b', image: 'y' },
        ],
      },
    });
  }
  await waitFor('pods Running', async () =>
    (await cluster.client.list<Pod>(Pods, { namespace })).items.every((p) => p.status?.phase === 'Running'),
  );
  metricsServer = await startMetricsServer(cluster, {
    log: (line) => process.stderr.write(`metrics-server: ${line}\n`),
  });
});

after(async () => {
  await metricsServer?.stop();
  await vk?.destroy();
  await cluster?.deleteNamespace(namespace);
});

async function kubectlJson<T>(args: string[]): Promise<T> {
  const result = await cluster.kubectl(args);
  assert.equal(
    result.code,
    0,
    `kubectl ${args.join(' ')}: ${result.stderr}\n(metrics-server log: ${metricsServer.logPath})`,
  );
  return JSON.parse(result.stdout) as T;
}

test('the binary reports the release pinned in tools/metrics-server/go.mod', async () => {
  const { stdout } = await execFileAsync(metricsServer.binary, ['--version']);
  assert.equal(stdout.trim(), metricsServer.version);
  const overridden = process.env.METRICS_SERVER_BINARY || process.env.METRICS_SERVER_VERSION;
  if (!overridden) assert.equal(metricsServer.version, pinnedMetricsServerVersion());
});

test('the aggregator marks the APIService Available, verifying metrics-server with the caBundle', async () => {
  const apiService = await waitFor(`APIService ${API_SERVICE} Available`, async () => {
    const current = await kubectlJson<APIService>(['get', 'apiservice', API_SERVICE, '-o', 'json']);
    const available = current.status?.conditions?.find((c) => c.type === 'Available');
    return available?.status === 'True' ? current : undefined;
  });
  assert.notEqual(apiService.spec.insecureSkipTLSVerify, true);
  assert.ok(apiService.spec.caBundle);
});

test('kubectl get --raw lists node and pod metrics through the aggregator', async () => {
  // The first scrape may not have happened yet: wait until our node and both our pods are listed.
  const nodes = await waitFor(
    'our node in NodeMetricsList',
    async () => {
      const list = await kubectlJson<{ kind: string; apiVersion: string; items: { metadata: { name: string } }[] }>([
        'get',
        '--raw',
        '/apis/metrics.k8s.io/v1beta1/nodes',
      ]);
      return list.items.some((n) => n.metadata.name === vk.nodeName) ? list : undefined;
    },
    { timeoutMs: 60_000 },
  );
  assert.equal(nodes.kind, 'NodeMetricsList');
  assert.equal(nodes.apiVersion, 'metrics.k8s.io/v1beta1');

  const pods = await waitFor(
    'both pods in PodMetricsList',
    async () => {
      const list = await kubectlJson<{ kind: string; items: { metadata: { name: string } }[] }>([
        'get',
        '--raw',
        `/apis/metrics.k8s.io/v1beta1/namespaces/${namespace}/pods`,
      ]);
      return list.items.length === 2 ? list : undefined;
    },
    { timeoutMs: 60_000 },
  );
  assert.equal(pods.kind, 'PodMetricsList');
  assert.deepEqual(pods.items.map((p) => p.metadata.name).sort(), ['web', 'worker']);
});

test("kubectl top pod shows the mock provider's usage of each pod", async () => {
  const table = await waitFor(
    'metrics for both pods',
    async () => {
      const result = await cluster.kubectl(['top', 'pod', '-n', namespace, '--no-headers', '--containers']);
      const rows = result.stdout.trim().split('\n').filter(Boolean);
      return result.code === 0 && rows.length === 4 ? rows : undefined;
    },
    { timeoutMs: 90_000, intervalMs: 2000 },
  );
  for (const row of table) {
    const [pod = '', container = '', cpu = '', memory = ''] = row.trim().split(/\s+/);
    const usage = mockContainerUsage(`${namespace}/${pod}`, container);
    const millicores = Number(cpu.replace(/m$/, ''));
    assert.ok(
      Math.abs(millicores - usage.nanoCores / 1e6) <= 1,
      `${pod}/${container}: ${cpu}, expected about ${usage.nanoCores / 1e6}m`,
    );
    assert.equal(memory, `${Math.floor(usage.workingSetBytes / 1024 ** 2)}Mi`, `${pod}/${container}`);
  }
});

test('kubectl top node shows the virtual node', async () => {
  const row = await waitFor(
    'node metrics',
    async () => {
      const result = await cluster.kubectl(['top', 'node', vk.nodeName, '--no-headers']);
      return result.code === 0 ? result.stdout.trim() : undefined;
    },
    { timeoutMs: 90_000, intervalMs: 2000 },
  );
  const [name = '', cpu = '', , memory = ''] = row.split(/\s+/);
  assert.equal(name, vk.nodeName);
  assert.ok(Number(cpu.replace(/m$/, '')) >= 50, `node CPU ${cpu}`);
  assert.ok(Number(memory.replace(/Mi$/, '')) >= 256, `node memory ${memory}`);
});

test('stop() unregisters the APIService and ends the process', async () => {
  await metricsServer.stop();
  const result = await cluster.kubectl(['get', 'apiservice', API_SERVICE, '--ignore-not-found', '-o', 'name']);
  assert.equal(result.code, 0, result.stderr);
  assert.equal(result.stdout.trim(), '');
  await waitFor(
    `metrics-server (pid ${metricsServer.pid}) to be gone`,
    () => !existsSync(`/proc/${metricsServer.pid}`),
  );
  const service = await cluster.kubectl([
    'get',
    'service',
    'metrics-server',
    '-n',
    'kube-system',
    '--ignore-not-found',
    '-o',
    'name',
  ]);
  assert.equal(service.stdout.trim(), '');
});
