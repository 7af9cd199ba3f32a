/**
 * `/stats/summary` for the Podman provider: one Podman stats request per scrape for every
 * running container of the node (not one per pod), CPU rates from the difference with the
 * previous scrape, and pod and node totals summed from the containers.
 */
import { freemem } from 'node:os';
import type { ContainerStatus } from 'kubernetes-types/core/v1.js';
import { kubeTime } from '../../kube/time.ts';
import type { ContainerStats, PodStats, StatsSummary } from '../../provider/index.ts';
import type { PodRuntime } from './pod-runtime.ts';
import type { ContainerUsage, PodmanBackend } from './runtime-api.ts';

interface CpuSample {
  at: number;
  nanoseconds: number;
}

export class PodmanStats {
  readonly #backend: PodmanBackend;
  readonly #nodeName: string;
  readonly #startedAt = new Date();
  /** CPU time per container at the last scrape; only running containers are kept, so it does not grow. */
  #previousCpu = new Map<string, CpuSample>();

  constructor(backend: PodmanBackend, nodeName: string) {
    this.#backend = backend;
    this.#nodeName = nodeName;
  }

  async summary(runtimes: Iterable<PodRuntime>, signal: AbortSignal): Promise<StatsSummary> {
    const now = Date.now();
    const time = kubeTime(new Date(now));
    const scraped = [...runtimes].map((runtime) => {
      const status = runtime.status();
      const running = (status.containerStatuses ?? []).flatMap((c) => {
        const id = c.state?.running ? runtime.containerId(c.name) : undefined;
        return id ? [{ status: c, id }] : [];
      });
      return { runtime, startTime: status.startTime, running };
    });
    const ids = scraped.flatMap((p) => p.running.map((c) => c.id));
    let usage: ContainerUsage[] = [];
    try {
      // An empty list would mean every container on the host.
      if (ids.length > 0) usage = await this.#backend.stats(ids, signal);
    } catch {
      scraped.length = 0; // Podman is unreachable: no pod is reported rather than one with zero usage.
    }
    const usageById = new Map(usage.map((u) => [u.id, u]));
    const previousCpu = this.#previousCpu;
    this.#previousCpu = new Map();
    const pods: PodStats[] = [];
    for (const { runtime, startTime, running } of scraped) {
      if (running.length === 0) continue;
      const containers = running.map(({ status, id }) =>
        this.#containerStats(status, id, usageById.get(id) ?? usage.find((u) => sameId(u.id, id)), previousCpu, now),
      );
      const totals = sum(containers);
      pods.push({
        podRef: {
          name: runtime.pod.metadata?.name ?? '',
          namespace: runtime.pod.metadata?.namespace ?? '',
          uid: runtime.pod.metadata?.uid ?? '',
        },
        startTime: startTime ?? time,
        containers,
        cpu: { time, usageCoreNanoSeconds: totals.cpu, usageNanoCores: totals.rate },
        memory: { time, workingSetBytes: totals.memory, usageBytes: totals.memory },
      });
    }
    const node = sum(pods);
    return {
      node: {
        nodeName: this.#nodeName,
        startTime: kubeTime(this.#startedAt),
        cpu: { time, usageCoreNanoSeconds: node.cpu, usageNanoCores: node.rate },
        memory: { time, workingSetBytes: node.memory, usageBytes: node.memory, availableBytes: freemem() },
      },
      pods,
    };
  }

  #containerStats(
    status: ContainerStatus,
    id: string,
    usage: ContainerUsage | undefined,
    previousCpu: Map<string, CpuSample>,
    now: number,
  ): ContainerStats {
    const time = kubeTime(new Date(now));
    const cpu = usage?.cpuNanoseconds ?? 0;
    const previous = previousCpu.get(id);
    const rate =
      previous && now > previous.at ? Math.max(0, ((cpu - previous.nanoseconds) / (now - previous.at)) * 1e6) : 0;
    this.#previousCpu.set(id, { at: now, nanoseconds: cpu });
    return {
      name: status.name,
      startTime: status.state?.running?.startedAt ?? time,
      cpu: { time, usageCoreNanoSeconds: cpu, usageNanoCores: Math.round(rate) },
      memory: { time, workingSetBytes: usage?.memoryBytes ?? 0, usageBytes: usage?.memoryBytes ?? 0 },
    };
  }
}

/** Podman may answer with a short or a long form of the ID. */
function sameId(a: string, b: string): boolean {
  return a.startsWith(b) || b.startsWith(a);
}

function sum(
  items: { cpu?: { usageCoreNanoSeconds?: number; usageNanoCores?: number }; memory?: { workingSetBytes?: number } }[],
) {
  let cpu = 0;
  let rate = 0;
  let memory = 0;
  for (const item of items) {
    cpu += item.cpu?.usageCoreNanoSeconds ?? 0;
    rate += item.cpu?.usageNanoCores ?? 0;
    memory += item.memory?.workingSetBytes ?? 0;
  }
  return { cpu, rate, memory };
}
