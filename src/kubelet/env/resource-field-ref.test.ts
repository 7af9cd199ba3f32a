import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Container, Pod, ResourceFieldSelector } from 'kubernetes-types/core/v1.js';
import { resolveResourceFieldRef } from './resource-field-ref.ts';

const allocatable = { cpu: '8', memory: '32Gi', 'ephemeral-storage': '100Gi', pods: '110' };

const app: Container = {
  name: 'app',
  resources: {
    limits: { cpu: '250m', memory: '1Gi', 'ephemeral-storage': '2Gi', 'hugepages-2Mi': '64Mi' },
    requests: { cpu: '100m', memory: '512Mi', 'ephemeral-storage': '1Gi', 'hugepages-2Mi': '64Mi' },
  },
};
const bare: Container = { name: 'bare' };
const limitsOnly: Container = { name: 'limits-only', resources: { limits: { cpu: '1500m', memory: '256Mi' } } };
const zeroLimit: Container = { name: 'zero-limit', resources: { limits: { cpu: '0', memory: '0' } } };
const init: Container = { name: 'init', resources: { limits: { cpu: '2' } } };

const pod: Pod = {
  metadata: { namespace: 'ns', name: 'p' },
  spec: { initContainers: [init], containers: [app, bare, limitsOnly, zeroLimit] },
};

const value = (container: Container, resource: string, divisor?: string, containerName?: string): string => {
  const selector: ResourceFieldSelector = {
    resource,
    ...(divisor === undefined ? {} : { divisor }),
    ...(containerName === undefined ? {} : { containerName }),
  };
  return resolveResourceFieldRef(selector, pod, container, allocatable);
};

test('explicit limits and requests, with the kubelet rounding', () => {
  assert.equal(value(app, 'limits.cpu'), '1'); // 250m rounded up to whole cores
  assert.equal(value(app, 'limits.cpu', '1m'), '250');
  assert.equal(value(app, 'limits.cpu', '1'), '1');
  assert.equal(value(app, 'requests.cpu', '1m'), '100');
  assert.equal(value(app, 'requests.cpu'), '1');
  assert.equal(value(app, 'limits.memory'), String(1024 ** 3));
  assert.equal(value(app, 'limits.memory', '1Mi'), '1024');
  assert.equal(value(app, 'limits.memory', '1M'), '1074'); // 1073.741824 → 1074
  assert.equal(value(app, 'requests.memory', '1Gi'), '1'); // 0.5 → 1
  assert.equal(value(app, 'limits.ephemeral-storage', '1Gi'), '2');
  assert.equal(value(app, 'requests.ephemeral-storage', '1Mi'), '1024');
  assert.equal(value(app, 'limits.hugepages-2Mi', '1Mi'), '64');
  assert.equal(value(app, 'requests.hugepages-2Mi'), String(64 * 1024 ** 2));
  // A zero or empty divisor means 1.
  assert.equal(value(app, 'limits.cpu', '0'), '1');
  assert.equal(value(app, 'limits.memory', ''), String(1024 ** 3));
});

test('a missing or zero limit falls back to node allocatable (CPU, memory, ephemeral storage)', () => {
  assert.equal(value(bare, 'limits.cpu'), '8');
  assert.equal(value(bare, 'limits.cpu', '1m'), '8000');
  assert.equal(value(bare, 'limits.memory', '1Gi'), '32');
  assert.equal(value(bare, 'limits.ephemeral-storage', '1Gi'), '100');
  assert.equal(value(zeroLimit, 'limits.cpu'), '8');
  assert.equal(value(zeroLimit, 'limits.memory', '1Gi'), '32');
  // Huge pages are never defaulted from the node.
  assert.equal(value(bare, 'limits.hugepages-1Gi'), '0');
  // Without allocatable either, the limit is zero.
  assert.equal(resolveResourceFieldRef({ resource: 'limits.cpu' }, pod, bare, {}), '0');
});

test('a pod-level limit stands in for a missing container limit, before node allocatable', () => {
  const withPodLimits = {
    ...pod,
    spec: { ...pod.spec, containers: [bare], resources: { limits: { cpu: '3', memory: '0' } } },
  } as Pod;
  assert.equal(resolveResourceFieldRef({ resource: 'limits.cpu' }, withPodLimits, bare, allocatable), '3');
  // A zero pod-level limit does not count; ephemeral storage has no pod-level limit.
  assert.equal(
    resolveResourceFieldRef({ resource: 'limits.memory', divisor: '1Gi' }, withPodLimits, bare, allocatable),
    '32',
  );
});

test('a missing request is the explicit limit (API defaulting), else zero; never node allocatable', () => {
  assert.equal(value(limitsOnly, 'requests.cpu', '1m'), '1500');
  assert.equal(value(limitsOnly, 'requests.memory', '1Mi'), '256');
  assert.equal(value(limitsOnly, 'requests.ephemeral-storage'), '0');
  assert.equal(value(bare, 'requests.cpu'), '0');
  assert.equal(value(bare, 'requests.memory'), '0');
  assert.equal(value(bare, 'requests.hugepages-2Mi'), '0');
});

test('containerName reads another container (regular, then init), with the same defaults', () => {
  assert.equal(value(bare, 'limits.cpu', '1m', 'app'), '250');
  assert.equal(value(app, 'limits.cpu', undefined, 'bare'), '8');
  assert.equal(value(app, 'limits.cpu', '1m', 'init'), '2000');
  assert.equal(value(app, 'limits.memory', '1Gi', 'init'), '32'); // init containers are defaulted too
  assert.throws(() => value(app, 'limits.cpu', undefined, 'sidecar'), {
    name: 'InvalidInputError',
    message: 'container sidecar not found',
  });
});

test('unsupported resources and malformed quantities are errors', () => {
  for (const resource of [
    'limits.pods',
    'limits.nvidia.com/gpu',
    'cpu',
    'limits.',
    'requests.hugepages-',
    '',
    'usage.cpu',
  ]) {
    assert.throws(() => value(app, resource), {
      name: 'InvalidInputError',
      message: `unsupported container resource: ${resource}`,
    });
  }
  assert.throws(() => value(app, 'limits.cpu', 'one'), {
    name: 'InvalidInputError',
    message: /invalid quantity "one"/,
  });
  const broken: Container = { name: 'broken', resources: { limits: { memory: '1 Gi' } } };
  assert.throws(() => resolveResourceFieldRef({ resource: 'limits.memory' }, pod, broken, allocatable), {
    name: 'InvalidInputError',
    message: /invalid quantity "1 Gi"/,
  });
});

test('numbers where quantities belong (hand-written objects) are accepted', () => {
  const numeric = { name: 'n', resources: { limits: { cpu: 2, memory: 1048576 } } } as unknown as Container;
  assert.equal(resolveResourceFieldRef({ resource: 'limits.cpu', divisor: '1m' }, pod, numeric, allocatable), '2000');
  assert.equal(
    resolveResourceFieldRef(
      { resource: 'limits.memory', divisor: 1024 as unknown as string },
      pod,
      numeric,
      allocatable,
    ),
    '1024',
  );
});
