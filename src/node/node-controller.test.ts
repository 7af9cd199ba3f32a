/**
 * The node controller in-process, against an in-memory API server (Go's node/node_test.go plays
 * this part there): registration, re-registration after a deletion, ping failures, the lease and
 * the status heartbeat. The e2e suite proves the same against the real control plane.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Node } from 'kubernetes-types/core/v1.js';
import { FakeKubeApi } from '../../test/support/fake-kube-api.ts';
import { until } from '../../test/support/wait.ts';
import { Leases, Nodes } from '../kube/resources.ts';
import type { NodeProvider, ProviderCallOptions } from '../provider/contracts.ts';
import { NODE_LEASE_NAMESPACE } from './lease.ts';
import { NodeController, type NodeControllerOptions } from './node-controller.ts';
import { nodeTemplate } from './node-template.ts';

const NAME = 'vk-node-test';

class SwitchableProvider implements NodeProvider {
  failure: string | undefined;
  async ping(_options: ProviderCallOptions): Promise<void> {
    if (this.failure) throw new Error(this.failure);
  }
  notifyNodeStatus(): void {}
}

async function start(options: Partial<NodeControllerOptions> = {}) {
  const api = new FakeKubeApi();
  const provider = new SwitchableProvider();
  const controller = new NodeController({
    client: api,
    node: nodeTemplate({
      name: NAME,
      provider: 'test',
      operatingSystem: 'linux',
      internalIP: '10.0.0.9',
      kubeletPort: 10250,
    }),
    provider,
    pingIntervalMs: 10,
    ...options,
  });
  const stop = new AbortController();
  const running = controller.run(stop.signal);
  await controller.ready;
  return {
    api,
    provider,
    controller,
    stop: async () => {
      stop.abort();
      await running;
    },
  };
}

function ready(node: Node | undefined): { status?: string; message?: string } | undefined {
  return node?.status?.conditions?.find((c) => c.type === 'Ready');
}

test('used on its own, the controller registers the node Ready, with its lease owned by the Node', async (t) => {
  const h = await start();
  t.after(() => h.stop());
  const node = h.api.peek(Nodes, { name: NAME });
  assert.equal(ready(node)?.status, 'True');
  assert.deepEqual(node?.status?.addresses?.find((a) => a.type === 'InternalIP')?.address, '10.0.0.9');
  assert.equal(node?.status?.daemonEndpoints?.kubeletEndpoint?.Port, 10250);
  await until(() => h.api.peek(Leases, { namespace: NODE_LEASE_NAMESPACE, name: NAME }) !== undefined, 'the lease');
  const lease = h.api.peek(Leases, { namespace: NODE_LEASE_NAMESPACE, name: NAME });
  assert.equal(lease?.spec?.holderIdentity, NAME);
  assert.equal(lease?.metadata?.ownerReferences?.[0]?.uid, node?.metadata?.uid);
  assert.match(lease?.spec?.renewTime ?? '', /\.\d{6}Z$/);
});

test('the lease is renewed at its interval, and the status is posted at least once per status interval', async (t) => {
  const h = await start({ lease: { renewIntervalMs: 20 }, statusUpdateIntervalMs: 30 });
  t.after(() => h.stop());
  const renewTimes = new Set<string>();
  await until(() => {
    const renewTime = h.api.peek(Leases, { namespace: NODE_LEASE_NAMESPACE, name: NAME })?.spec?.renewTime;
    if (renewTime) renewTimes.add(renewTime);
    return renewTimes.size >= 3;
  }, 'three renewals');
  assert.ok(h.api.count('update', 'leases') >= 2, 'renewed by update, not re-created');
  assert.equal(h.api.count('create', 'leases'), 1);
  const heartbeats = h.api.count('patch', 'nodes/status');
  await until(() => h.api.count('patch', 'nodes/status') >= heartbeats + 2, 'heartbeats without a change');
});

test('a failed ping makes the node NotReady with the provider’s message; recovery makes it Ready', async (t) => {
  const h = await start();
  t.after(() => h.stop());
  h.provider.failure = 'backend unreachable: connection refused';
  await until(() => ready(h.api.peek(Nodes, { name: NAME }))?.status === 'False', 'NotReady');
  assert.equal(
    ready(h.api.peek(Nodes, { name: NAME }))?.message,
    'provider ping failed: backend unreachable: connection refused',
  );
  h.provider.failure = undefined;
  await until(() => ready(h.api.peek(Nodes, { name: NAME }))?.status === 'True', 'Ready again');
});

test('a deleted Node is registered again, and its lease follows the new Node', async (t) => {
  const h = await start({ lease: { renewIntervalMs: 20 } });
  t.after(() => h.stop());
  const first = h.api.peek(Nodes, { name: NAME });
  await until(
    () =>
      h.api.peek(Leases, { namespace: NODE_LEASE_NAMESPACE, name: NAME })?.metadata?.ownerReferences?.[0]?.uid ===
      first?.metadata?.uid,
    'the first lease',
  );
  h.api.drop(Nodes, { name: NAME });
  await until(() => {
    const node = h.api.peek(Nodes, { name: NAME });
    return node !== undefined && node.metadata?.uid !== first?.metadata?.uid;
  }, 'the node registered again');
  const second = h.api.peek(Nodes, { name: NAME });
  assert.equal(ready(second)?.status, 'True');
  await until(
    () =>
      h.api.peek(Leases, { namespace: NODE_LEASE_NAMESPACE, name: NAME })?.metadata?.ownerReferences?.[0]?.uid ===
      second?.metadata?.uid,
    'the lease owned by the new Node',
  );
});

test('labels and taints others set survive; a failing status write is retried', async (t) => {
  const h = await start({ statusUpdateIntervalMs: 20 });
  t.after(() => h.stop());
  const node = h.api.peek(Nodes, { name: NAME }) as Node;
  h.api.seed(Nodes, {
    ...node,
    metadata: { ...node.metadata, labels: { ...node.metadata?.labels, team: 'blue' } },
    spec: { ...node.spec, taints: [...(node.spec?.taints ?? []), { key: 'maintenance', effect: 'NoSchedule' }] },
  });
  h.api.failNext((r) => r.verb === 'patch' && r.resource === 'nodes/status');
  const failedAt = h.api.count('patch', 'nodes/status');
  await until(() => h.api.count('patch', 'nodes/status') >= failedAt + 3, 'status posted again after the failure');
  const after = h.api.peek(Nodes, { name: NAME });
  assert.equal(after?.metadata?.labels?.team, 'blue');
  assert.deepEqual(
    after?.spec?.taints?.map((taint) => taint.key),
    ['virtual-kubelet.io/provider', 'maintenance'],
  );
});
