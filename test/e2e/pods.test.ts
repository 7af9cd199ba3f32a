/**
 * The pod lifecycle on the real control plane: scheduling onto the virtual node, scale up and
 * down, graceful and forced deletion, and deletion while the virtual kubelet is down.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { Deployment } from 'kubernetes-types/apps/v1.js';
import type { Pod } from 'kubernetes-types/core/v1.js';
import { Pods, resourceType } from '../../src/kube/resources.ts';
import { TERMINATION_SECONDS_ANNOTATION } from '../../src/providers/mock/index.ts';
import { type TestCluster, testCluster, waitFor } from '../../tools/kube/testing.ts';
import { VirtualKubeletProcess } from './support/virtual-kubelet.ts';

const Deployments = resourceType<Deployment>('apps', 'v1', 'deployments', 'Deployment', true);

let cluster: TestCluster;
let namespace: string;
let vk: VirtualKubeletProcess;

before(async () => {
  cluster = await testCluster();
  namespace = await cluster.createNamespace('pods');
  vk = await VirtualKubeletProcess.start(cluster, { mock: { pods: '200' } });
});

after(async () => {
  await vk?.destroy();
  await cluster?.deleteNamespace(namespace);
});

function podFor(name: string, extra: Partial<Pod['spec']> = {}, annotations: Record<string, string> = {}): Pod {
  return {
    metadata: { name, namespace, annotations },
    spec: { nodeName: vk.nodeName, containers: [{ name: 'app', image: 'registry.local/app:1' }], ...extra },
  };
}

async function listPods(selector?: string): Promise<Pod[]> {
  return (await cluster.client.list(Pods, { namespace, ...(selector ? { labelSelector: selector } : {}) })).items;
}

function isReady(pod: Pod): boolean {
  return (
    pod.status?.phase === 'Running' &&
    Boolean(pod.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'))
  );
}

test('a Deployment of 50 replicas is scheduled onto the virtual node and all become Ready; scaled to 0 they are gone', async () => {
  await cluster.client.create(Deployments, {
    metadata: { name: 'web', namespace },
    spec: {
      replicas: 50,
      selector: { matchLabels: { app: 'web' } },
      template: {
        metadata: { labels: { app: 'web' } },
        spec: {
          nodeSelector: { type: 'virtual-kubelet', 'kubernetes.io/hostname': vk.nodeName },
          tolerations: [{ key: 'virtual-kubelet.io/provider', operator: 'Exists', effect: 'NoSchedule' }],
          containers: [{ name: 'web', image: 'registry.local/web:1' }],
        },
      },
    },
  });
  const pods = await waitFor(
    '50 Ready pods',
    async () => {
      const list = await listPods('app=web');
      return list.length === 50 && list.every(isReady) ? list : undefined;
    },
    { timeoutMs: 90_000, intervalMs: 250 },
  );
  for (const pod of pods) {
    assert.equal(pod.spec?.nodeName, vk.nodeName);
    assert.equal(pod.status?.podIP, '5.6.7.8');
    assert.ok(pod.status?.conditions?.some((c) => c.type === 'PodScheduled' && c.status === 'True'));
  }
  const ready = await waitFor('the Deployment to report 50 ready replicas', async () => {
    const d = await cluster.client.get(Deployments, { namespace, name: 'web' });
    return d.status?.readyReplicas === 50 ? d : undefined;
  });
  assert.equal(ready.status?.availableReplicas, 50);
  const listed = await cluster.kubectl(['get', 'pods', '-n', namespace, '-l', 'app=web', '--no-headers']);
  assert.equal(
    listed.stdout
      .trim()
      .split('\n')
      .filter((l) => /\s1\/1\s+Running\s/.test(l)).length,
    50,
  );

  await cluster.client.patch(Deployments, { namespace, name: 'web' }, { spec: { replicas: 0 } }, 'merge');
  await waitFor('the pods to leave the API', async () => (await listPods('app=web')).length === 0, {
    timeoutMs: 90_000,
  });
  await waitFor('the pods to leave the provider', () =>
    vk.providerPods().every((p) => !p.metadata?.name?.startsWith('web-')),
  );
  assert.equal(vk.count('createPod'), 50, 'each replica created once');
  // Fifty pods in flight at once is no reason for Node's listener-leak warning.
  assert.doesNotMatch(vk.log(), /MaxListenersExceededWarning/);
});

test('a graceful delete waits for the provider to finish terminating the pod', async () => {
  await cluster.client.create(
    Pods,
    podFor('graceful', { terminationGracePeriodSeconds: 30 }, { [TERMINATION_SECONDS_ANNOTATION]: '3' }),
  );
  await waitFor('Running', async () => isReady(await cluster.client.get(Pods, { namespace, name: 'graceful' })));
  const deleted = Date.now();
  await cluster.client.delete(Pods, { namespace, name: 'graceful' });
  // While the provider terminates (3 s), the pod stays in the API, terminating.
  const terminating = await cluster.client.get(Pods, { namespace, name: 'graceful' });
  assert.ok(terminating.metadata?.deletionTimestamp);
  await waitFor('deletePod in the provider', () => vk.count('deletePod', `${namespace}/graceful`) >= 1);
  await waitFor(
    'the pod to leave the API',
    async () => !(await listPods()).some((p) => p.metadata?.name === 'graceful'),
    { timeoutMs: 20_000 },
  );
  const elapsed = Date.now() - deleted;
  assert.ok(elapsed >= 2500, `removed after ${elapsed} ms: before the provider finished`);
  assert.ok(elapsed < 15_000, `removed after ${elapsed} ms: long after the provider finished`);
  await waitFor('the provider to let it go', () => !vk.providerPods().some((p) => p.metadata?.name === 'graceful'));
});

test('a forced delete removes the pod from the provider too', async () => {
  await cluster.client.create(Pods, podFor('forced', {}, { [TERMINATION_SECONDS_ANNOTATION]: '60' }));
  await waitFor('Running', async () => isReady(await cluster.client.get(Pods, { namespace, name: 'forced' })));
  const result = await cluster.kubectl(['delete', 'pod', 'forced', '-n', namespace, '--force', '--grace-period=0']);
  assert.equal(result.code, 0, result.stderr);
  await waitFor('deletePod in the provider', () => vk.count('deletePod', `${namespace}/forced`) >= 1);
  assert.equal(
    (await listPods()).some((p) => p.metadata?.name === 'forced'),
    false,
  );
});

test('a pod deleted while the virtual kubelet is down is removed from the provider after it restarts', async () => {
  await cluster.client.create(Pods, podFor('while-down'));
  await waitFor('Running', async () => isReady(await cluster.client.get(Pods, { namespace, name: 'while-down' })));
  await waitFor('the provider to persist it', () => vk.providerPods().some((p) => p.metadata?.name === 'while-down'));
  await vk.stop('SIGKILL');
  await cluster.kubectl(['delete', 'pod', 'while-down', '-n', namespace, '--force', '--grace-period=0']);
  vk = await VirtualKubeletProcess.start(cluster, { nodeName: vk.nodeName, workDir: vk.workDir });
  await waitFor(
    'the orphan to leave the provider',
    () => !vk.providerPods().some((p) => p.metadata?.name === 'while-down'),
  );
  assert.ok(vk.count('deletePod', `${namespace}/while-down`) >= 1);
});

test('kubectl debug -i on a provider without ephemeral containers ends at once, and says why', async (t) => {
  await cluster.client.create(Pods, podFor('debugged'));
  await waitFor('Running', async () => isReady(await cluster.client.get(Pods, { namespace, name: 'debugged' })));
  const started = Date.now();
  const debug = await cluster.kubectl(
    ['-n', namespace, 'debug', '-i', 'debugged', '--image=busybox', '-c', 'debugger', '--', 'sh'],
    { input: 'exit\n', timeoutMs: 60_000 },
  );
  assert.notEqual(debug.code, 0, debug.stdout);
  t.diagnostic(`kubectl debug ended in ${Date.now() - started} ms: ${debug.stderr.trim()}`);
  assert.ok(Date.now() - started < 30_000, `kubectl debug took ${Date.now() - started} ms`);
  const pod = await cluster.client.get<Pod>(Pods, { namespace, name: 'debugged' });
  const terminated = pod.status?.ephemeralContainerStatuses?.find((c) => c.name === 'debugger')?.state?.terminated;
  assert.equal(terminated?.reason, 'EphemeralContainersNotSupported');
  const describe = await cluster.kubectl(['-n', namespace, 'describe', 'pod', 'debugged']);
  assert.match(describe.stdout, /EphemeralContainersNotSupported.*cannot run ephemeral containers/);
});
