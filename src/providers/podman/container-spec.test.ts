import assert from 'node:assert/strict';
import { test } from 'node:test';
import { enforceableLimits, resourceLimits } from './container-spec.ts';

const limits = resourceLimits({
  name: 'app',
  resources: { limits: { cpu: '2', memory: '1Gi' }, requests: { cpu: '100m' } },
});

test('resourceLimits maps limits to CFS quota and memory bytes, and the CPU request to shares', () => {
  assert.deepEqual(limits, {
    memory: { limit: 2 ** 30 },
    cpu: { period: 100_000, quota: 200_000, shares: 102 },
  });
  assert.equal(resourceLimits({ name: 'app' }), undefined);
});

test('enforceableLimits keeps what the host has controllers for and names the rest', () => {
  assert.deepEqual(enforceableLimits(limits, ['cpu', 'memory', 'pids']), { limits, dropped: [] });
  assert.deepEqual(enforceableLimits(limits, ['cpu']), { limits: { cpu: limits?.cpu }, dropped: ['memory'] });
  assert.deepEqual(enforceableLimits(limits, ['pids']), { limits: undefined, dropped: ['memory', 'cpu'] });
  // A host that does not say keeps everything, as before.
  assert.deepEqual(enforceableLimits(limits, []), { limits, dropped: [] });
  assert.deepEqual(enforceableLimits(undefined, ['pids']), { limits: undefined, dropped: [] });
});
