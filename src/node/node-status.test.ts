import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Node } from 'kubernetes-types/core/v1.js';
import {
  mergeProviderNode,
  nodeMetadataPatch,
  nodeStatusPatch,
  READY,
  statusDiffers,
  withReadiness,
} from './node-status.ts';
import { nodeTemplate } from './node-template.ts';

const T0 = '2026-01-01T00:00:00Z';
const T1 = '2026-01-01T00:01:00Z';

function desired(): Node {
  const node = nodeTemplate({ name: 'vk', provider: 'mock', internalIP: '10.0.0.1' });
  return mergeProviderNode(node, {
    status: { capacity: { cpu: '2', memory: '1Gi', pods: '10' }, allocatable: { cpu: '2', memory: '1Gi', pods: '10' } },
  });
}

test("the template carries the Go implementation's labels and taint; the taint can be changed or dropped", () => {
  const node = nodeTemplate({ name: 'vk', provider: 'mock' });
  assert.equal(node.metadata?.labels?.type, 'virtual-kubelet');
  assert.equal(node.metadata?.labels?.['kubernetes.io/role'], 'agent');
  assert.deepEqual(node.spec?.taints, [{ key: 'virtual-kubelet.io/provider', value: 'mock', effect: 'NoSchedule' }]);
  assert.equal(nodeTemplate({ name: 'vk', provider: 'mock', taint: false }).spec?.taints, undefined);
});

test('status differences: quantities compare by value, heartbeats do not count', () => {
  const want = { ...desired().status, conditions: withReadiness(desired().status?.conditions ?? [], READY) };
  const patch = nodeStatusPatch(want, undefined, T0) as { status: Node['status'] };
  // As the API stores it: directives applied, quantities in another (equal) spelling.
  const current = {
    ...patch.status,
    addresses: [{ type: 'InternalIP', address: '10.0.0.1' }],
    capacity: { cpu: '2000m', memory: '1024Mi', pods: '10' },
    allocatable: { cpu: '2', memory: '1Gi', pods: '10' },
  };
  assert.equal(statusDiffers(want, current), false);
  assert.equal(statusDiffers({ ...want, capacity: { ...want.capacity, cpu: '3' } }, current), true);
  const notReady = {
    ...want,
    conditions: withReadiness(want.conditions ?? [], {
      ready: false,
      reason: 'KubeletNotReady',
      message: 'ping failed',
    }),
  };
  assert.equal(statusDiffers(notReady, current), true);
});

test('transition times move only when a condition changes; lists and maps this kubelet owns are replaced', () => {
  const want = { ...desired().status, conditions: withReadiness(desired().status?.conditions ?? [], READY) };
  const first = nodeStatusPatch(want, undefined, T0) as {
    status: NonNullable<Node['status']> & Record<string, unknown>;
  };
  const again = nodeStatusPatch(want, first.status, T1) as { status: NonNullable<Node['status']> };
  const ready = again.status.conditions?.find((c) => c.type === 'Ready');
  assert.equal(ready?.lastHeartbeatTime, T1);
  assert.equal(ready?.lastTransitionTime, T0);
  assert.deepEqual((first.status.addresses as unknown[])[0], { $patch: 'replace' });
  assert.equal((first.status.capacity as Record<string, string>).$patch, 'replace');
});

test("metadata patches set our labels and add our taint next to others', guarded by resourceVersion", () => {
  const current: Node = {
    metadata: { name: 'vk', resourceVersion: '42', labels: { team: 'blue', type: 'virtual-kubelet' } },
    spec: { taints: [{ key: 'dedicated', value: 'gpu', effect: 'NoExecute' }] },
  };
  const patch = nodeMetadataPatch(desired(), current) as { metadata: Record<string, unknown>; spec: Node['spec'] };
  assert.equal((patch.metadata.labels as Record<string, string>).team, undefined, 'other labels untouched');
  assert.equal((patch.metadata.labels as Record<string, string>).type, undefined, 'unchanged labels not resent');
  assert.equal(patch.metadata.resourceVersion, '42');
  assert.deepEqual(
    patch.spec?.taints?.map((t) => t.key),
    ['dedicated', 'virtual-kubelet.io/provider'],
  );
  const settled: Node = {
    metadata: { ...desired().metadata, resourceVersion: '43' },
    spec: { taints: patch.spec?.taints ?? [] },
  };
  assert.equal(nodeMetadataPatch(desired(), settled), undefined);
});
