import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Node, Pod } from 'kubernetes-types/core/v1.js';
import { podRequests, remoteNodeSize } from './remote-capacity.ts';

function node(name: string, allocatable: Record<string, string>, ready = true, unschedulable = false): Node {
  return {
    metadata: { name },
    spec: { unschedulable },
    status: { allocatable, conditions: [{ type: 'Ready', status: ready ? 'True' : 'False' }] },
  };
}

function pod(requests: Record<string, string>[], init: Record<string, string>[] = []): Pod {
  return {
    spec: {
      containers: requests.map((r, i) => ({ name: `c${i}`, resources: { requests: r } })),
      initContainers: init.map((r, i) => ({ name: `i${i}`, resources: { requests: r } })),
    },
  };
}

test('capacity sums the nodes that take pods; allocatable subtracts the other pods', () => {
  const size = remoteNodeSize(
    [
      node('a', { cpu: '4', memory: '8Gi', pods: '110' }),
      node('b', { cpu: '2500m', memory: '4Gi', pods: '110' }),
      node('not-ready', { cpu: '64', memory: '1Ti', pods: '110' }, false),
      node('cordoned', { cpu: '64', memory: '1Ti', pods: '110' }, true, true),
    ],
    [pod([{ cpu: '500m', memory: '1Gi' }, { cpu: '250m' }]), pod([{ cpu: '100m' }], [{ cpu: '1', memory: '2Gi' }])],
    {},
  );
  assert.deepEqual(size.capacity, { cpu: '6500m', memory: String(12 * 2 ** 30), pods: '220' });
  assert.deepEqual(size.allocatable, { cpu: '4750m', memory: String(9 * 2 ** 30), pods: '218' });
});

test('fixed capacity wins resource by resource', () => {
  const size = remoteNodeSize([node('a', { cpu: '4', memory: '8Gi', pods: '110' })], [], { pods: '20' });
  assert.equal(size.capacity.pods, '20');
  assert.equal(size.allocatable.pods, '20');
  assert.equal(size.capacity.cpu, '4000m');
});

test('a pod holds the larger of its containers and its largest init container, plus overhead', () => {
  const requests = podRequests({
    spec: {
      containers: [{ name: 'a', resources: { requests: { cpu: '100m' } } }],
      initContainers: [{ name: 'i', resources: { requests: { cpu: '300m' } } }],
      overhead: { cpu: '50m' },
    },
  });
  assert.ok(Math.abs((requests.cpu ?? 0) - 0.35) < 1e-9);
  assert.equal(requests.pods, 1);
});
