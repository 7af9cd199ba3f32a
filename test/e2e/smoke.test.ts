/**
 * The control plane is real: the controller-manager turns a Deployment into a ReplicaSet and
 * Pods, the scheduler reports why they cannot run, and the harness's kubectl sees it all.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { Deployment, ReplicaSet } from 'kubernetes-types/apps/v1.js';
import type { Pod } from 'kubernetes-types/core/v1.js';
import { Pods, resourceType } from '../../src/kube/resources.ts';
import { pinnedVersions } from '../../tools/kube/binaries.ts';
import { type TestCluster, testCluster, waitFor } from '../../tools/kube/testing.ts';

const Deployments = resourceType<Deployment>('apps', 'v1', 'deployments', 'Deployment', true);
const ReplicaSets = resourceType<ReplicaSet>('apps', 'v1', 'replicasets', 'ReplicaSet', true);

let cluster: TestCluster;
let namespace: string;

before(async () => {
  cluster = await testCluster();
  namespace = await cluster.createNamespace('smoke');
});

after(async () => {
  await cluster.deleteNamespace(namespace);
});

test('a Deployment becomes a ReplicaSet and Pods that stay Pending, and the scheduler says why', async () => {
  await cluster.client.create(Deployments, {
    metadata: { name: 'web', namespace },
    spec: {
      replicas: 3,
      selector: { matchLabels: { app: 'web' } },
      template: {
        metadata: { labels: { app: 'web' } },
        spec: { containers: [{ name: 'web', image: 'registry.invalid/web:1' }] },
      },
    },
  });
  const replicaSet = await waitFor('the ReplicaSet', async () => {
    const list = await cluster.client.list(ReplicaSets, { namespace });
    return list.items.find((rs) =>
      rs.metadata?.ownerReferences?.some((o) => o.kind === 'Deployment' && o.name === 'web'),
    );
  });
  assert.equal(replicaSet.spec?.replicas, 3);

  const pods = await waitFor('3 pods the scheduler marked Unschedulable', async () => {
    const list = await cluster.client.list(Pods, { namespace });
    const unschedulable = list.items.filter((pod: Pod) =>
      pod.status?.conditions?.some(
        (c) => c.type === 'PodScheduled' && c.status === 'False' && c.reason === 'Unschedulable',
      ),
    );
    return unschedulable.length === 3 ? unschedulable : undefined;
  });
  for (const pod of pods) {
    assert.equal(pod.status?.phase, 'Pending');
    assert.equal(pod.spec?.nodeName, undefined);
    const scheduled = pod.status?.conditions?.find((c) => c.type === 'PodScheduled');
    assert.match(scheduled?.message ?? '', /nodes are available|no nodes available/);
    assert.equal(pod.metadata?.ownerReferences?.[0]?.name, replicaSet.metadata?.name);
  }
});

test('kubectl lists the pods and reports the pinned server version', async () => {
  const listed = await waitFor('kubectl to list 3 pods', async () => {
    const result = await cluster.kubectl(['get', 'pods', '-n', namespace, '-l', 'app=web', '-o', 'json']);
    assert.equal(result.code, 0, result.stderr);
    const items = (JSON.parse(result.stdout) as { items: Pod[] }).items;
    return items.length === 3 ? items : undefined;
  });
  assert.ok(listed.every((pod) => pod.metadata?.name?.startsWith('web-')));

  const version = await cluster.kubectl(['version', '-o', 'json']);
  assert.equal(version.code, 0, version.stderr);
  const parsed = JSON.parse(version.stdout) as {
    serverVersion: { gitVersion: string };
    clientVersion: { gitVersion: string };
  };
  const expected = process.env.KUBE_VERSION || pinnedVersions().kubernetes;
  if (!process.env.KUBEBUILDER_ASSETS) {
    assert.equal(parsed.serverVersion.gitVersion, expected);
    assert.equal(parsed.clientVersion.gitVersion, expected);
  }
  assert.equal(parsed.serverVersion.gitVersion, cluster.info.kubernetesVersion);

  const readyz = await cluster.kubectl(['get', '--raw', '/readyz']);
  assert.equal(readyz.stdout.trim(), 'ok');
});
