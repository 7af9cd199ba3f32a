/**
 * The one-page example provider, run for real: pods whose containers are local processes go
 * Running, then Succeeded or Failed with the process's exit code.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { Pod } from 'kubernetes-types/core/v1.js';
import { VirtualNode } from '../src/index.ts';
import { Pods } from '../src/kube/resources.ts';
import { virtualKubeletKubeconfig } from '../test/e2e/support/virtual-kubelet.ts';
import { type TestCluster, testCluster, waitFor } from '../tools/kube/testing.ts';
import { ProcessProvider } from './process-provider.ts';

let cluster: TestCluster;
let namespace: string;
const stop = new AbortController();
let running: Promise<void>;
const nodeName = `process-${process.pid}`;

before(async () => {
  cluster = await testCluster();
  namespace = await cluster.createNamespace('example');
  const node = new VirtualNode({
    nodeName,
    provider: new ProcessProvider(),
    providerName: 'process',
    kubeconfig: await virtualKubeletKubeconfig(cluster),
  });
  running = node.run(stop.signal);
  await node.ready;
});

after(async () => {
  stop.abort();
  await running;
  await cluster.kubectl(['delete', 'node', nodeName, '--wait=false']);
  await cluster.deleteNamespace(namespace);
});

function podFor(name: string, script: string): Pod {
  return {
    metadata: { name, namespace },
    spec: {
      nodeName,
      restartPolicy: 'Never',
      containers: [
        { name: 'main', image: 'ignored', command: ['sh', '-c', script], env: [{ name: 'WHO', value: 'world' }] },
      ],
    },
  };
}

test('a process that exits 0 makes a Succeeded pod; exit 3 a Failed one with exit code 3', async () => {
  await cluster.client.create(Pods, podFor('ok', 'test "$WHO" = world'));
  await cluster.client.create(Pods, podFor('bad', 'exit 3'));
  const ok = await waitFor('ok to succeed', async () => {
    const pod = await cluster.client.get<Pod>(Pods, { namespace, name: 'ok' });
    return pod.status?.phase === 'Succeeded' ? pod : undefined;
  });
  assert.equal(ok.status?.containerStatuses?.[0]?.state?.terminated?.exitCode, 0);
  const bad = await waitFor('bad to fail', async () => {
    const pod = await cluster.client.get<Pod>(Pods, { namespace, name: 'bad' });
    return pod.status?.phase === 'Failed' ? pod : undefined;
  });
  assert.equal(bad.status?.containerStatuses?.[0]?.state?.terminated?.exitCode, 3);
});

test('a long-running process is Running until the pod is deleted', async () => {
  await cluster.client.create(Pods, podFor('sleeper', 'sleep 600'));
  await waitFor(
    'Running',
    async () => (await cluster.client.get<Pod>(Pods, { namespace, name: 'sleeper' })).status?.phase === 'Running',
  );
  await cluster.client.delete(Pods, { namespace, name: 'sleeper' });
  await waitFor(
    'gone',
    async () =>
      !(await cluster.client.list<Pod>(Pods, { namespace })).items.some((p) => p.metadata?.name === 'sleeper'),
  );
});
