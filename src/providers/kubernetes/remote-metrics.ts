/**
 * `kubectl top` for the local pods from the remote cluster's `metrics.k8s.io` (its
 * metrics-server's PodMetrics of our remote pods), as the Summary API the kubelet API serves.
 *
 * PodMetrics carry a rate (CPU cores over the last window) and a working set; the Summary API's
 * consumers (metrics-server, through `/metrics/resource`) also want a cumulative CPU counter to take
 * rates from, so the rate is integrated here between the remote's samples — as the Nomad provider
 * does with Nomad's percentages.
 */
import type { Pod } from 'kubernetes-types/core/v1.js';
import { kubeTime, type PodStats, parseQuantity, type StatsSummary } from '../../provider/index.ts';

/** `metrics.k8s.io/v1beta1` PodMetrics, the fields read here. */
export interface PodMetrics {
  metadata?: { name?: string; namespace?: string };
  timestamp?: string;
  window?: string;
  containers?: { name: string; usage?: { cpu?: string; memory?: string } }[];
}

/** Cumulative CPU per container (`ns/pod/container`): nanoseconds, and the sample time they run to. */
export type CpuTotals = Map<string, { at: number; total: number }>;

/**
 * The Summary for the pods the remote has metrics of. `local` gives each remote pod's local pod
 * (undefined: not one of ours). Totals of containers no longer reported are forgotten.
 */
export function summaryFromPodMetrics(
  items: readonly PodMetrics[],
  local: (remoteNamespace: string, remoteName: string) => Pod | undefined,
  totals: CpuTotals,
  nodeName: string,
  now: Date,
): StatsSummary {
  const time = kubeTime(now);
  const pods: PodStats[] = [];
  const seen = new Set<string>();
  for (const item of items) {
    const pod = local(item.metadata?.namespace ?? '', item.metadata?.name ?? '');
    if (!pod?.metadata) continue;
    const sampledAt = Date.parse(item.timestamp ?? '') || now.getTime();
    const sampleTime = kubeTime(new Date(sampledAt));
    const podStart = pod.status?.startTime ?? time;
    const started = new Map(
      (pod.status?.containerStatuses ?? []).map((s) => [s.name, s.state?.running?.startedAt ?? podStart]),
    );
    const containers = (item.containers ?? []).map((container) => {
      const nanoCores = Math.round(parseQuantity(container.usage?.cpu ?? '0') * 1e9);
      const memory = Math.round(parseQuantity(container.usage?.memory ?? '0'));
      const key = `${pod.metadata?.namespace}/${pod.metadata?.name}/${container.name}`;
      seen.add(key);
      const previous = totals.get(key);
      let total = previous?.total ?? 0;
      if (previous && sampledAt > previous.at) total += nanoCores * ((sampledAt - previous.at) / 1000);
      if (!previous || sampledAt > previous.at) totals.set(key, { at: sampledAt, total });
      return {
        name: container.name,
        startTime: started.get(container.name) ?? podStart,
        cpu: { time: sampleTime, usageNanoCores: nanoCores, usageCoreNanoSeconds: Math.round(total) },
        memory: { time: sampleTime, usageBytes: memory, workingSetBytes: memory },
      };
    });
    const sum = (pick: (c: (typeof containers)[number]) => number) => containers.reduce((n, c) => n + pick(c), 0);
    pods.push({
      podRef: { name: pod.metadata.name ?? '', namespace: pod.metadata.namespace ?? '', uid: pod.metadata.uid ?? '' },
      startTime: podStart,
      containers,
      cpu: {
        time: sampleTime,
        usageNanoCores: sum((c) => c.cpu.usageNanoCores),
        usageCoreNanoSeconds: sum((c) => c.cpu.usageCoreNanoSeconds),
      },
      memory: {
        time: sampleTime,
        usageBytes: sum((c) => c.memory.usageBytes),
        workingSetBytes: sum((c) => c.memory.workingSetBytes),
      },
    });
  }
  for (const key of totals.keys()) if (!seen.has(key)) totals.delete(key);
  const nodeSum = (pick: (p: PodStats) => number | undefined) => pods.reduce((n, p) => n + (pick(p) ?? 0), 0);
  const nodeMemory = nodeSum((p) => p.memory?.workingSetBytes);
  return {
    node: {
      nodeName,
      startTime: time,
      cpu: {
        time,
        usageNanoCores: nodeSum((p) => p.cpu?.usageNanoCores),
        usageCoreNanoSeconds: nodeSum((p) => p.cpu?.usageCoreNanoSeconds),
      },
      memory: { time, usageBytes: nodeMemory, workingSetBytes: nodeMemory },
    },
    pods,
  };
}
