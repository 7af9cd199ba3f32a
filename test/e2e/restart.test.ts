/**
 * Killing the virtual kubelet must not disturb the pods: after a SIGKILL and a restart it adopts
 * what the provider runs (no second createPod), and the API pods do not change at all — no
 * status flapping, not even a rewrite of the same status. SIGTERM stops it cleanly and quickly.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { Pod } from 'kubernetes-types/core/v1.js';
import { Pods } from '../../src/kube/resources.ts';
import { type TestCluster, testCluster, waitFor } from '../../tools/kube/testing.ts';
import { VirtualKubeletProcess } from './support/virtual-kubelet.ts';

let cluster: TestCluster;
let namespace: string;
let vk: VirtualKubeletProcess;

before(async () => {
  cluster = await testCluster();
  namespace = await cluster.createNamespace('restart');
  vk = await VirtualKubeletProcess.start(cluster);
});

after(async () => {
  await vk?.destroy();
  await cluster?.deleteNamespace(namespace);
});

function ready(pod: Pod): boolean {
  return (
    pod.status?.phase === 'Running' &&
    Boolean(pod.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'))
  );
}

test('SIGKILL with 50 running pods, then restart: no extra createPod, pods untouched', async () => {
  await Promise.all(
    Array.from({ length: 50 }, (_, i) =>
      cluster.client.create(Pods, {
        metadata: { name: `p-${i}`, namespace, labels: { batch: 'restart' } },
        spec: { nodeName: vk.nodeName, containers: [{ name: 'c', image: 'registry.local/c:1' }] },
      }),
    ),
  );
  const running = await waitFor(
    '50 Running pods',
    async () => {
      const items = (await cluster.client.list(Pods, { namespace })).items;
      return items.length === 50 && items.every(ready) ? items : undefined;
    },
    { timeoutMs: 60_000 },
  );
  await waitFor('the provider to persist 50 pods', () => vk.providerPods().length === 50);
  const creates = vk.count('createPod');
  assert.equal(creates, 50);
  const before = new Map(running.map((p) => [p.metadata?.name, p.metadata?.resourceVersion]));

  const changes: string[] = [];
  const watching = new AbortController();
  const list = await cluster.client.list(Pods, { namespace });
  const watch = (async () => {
    for await (const event of cluster.client.watch(Pods, {
      namespace,
      resourceVersion: list.metadata?.resourceVersion ?? '',
      signal: watching.signal,
    })) {
      changes.push(`${event.type} ${event.object.metadata?.name} ${event.object.status?.phase}`);
    }
  })();

  try {
    await restartAndObserve();
  } finally {
    watching.abort();
    await watch;
  }

  assert.equal(vk.count('createPod'), creates, 'no pod was created twice');
  assert.equal(vk.count('updatePod'), 0, 'no pod was updated');
  assert.deepEqual(changes, [], 'no pod changed in the API');
  const after = (await cluster.client.list(Pods, { namespace })).items;
  assert.equal(after.length, 50);
  for (const pod of after) {
    assert.ok(ready(pod));
    assert.equal(pod.metadata?.resourceVersion, before.get(pod.metadata?.name));
  }
});

async function restartAndObserve(): Promise<void> {
  const killed = await vk.stop('SIGKILL');
  assert.equal(killed.signal, 'SIGKILL');
  vk = await VirtualKubeletProcess.start(cluster, {
    nodeName: vk.nodeName,
    workDir: vk.workDir,
    // Resync every second, so the restarted process re-examines every pod several times during the check.
    args: ['--full-resync-period', '1s'],
  });
  await waitFor('the restarted process to adopt the pods', () => /adopted running provider pods/.test(vk.log()));
  // Every pod re-examined at least three times (resyncs), while the watch looks for any change. A
  // resync of a running pod the provider is up to date with goes straight to the status queue.
  const examined = async () =>
    (await vk.metric('workqueue_work_duration_seconds_count', { name: 'pods' })) +
    (await vk.metric('workqueue_work_duration_seconds_count', { name: 'pod-status' }));
  await waitFor('three resyncs of every pod', async () => (await examined()) >= 200, {
    timeoutMs: 20_000,
    intervalMs: 250,
  });
}

test('SIGTERM stops the process within a few seconds and leaves the pods running', async () => {
  const started = Date.now();
  const exit = await vk.stop('SIGTERM');
  const elapsed = Date.now() - started;
  assert.equal(exit.code, 0, vk.log().slice(-2000));
  assert.ok(elapsed < 5000, `took ${elapsed} ms`);
  assert.equal(vk.providerPods().length, 50);
  const pods = (await cluster.client.list(Pods, { namespace })).items;
  assert.ok(pods.every(ready));
});
