/**
 * A provider that fails createPod: the failure is visible on the pod (ProviderFailed with the
 * provider's message, or Failed for restartPolicy Never), recorded as events, and retried with
 * growing backoff — never dropped, never hammered. Fixing the cause lets the pod start.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { Event, Pod } from 'kubernetes-types/core/v1.js';
import { Events, Pods } from '../../src/kube/resources.ts';
import { CREATE_ERROR_ANNOTATION } from '../../src/providers/mock/index.ts';
import { type TestCluster, testCluster, waitFor } from '../../tools/kube/testing.ts';
import { VirtualKubeletProcess } from './support/virtual-kubelet.ts';

let cluster: TestCluster;
let namespace: string;
let vk: VirtualKubeletProcess;

before(async () => {
  cluster = await testCluster();
  namespace = await cluster.createNamespace('failure');
  vk = await VirtualKubeletProcess.start(cluster);
});

after(async () => {
  await vk?.destroy();
  await cluster?.deleteNamespace(namespace);
});

function failingPod(name: string, restartPolicy: 'Always' | 'Never'): Pod {
  return {
    metadata: { name, namespace, annotations: { [CREATE_ERROR_ANNOTATION]: 'quota exceeded: no capacity in zone b' } },
    spec: { nodeName: vk.nodeName, restartPolicy, containers: [{ name: 'app', image: 'registry.local/app:1' }] },
  };
}

test('repeated createPod failures show as ProviderFailed, with events and growing backoff', async () => {
  await cluster.client.create(Pods, failingPod('flaky', 'Always'));
  const failed = await waitFor('ProviderFailed status', async () => {
    const pod = await cluster.client.get<Pod>(Pods, { namespace, name: 'flaky' });
    return pod.status?.reason === 'ProviderFailed' ? pod : undefined;
  });
  assert.equal(failed.status?.phase, 'Pending');
  assert.equal(failed.status?.message, 'quota exceeded: no capacity in zone b');
  assert.equal(failed.status?.containerStatuses?.[0]?.state?.waiting?.reason, 'ProviderFailed');

  const key = `${namespace}/flaky`;
  await waitFor('seven attempts', () => vk.count('createPod', key) >= 7, { timeoutMs: 30_000 });
  const times = vk
    .calls()
    .filter((c) => c.method === 'createPod' && c.pod === key)
    .map((c) => c.at);
  const gaps = times.slice(1).map((t, i) => t - (times[i] as number));
  // Exponential: every later gap at least as long as the one before (allowing a little timer slack).
  for (let i = 2; i < gaps.length; i++) {
    assert.ok((gaps[i] as number) >= (gaps[i - 1] as number) * 0.9, `gaps ${gaps.join(', ')}`);
  }
  assert.ok((gaps.at(-1) as number) >= 1000, `gaps ${gaps.join(', ')}`);

  const event = await waitFor('ProviderCreateFailed events counted', async () => {
    const events = (await cluster.client.list<Event>(Events, { namespace })).items;
    return events.find(
      (e) => e.involvedObject?.name === 'flaky' && e.reason === 'ProviderCreateFailed' && (e.count ?? 0) >= 2,
    );
  });
  assert.equal(event.type, 'Warning');
  assert.equal(event.message, 'quota exceeded: no capacity in zone b');

  // Fix the cause: the pod starts at once, without waiting out its backoff.
  await cluster.kubectl(['annotate', 'pod', 'flaky', '-n', namespace, `${CREATE_ERROR_ANNOTATION}-`]);
  const running = await waitFor('Running after the fix', async () => {
    const pod = await cluster.client.get<Pod>(Pods, { namespace, name: 'flaky' });
    return pod.status?.phase === 'Running' ? pod : undefined;
  });
  assert.equal(running.status?.reason, undefined);
  assert.equal(running.status?.message, undefined);
});

test('with restartPolicy Never the pod fails for good after the bounded retries', async () => {
  await cluster.client.create(Pods, failingPod('once', 'Never'));
  const failed = await waitFor('Failed', async () => {
    const pod = await cluster.client.get<Pod>(Pods, { namespace, name: 'once' });
    return pod.status?.phase === 'Failed' ? pod : undefined;
  });
  assert.equal(failed.status?.reason, 'ProviderFailed');
  const attempts = vk.count('createPod', `${namespace}/once`);
  assert.equal(attempts, 5);
  // Later work goes through while the failed pod is left alone.
  await cluster.client.create(Pods, {
    metadata: { name: 'after', namespace },
    spec: { nodeName: vk.nodeName, containers: [{ name: 'app', image: 'registry.local/app:1' }] },
  });
  await waitFor(
    'the next pod Running',
    async () => (await cluster.client.get<Pod>(Pods, { namespace, name: 'after' })).status?.phase === 'Running',
  );
  assert.equal(vk.count('createPod', `${namespace}/once`), attempts);
});
