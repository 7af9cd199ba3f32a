/**
 * Plausible, deterministic, never-zero resource usage for the mock's pods: each container uses a
 * few millicores and some megabytes derived from its name, accumulating CPU time since it
 * started. metrics-server drops zero values, so there are none.
 */
import { createHash } from 'node:crypto';
import type { Pod } from 'kubernetes-types/core/v1.js';
import { objectKey } from '../../kube/resources.ts';
import { kubeTime } from '../../kube/time.ts';
import type { ContainerStats, PodStats, StatsSummary } from '../../provider/index.ts';

function seed(text: string): number {
  return createHash('sha1').update(text).digest().readUInt32BE(0);
}

/** Nanocores and working-set bytes of one container. */
export function mockContainerUsage(podKey: string, container: string): { nanoCores: number; workingSetBytes: number } {
  const s = seed(`${podKey}/${container}`);
  return { nanoCores: 1_000_000 + (s % 9_000_000), workingSetBytes: (8 + (s % 56)) * 1024 * 1024 };
}

export function mockStatsSummary(
  nodeName: string,
  nodeStartTime: Date,
  pods: Iterable<Pod>,
  at = new Date(),
): StatsSummary {
  // Sample times have whole seconds: the cumulative values are computed for exactly that instant,
  // so a rate derived from two samples (what metrics-server does) is the configured usage.
  const now = new Date(Math.floor(at.getTime() / 1000) * 1000);
  const time = kubeTime(now);
  const podStats: PodStats[] = [];
  let nodeNanoCores = 50_000_000;
  let nodeCoreNanoSeconds = ((now.getTime() - nodeStartTime.getTime()) / 1000) * nodeNanoCores;
  let nodeMemory = 256 * 1024 * 1024;
  for (const pod of pods) {
    if (pod.status?.phase !== 'Running') continue;
    const key = objectKey(pod);
    const containers: ContainerStats[] = [];
    let podNanoCores = 0;
    let podCoreNanoSeconds = 0;
    let podMemory = 0;
    for (const status of pod.status.containerStatuses ?? []) {
      const startedAt = status.state?.running?.startedAt;
      if (!startedAt) continue;
      const usage = mockContainerUsage(key, status.name);
      const uptime = Math.max(1, (now.getTime() - Date.parse(startedAt)) / 1000);
      const coreNanoSeconds = Math.round(usage.nanoCores * uptime);
      containers.push({
        name: status.name,
        startTime: startedAt,
        cpu: { time, usageNanoCores: usage.nanoCores, usageCoreNanoSeconds: coreNanoSeconds },
        memory: {
          time,
          workingSetBytes: usage.workingSetBytes,
          usageBytes: usage.workingSetBytes,
          rssBytes: usage.workingSetBytes,
        },
      });
      podNanoCores += usage.nanoCores;
      podCoreNanoSeconds += coreNanoSeconds;
      podMemory += usage.workingSetBytes;
    }
    if (containers.length === 0) continue;
    podStats.push({
      podRef: {
        name: pod.metadata?.name ?? '',
        namespace: pod.metadata?.namespace ?? '',
        uid: pod.metadata?.uid ?? '',
      },
      startTime: pod.status.startTime ?? time,
      containers,
      cpu: { time, usageNanoCores: podNanoCores, usageCoreNanoSeconds: podCoreNanoSeconds },
      memory: { time, workingSetBytes: podMemory, usageBytes: podMemory },
    });
    nodeNanoCores += podNanoCores;
    nodeCoreNanoSeconds += podCoreNanoSeconds;
    nodeMemory += podMemory;
  }
  return {
    node: {
      nodeName,
      startTime: kubeTime(nodeStartTime),
      cpu: { time, usageNanoCores: nodeNanoCores, usageCoreNanoSeconds: Math.round(nodeCoreNanoSeconds) },
      memory: { time, workingSetBytes: nodeMemory, usageBytes: nodeMemory, availableBytes: 64 * 1024 ** 3 },
    },
    pods: podStats,
  };
}
