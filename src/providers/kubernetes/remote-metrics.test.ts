import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Pod } from 'kubernetes-types/core/v1.js';
import { type CpuTotals, summaryFromPodMetrics } from './remote-metrics.ts';

const local: Pod = {
  metadata: { name: 'web-1', namespace: 'shop', uid: 'uid-1' },
  status: {
    startTime: '2026-01-01T00:00:00Z',
    containerStatuses: [
      {
        name: 'app',
        image: 'x',
        imageID: '',
        ready: true,
        restartCount: 0,
        state: { running: { startedAt: '2026-01-01T00:00:02Z' } },
      },
    ],
  },
};

const sample = (timestamp: string, cpu: string) => ({
  metadata: { name: 'web-1', namespace: 'hub-shop' },
  timestamp,
  window: '15s',
  containers: [{ name: 'app', usage: { cpu, memory: '2Mi' } }],
});

test('remote PodMetrics become the local pods’ Summary, with CPU integrated between samples', () => {
  const totals: CpuTotals = new Map();
  const lookup = (namespace: string, name: string) =>
    namespace === 'hub-shop' && name === 'web-1' ? local : undefined;
  const first = summaryFromPodMetrics(
    [sample('2026-01-01T00:01:00Z', '250m'), { metadata: { name: 'other', namespace: 'x' } }],
    lookup,
    totals,
    'vk-1',
    new Date('2026-01-01T00:01:05Z'),
  );
  assert.equal(first.pods.length, 1);
  const pod = first.pods[0];
  assert.deepEqual(pod?.podRef, { name: 'web-1', namespace: 'shop', uid: 'uid-1' });
  assert.equal(pod?.containers[0]?.startTime, '2026-01-01T00:00:02Z');
  assert.equal(pod?.containers[0]?.cpu?.usageNanoCores, 250_000_000);
  assert.equal(pod?.containers[0]?.cpu?.usageCoreNanoSeconds, 0);
  assert.equal(pod?.containers[0]?.memory?.workingSetBytes, 2 * 2 ** 20);
  const second = summaryFromPodMetrics([sample('2026-01-01T00:01:10Z', '500m')], lookup, totals, 'vk-1', new Date());
  // 0.5 cores for the 10 s since the last sample: 5 core-seconds.
  assert.equal(second.pods[0]?.containers[0]?.cpu?.usageCoreNanoSeconds, 5e9);
  assert.equal(second.node.cpu?.usageCoreNanoSeconds, 5e9);
  assert.equal(second.node.memory?.workingSetBytes, 2 * 2 ** 20);
  // The same sample again adds nothing; a pod no longer reported is forgotten.
  summaryFromPodMetrics([sample('2026-01-01T00:01:10Z', '500m')], lookup, totals, 'vk-1', new Date());
  assert.equal(totals.get('shop/web-1/app')?.total, 5e9);
  summaryFromPodMetrics([], lookup, totals, 'vk-1', new Date());
  assert.equal(totals.size, 0);
});
