/**
 * An API server outage in the middle of work: 20 pods are being created and 10 of them deleted
 * when kube-apiserver restarts. Watches reconnect, writes are retried, and every pod ends where
 * it should — none stuck. Runs on a control plane of its own, since it takes the API server down.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { Pod } from 'kubernetes-types/core/v1.js';
import { Pods } from '../../src/kube/resources.ts';
import type { LocalCluster } from '../../tools/kube/cluster.ts';
import { dedicatedCluster, type TestCluster, waitFor } from '../../tools/kube/testing.ts';
import { VirtualKubeletProcess } from './support/virtual-kubelet.ts';

let cluster: TestCluster;
let control: LocalCluster;
let namespace: string;
let vk: VirtualKubeletProcess;

before(async () => {
  ({ test: cluster, cluster: control } = await dedicatedCluster('apiserver-restart'));
  namespace = await cluster.createNamespace('outage');
  vk = await VirtualKubeletProcess.start(cluster, { args: ['--node-ping-interval', '1s'] });
});

after(async () => {
  await vk?.destroy();
  await cluster?.client.close();
  await control?.down();
});

/** Retries an API call through the outage. */
async function untilAccepted(what: string, call: () => Promise<unknown>): Promise<void> {
  await waitFor(
    what,
    async () => {
      await call();
      return true;
    },
    { timeoutMs: 60_000, intervalMs: 200 },
  );
}

test('pods created and deleted across an API server restart all end in the right state', async () => {
  const names = Array.from({ length: 20 }, (_, i) => `p-${i}`);
  await Promise.all(
    names.map((name) =>
      cluster.client.create(Pods, {
        metadata: { name, namespace },
        spec: { nodeName: vk.nodeName, containers: [{ name: 'c', image: 'registry.local/c:1' }] },
      }),
    ),
  );
  const deleting = names.slice(0, 10);
  const restarting = control.restart('kube-apiserver', 2000);
  await Promise.all(
    deleting.map((name) =>
      untilAccepted(`delete ${name}`, () =>
        cluster.client.delete(Pods, { namespace, name }).catch((error: unknown) => {
          if ((error as { statusCode?: number }).statusCode === 404) return;
          throw error;
        }),
      ),
    ),
  );
  await restarting;

  const final = await waitFor(
    '10 pods Running and 10 gone',
    async () => {
      const pods = (await cluster.client.list<Pod>(Pods, { namespace })).items;
      const remaining = pods.map((p) => p.metadata?.name).sort();
      const wanted = names.slice(10).sort();
      return JSON.stringify(remaining) === JSON.stringify(wanted) && pods.every((p) => p.status?.phase === 'Running')
        ? pods
        : undefined;
    },
    { timeoutMs: 90_000, intervalMs: 500 },
  );
  assert.equal(final.length, 10);
  await waitFor(
    'the provider to hold exactly the surviving pods',
    () => {
      const held = vk
        .providerPods()
        .map((p) => p.metadata?.name)
        .sort();
      return JSON.stringify(held) === JSON.stringify(names.slice(10).sort());
    },
    { timeoutMs: 30_000 },
  );
  for (const name of deleting) assert.ok(vk.count('createPod', `${namespace}/${name}`) <= 1, `${name} created twice`);
  await vk.waitReady();
});
