import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { StatsSummary } from '../provider/stats-types.ts';
import { onlyCpuAndMemory, renderResourceMetrics } from './stats.ts';

const summary: StatsSummary = {
  node: {
    nodeName: 'vk',
    startTime: '2026-01-01T00:00:00Z',
    cpu: { time: '2026-01-01T00:10:00Z', usageNanoCores: 5e7, usageCoreNanoSeconds: 30e9 },
    memory: { time: '2026-01-01T00:10:00Z', workingSetBytes: 2 ** 30 },
    fs: { time: '2026-01-01T00:10:00Z', usedBytes: 1 },
  },
  pods: [
    {
      podRef: { name: 'web', namespace: 'ns', uid: 'u' },
      startTime: '2026-01-01T00:01:00Z',
      containers: [
        {
          name: 'app',
          startTime: '2026-01-01T00:01:00Z',
          cpu: { time: '2026-01-01T00:10:00Z', usageCoreNanoSeconds: 1.5e9 },
          memory: { time: '2026-01-01T00:10:00Z', workingSetBytes: 1024 },
        },
        { name: 'idle', startTime: '2026-01-01T00:01:00Z' },
      ],
      network: { time: '2026-01-01T00:10:00Z', rxBytes: 1 },
    },
  ],
};

test('/metrics/resource has the kubelet names and labels metrics-server reads, and no zeros', () => {
  const text = renderResourceMetrics(summary);
  assert.match(text, /^node_cpu_usage_seconds_total 30 1767226200000$/m);
  assert.match(text, /^node_memory_working_set_bytes 1073741824 1767226200000$/m);
  assert.match(
    text,
    /^container_cpu_usage_seconds_total\{container="app",namespace="ns",pod="web"\} 1\.5 1767226200000$/m,
  );
  assert.match(text, /^container_memory_working_set_bytes\{container="app",namespace="ns",pod="web"\} 1024 /m);
  // An idle container reports a floor, not a zero that would make metrics-server drop the pod.
  assert.match(text, /^container_cpu_usage_seconds_total\{container="idle",namespace="ns",pod="web"\} 1e-9$/m);
  assert.match(text, /^container_memory_working_set_bytes\{container="idle",namespace="ns",pod="web"\} 1$/m);
  assert.match(text, /^container_start_time_seconds\{container="app",namespace="ns",pod="web"\} 1767225660$/m);
  assert.match(text, /^pod_cpu_usage_seconds_total\{namespace="ns",pod="web"\} 1\.500000001$/m);
  assert.match(text, /^# TYPE container_cpu_usage_seconds_total counter$/m);
  assert.match(text, /^resource_scrape_error 0$/m);
});

test('label values are escaped', () => {
  const text = renderResourceMetrics({
    ...summary,
    pods: [{ ...summary.pods[0], podRef: { name: 'a"b\\c', namespace: 'n', uid: 'u' } } as never],
  });
  assert.match(text, /pod="a\\"b\\\\c"/);
});

test('only_cpu_and_memory keeps CPU and memory only', () => {
  const trimmed = onlyCpuAndMemory(summary);
  assert.equal(trimmed.node.fs, undefined);
  assert.equal(trimmed.pods[0]?.network, undefined);
  assert.deepEqual(trimmed.pods[0]?.containers[0]?.memory, summary.pods[0]?.containers[0]?.memory);
});
