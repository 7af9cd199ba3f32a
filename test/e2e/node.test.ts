/**
 * The node side, on the real control plane: registration, labels and taint, lease heartbeats,
 * NotReady on a failed ping and recovery, re-registration after deletion, and patches that
 * leave other writers' labels, annotations, taints and conditions alone.
 */
import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { Lease } from 'kubernetes-types/coordination/v1.js';
import type { Node } from 'kubernetes-types/core/v1.js';
import { Leases, Nodes } from '../../src/kube/resources.ts';
import { type TestCluster, testCluster, waitFor } from '../../tools/kube/testing.ts';
import { VirtualKubeletProcess } from './support/virtual-kubelet.ts';

let cluster: TestCluster;
let vk: VirtualKubeletProcess;

function condition(node: Node | undefined, type: string) {
  return node?.status?.conditions?.find((c) => c.type === type);
}

before(async () => {
  cluster = await testCluster();
  vk = await VirtualKubeletProcess.start(cluster, {
    mock: { cpu: '8', memory: '32Gi', pods: '150', others: { 'example.com/gpu': '2' } },
    args: ['--node-ping-interval', '500ms', '--node-status-update-interval', '20s'],
  });
});

after(async () => {
  await vk?.destroy();
});

test('the node registers Ready with labels, taint, capacity, addresses and kubelet endpoint', async () => {
  const node = await vk.waitReady();
  const labels = node.metadata?.labels ?? {};
  assert.equal(labels.type, 'virtual-kubelet');
  assert.equal(labels['kubernetes.io/role'], 'agent');
  assert.equal(labels['kubernetes.io/hostname'], vk.nodeName);
  assert.equal(labels['kubernetes.io/os'], 'linux');
  // Admission gives every new Node the not-ready taint; the node lifecycle controller lifts it once it sees Ready.
  const settled = await waitFor(
    'only the provider taint',
    async () => {
      const taints = (await cluster.client.get<Node>(Nodes, { name: vk.nodeName })).spec?.taints ?? [];
      return taints.length === 1 ? taints : undefined;
    },
    { timeoutMs: 20_000 },
  );
  assert.deepEqual(settled, [{ key: 'virtual-kubelet.io/provider', value: 'mock', effect: 'NoSchedule' }]);
  assert.equal(node.status?.capacity?.cpu, '8');
  assert.equal(node.status?.capacity?.memory, '32Gi');
  assert.equal(node.status?.allocatable?.pods, '150');
  assert.equal(node.status?.allocatable?.['example.com/gpu'], '2');
  assert.deepEqual(node.status?.addresses, [{ type: 'InternalIP', address: '127.0.0.1' }]);
  assert.ok((node.status?.daemonEndpoints?.kubeletEndpoint?.Port ?? 0) > 0);
  assert.match(node.status?.nodeInfo?.kubeletVersion ?? '', /^v1\.\d+\.\d+-vk-/);
  for (const type of ['MemoryPressure', 'DiskPressure', 'PIDPressure'])
    assert.equal(condition(node, type)?.status, 'False', type);
  assert.equal(condition(node, 'Ready')?.reason, 'KubeletReady');

  const listed = await cluster.kubectl(['get', 'node', vk.nodeName, '--no-headers']);
  assert.equal(listed.code, 0, listed.stderr);
  assert.match(listed.stdout, new RegExp(`^${vk.nodeName}\\s+Ready\\s+agent\\s`));
});

test('the lease in kube-node-lease is owned by the node and renewed with microsecond precision', async () => {
  const node = await vk.waitReady();
  const first = await waitFor('the lease', () =>
    cluster.client.get<Lease>(Leases, { namespace: 'kube-node-lease', name: vk.nodeName }).catch(() => undefined),
  );
  assert.equal(first.spec?.holderIdentity, vk.nodeName);
  assert.equal(first.spec?.leaseDurationSeconds, 40);
  assert.match(first.spec?.renewTime ?? '', /\.\d{6}Z$/);
  assert.deepEqual(
    first.metadata?.ownerReferences?.map((o) => [o.kind, o.name, o.uid]),
    [['Node', vk.nodeName, node.metadata?.uid]],
  );
  const renewed = await waitFor(
    'a renewal',
    async () => {
      const lease = await cluster.client.get<Lease>(Leases, { namespace: 'kube-node-lease', name: vk.nodeName });
      return lease.spec?.renewTime !== first.spec?.renewTime ? lease : undefined;
    },
    { timeoutMs: 25_000, intervalMs: 500 },
  );
  assert.ok(Date.parse(renewed.spec?.renewTime ?? '') > Date.parse(first.spec?.renewTime ?? ''));
});

test('what others set on the node survives our patches', async () => {
  const labelled = await cluster.kubectl(['label', 'node', vk.nodeName, 'team=blue']);
  assert.equal(labelled.code, 0, labelled.stderr);
  await cluster.kubectl(['annotate', 'node', vk.nodeName, 'example.com/owner=ops']);
  const tainted = await cluster.kubectl(['taint', 'node', vk.nodeName, 'dedicated=gpu:NoExecute']);
  assert.equal(tainted.code, 0, tainted.stderr);
  // A condition another agent (like node-problem-detector) publishes.
  await cluster.client.patch(
    Nodes,
    { name: vk.nodeName, subresource: 'status' },
    {
      status: {
        conditions: [{ type: 'KernelDeadlock', status: 'False', reason: 'KernelHasNoDeadlock', message: 'ok' }],
      },
    },
    'strategic',
  );
  // Force our own status patches: a failed ping and a recovery each post the node status.
  const errorFile = join(vk.workDir, 'ping-error');
  setPingError(errorFile, 'backend is down for maintenance');
  await waitFor('NotReady', async () => condition(await getNode(), 'Ready')?.status === 'False');
  clearPingError(errorFile);
  const node = await waitFor('Ready again', async () => {
    const n = await getNode();
    return condition(n, 'Ready')?.status === 'True' ? n : undefined;
  });
  assert.equal(node.metadata?.labels?.team, 'blue');
  assert.equal(node.metadata?.annotations?.['example.com/owner'], 'ops');
  assert.ok(node.spec?.taints?.some((t) => t.key === 'dedicated' && t.effect === 'NoExecute'));
  assert.ok(node.spec?.taints?.some((t) => t.key === 'virtual-kubelet.io/provider'));
  assert.equal(condition(node, 'KernelDeadlock')?.reason, 'KernelHasNoDeadlock');
});

async function getNode(): Promise<Node> {
  return cluster.client.get(Nodes, { name: vk.nodeName });
}

/** While this file exists the mock's ping fails with its content (see the mock's pingErrorFile). */
function setPingError(path: string, message: string): void {
  writeFileSync(path, message);
}

function clearPingError(path: string): void {
  rmSync(path, { force: true });
}

test('a failed ping marks the node NotReady with the reason; recovery marks it Ready', async () => {
  const errorFile = join(vk.workDir, 'ping-error');
  setPingError(errorFile, 'backend unreachable: connection refused');
  const notReady = await waitFor('NotReady with the ping error', async () => {
    const ready = condition(await getNode(), 'Ready');
    return ready?.status === 'False' ? ready : undefined;
  });
  assert.equal(notReady.reason, 'KubeletNotReady');
  assert.match(notReady.message ?? '', /provider ping failed: backend unreachable: connection refused/);
  clearPingError(errorFile);
  const ready = await waitFor('Ready', async () => {
    const c = condition(await getNode(), 'Ready');
    return c?.status === 'True' ? c : undefined;
  });
  assert.equal(ready.reason, 'KubeletReady');
});

test('a deleted Node comes back within 15 seconds, with its lease', async () => {
  const before = await getNode();
  const deleted = await cluster.kubectl(['delete', 'node', vk.nodeName, '--wait=true']);
  assert.equal(deleted.code, 0, deleted.stderr);
  const started = Date.now();
  const recreated = await waitFor(
    'the node to come back Ready',
    async () => {
      const node = await cluster.client.get<Node>(Nodes, { name: vk.nodeName }).catch(() => undefined);
      return node && node.metadata?.uid !== before.metadata?.uid && condition(node, 'Ready')?.status === 'True'
        ? node
        : undefined;
    },
    { timeoutMs: 15_000 },
  );
  const elapsed = Date.now() - started;
  assert.ok(elapsed < 15_000, `took ${elapsed} ms`);
  const lease = await waitFor(
    'the lease owned by the new node',
    async () => {
      const l = await cluster.client
        .get<Lease>(Leases, { namespace: 'kube-node-lease', name: vk.nodeName })
        .catch(() => undefined);
      return l?.metadata?.ownerReferences?.[0]?.uid === recreated.metadata?.uid ? l : undefined;
    },
    { timeoutMs: 15_000 },
  );
  assert.equal(lease.spec?.holderIdentity, vk.nodeName);
});
