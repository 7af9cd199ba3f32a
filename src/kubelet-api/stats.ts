/**
 * `/stats/summary` trimming and the `/metrics/resource` endpoint rendered from a summary.
 *
 * `/metrics/resource` is what metrics-server (0.6+) scrapes for `kubectl top` and the HPA. The
 * metric and label names are the kubelet's (`pkg/kubelet/metrics/collectors/resource_metrics.go`).
 * metrics-server drops a node whose CPU or memory is zero, and a whole pod when any container's
 * is, so an idle container reports a floor of one nanosecond of CPU and one byte of memory
 * instead of a zero.
 */
import type { ContainerStats, PodStats, StatsSummary } from '../provider/stats-types.ts';

/** `?only_cpu_and_memory=true`: the summary without network, filesystem and other stats. */
export function onlyCpuAndMemory(summary: StatsSummary): StatsSummary {
  const node = summary.node;
  return {
    node: {
      nodeName: node.nodeName,
      startTime: node.startTime,
      ...(node.cpu ? { cpu: node.cpu } : {}),
      ...(node.memory ? { memory: node.memory } : {}),
    },
    pods: summary.pods.map((pod) => ({
      podRef: pod.podRef,
      startTime: pod.startTime,
      containers: pod.containers.map((c) => ({
        name: c.name,
        startTime: c.startTime,
        ...(c.cpu ? { cpu: c.cpu } : {}),
        ...(c.memory ? { memory: c.memory } : {}),
      })),
      ...(pod.cpu ? { cpu: pod.cpu } : {}),
      ...(pod.memory ? { memory: pod.memory } : {}),
    })),
  };
}

/** Prometheus label values escape backslash, double quote and newline. */
function label(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

function seconds(time: string | undefined): number | undefined {
  if (!time) return undefined;
  const ms = Date.parse(time);
  return Number.isNaN(ms) ? undefined : ms;
}

/** A number as Prometheus text: JavaScript's shortest round-trip form (`1.5`, `1e-9`) is valid there. */
function number(value: number): string {
  return String(value);
}

const MIN_CPU_SECONDS = 1e-9;
const MIN_MEMORY_BYTES = 1;

function cpuSeconds(stats: { cpu?: { usageCoreNanoSeconds?: number } }): number {
  return Math.max(MIN_CPU_SECONDS, (stats.cpu?.usageCoreNanoSeconds ?? 0) / 1e9);
}

function workingSet(stats: { memory?: { workingSetBytes?: number; usageBytes?: number } }): number {
  return Math.max(MIN_MEMORY_BYTES, stats.memory?.workingSetBytes ?? stats.memory?.usageBytes ?? 0);
}

/** Sums container CPU and memory for a pod that reports none of its own. */
function podTotals(pod: PodStats): { cpu: number; memory: number } {
  if (
    pod.cpu?.usageCoreNanoSeconds !== undefined &&
    (pod.memory?.workingSetBytes ?? pod.memory?.usageBytes) !== undefined
  ) {
    return { cpu: cpuSeconds(pod), memory: workingSet(pod) };
  }
  let cpu = 0;
  let memory = 0;
  for (const c of pod.containers) {
    cpu += cpuSeconds(c);
    memory += workingSet(c);
  }
  return { cpu, memory };
}

/** The `/metrics/resource` Prometheus text for a summary. Timestamps in milliseconds, when known. */
export function renderResourceMetrics(summary: StatsSummary): string {
  const lines: string[] = [];
  const ts = (time: string | undefined) => {
    const ms = seconds(time);
    return ms === undefined ? '' : ` ${ms}`;
  };
  const node = summary.node;
  lines.push('# HELP node_cpu_usage_seconds_total Cumulative cpu time consumed by the node in core-seconds');
  lines.push('# TYPE node_cpu_usage_seconds_total counter');
  lines.push(`node_cpu_usage_seconds_total ${number(cpuSeconds(node))}${ts(node.cpu?.time)}`);
  lines.push('# HELP node_memory_working_set_bytes Current working set of the node in bytes');
  lines.push('# TYPE node_memory_working_set_bytes gauge');
  lines.push(`node_memory_working_set_bytes ${number(workingSet(node))}${ts(node.memory?.time)}`);

  const containers: { pod: PodStats; container: ContainerStats }[] = [];
  for (const pod of summary.pods) for (const container of pod.containers) containers.push({ pod, container });
  const containerLabels = (pod: PodStats, c: ContainerStats) =>
    `container="${label(c.name)}",namespace="${label(pod.podRef.namespace)}",pod="${label(pod.podRef.name)}"`;
  lines.push('# HELP container_cpu_usage_seconds_total Cumulative cpu time consumed by the container in core-seconds');
  lines.push('# TYPE container_cpu_usage_seconds_total counter');
  for (const { pod, container } of containers) {
    lines.push(
      `container_cpu_usage_seconds_total{${containerLabels(pod, container)}} ${number(cpuSeconds(container))}${ts(container.cpu?.time)}`,
    );
  }
  lines.push('# HELP container_memory_working_set_bytes Current working set of the container in bytes');
  lines.push('# TYPE container_memory_working_set_bytes gauge');
  for (const { pod, container } of containers) {
    lines.push(
      `container_memory_working_set_bytes{${containerLabels(pod, container)}} ${number(workingSet(container))}${ts(container.memory?.time)}`,
    );
  }
  lines.push('# HELP container_start_time_seconds Start time of the container since unix epoch in seconds');
  lines.push('# TYPE container_start_time_seconds gauge');
  for (const { pod, container } of containers) {
    const start = seconds(container.startTime);
    if (start !== undefined)
      lines.push(`container_start_time_seconds{${containerLabels(pod, container)}} ${number(start / 1000)}`);
  }
  const podLabels = (pod: PodStats) => `namespace="${label(pod.podRef.namespace)}",pod="${label(pod.podRef.name)}"`;
  lines.push('# HELP pod_cpu_usage_seconds_total Cumulative cpu time consumed by the pod in core-seconds');
  lines.push('# TYPE pod_cpu_usage_seconds_total counter');
  for (const pod of summary.pods)
    lines.push(`pod_cpu_usage_seconds_total{${podLabels(pod)}} ${number(podTotals(pod).cpu)}${ts(pod.cpu?.time)}`);
  lines.push('# HELP pod_memory_working_set_bytes Current working set of the pod in bytes');
  lines.push('# TYPE pod_memory_working_set_bytes gauge');
  for (const pod of summary.pods) {
    lines.push(
      `pod_memory_working_set_bytes{${podLabels(pod)}} ${number(podTotals(pod).memory)}${ts(pod.memory?.time)}`,
    );
  }
  lines.push('# HELP resource_scrape_error 1 if there was an error while getting container metrics, 0 otherwise');
  lines.push('# TYPE resource_scrape_error gauge');
  lines.push('resource_scrape_error 0');
  return `${lines.join('\n')}\n`;
}
