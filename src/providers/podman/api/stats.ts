/**
 * Resource usage for `/stats/summary`, from `GET /libpod/containers/stats?stream=false`.
 *
 * What Podman 4.3 reports per container (one sample, read from the container's cgroup):
 * - `CPUNano`: cumulative CPU time in nanoseconds (cpuacct.usage / cpu.stat usage_usec×1000);
 *   `CPUSystemNano` the kernel-mode part. `CPU` is a percentage since the previous sample of
 *   the same request, so with `stream=false` it is meaningless; rates are the caller's job.
 * - `MemUsage`: the cgroup's memory usage in bytes *including page cache* (memory.usage_in_bytes
 *   on v1, memory.current on v2) — not the kubelet's working set. `MemLimit`: the limit in
 *   bytes, or the host's memory when unlimited.
 * - `NetInput`/`NetOutput`: bytes on the network namespace's interfaces — shared by every
 *   container of a pod — and swapped in 4.3: `NetInput` is what the namespace *sent*.
 * - `BlockInput`/`BlockOutput`: bytes read/written (blkio), `PIDs`: processes now.
 * - `SystemNano`: when the sample was taken, Unix nanoseconds.
 * A single unknown or stopped container makes the whole answer an error with an empty `{}`
 * message (Go's error does not marshal), so on error this module asks per container.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { jsonLines } from './json-stream.ts';
import type { PodmanTransport } from './transport.ts';

/** One container's usage. */
export interface ContainerStats {
  id: string;
  name: string;
  /** When the sample was taken. */
  timestamp: Date;
  /** Cumulative CPU time, nanoseconds. */
  cpuNanos: number;
  /** Cumulative CPU time in kernel mode, nanoseconds. */
  cpuSystemNanos: number;
  /** cgroup memory usage including page cache, bytes (Podman's `MemUsage`). */
  memoryUsageBytes: number;
  /**
   * Usage minus inactive file pages (the kubelet's working set), bytes. Read from the cgroup
   * filesystem when the service is on this host; otherwise equal to `memoryUsageBytes`.
   */
  memoryWorkingSetBytes: number;
  /** The memory limit, or the host's memory when unlimited, bytes. */
  memoryLimitBytes: number;
  /** Bytes received by the pod's network namespace (corrected for 4.3's swap). */
  networkRxBytes: number;
  /** Bytes sent by the pod's network namespace (corrected for 4.3's swap). */
  networkTxBytes: number;
  blockReadBytes: number;
  blockWriteBytes: number;
  pids: number;
}

interface RawStats {
  ContainerID: string;
  Name: string;
  CPUNano: number;
  CPUSystemNano: number;
  SystemNano: number;
  MemUsage: number;
  MemLimit: number;
  NetInput: number;
  NetOutput: number;
  BlockInput: number;
  BlockOutput: number;
  PIDs: number;
}

interface RawStatsReport {
  Error?: unknown;
  Stats?: RawStats[] | null;
}

/** How a container's cgroup is found on this host, for the working set; undefined when not local. */
export interface CgroupReader {
  /** cgroup path of a container (from inspect), e.g. `/libpod_parent/<pod>/libpod-<id>`. */
  cgroupPath(id: string): Promise<string | undefined>;
  /** Root of the cgroup filesystem, normally `/sys/fs/cgroup`. */
  root?: string;
}

/** Inactive file pages of a cgroup in bytes, from its memory.stat (v1 or v2), or undefined. */
export function inactiveFileBytes(cgroupPath: string, root = '/sys/fs/cgroup'): number | undefined {
  const unified = existsSync(join(root, 'cgroup.controllers'));
  const file = unified ? join(root, cgroupPath, 'memory.stat') : join(root, 'memory', cgroupPath, 'memory.stat');
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
  const key = unified ? 'inactive_file' : 'total_inactive_file';
  const line = text.split('\n').find((l) => l.startsWith(`${key} `));
  return line ? Number(line.slice(key.length + 1)) : undefined;
}

function fromRaw(raw: RawStats, inactiveFile: number | undefined): ContainerStats {
  return {
    id: raw.ContainerID,
    name: raw.Name,
    timestamp: new Date(Math.floor(raw.SystemNano / 1e6)),
    cpuNanos: raw.CPUNano,
    cpuSystemNanos: raw.CPUSystemNano,
    memoryUsageBytes: raw.MemUsage,
    memoryWorkingSetBytes: inactiveFile === undefined ? raw.MemUsage : Math.max(0, raw.MemUsage - inactiveFile),
    memoryLimitBytes: raw.MemLimit,
    networkRxBytes: raw.NetOutput,
    networkTxBytes: raw.NetInput,
    blockReadBytes: raw.BlockInput,
    blockWriteBytes: raw.BlockOutput,
    pids: raw.PIDs,
  };
}

async function sample(
  transport: PodmanTransport,
  ids: readonly string[],
  signal?: AbortSignal,
): Promise<RawStatsReport> {
  const { body } = await transport.request({
    method: 'GET',
    path: '/libpod/containers/stats',
    query: { containers: [...ids], stream: false },
    signal,
    what: `reading the stats of ${ids.length === 1 ? `container "${ids[0]}"` : `${ids.length} containers`}`,
  });
  for await (const report of jsonLines<RawStatsReport>(body)) return report;
  return {};
}

/**
 * One usage sample of each running container in `ids` (all running containers when empty).
 * Containers that are gone or not running are left out rather than failing the rest.
 */
export async function containerStats(
  transport: PodmanTransport,
  ids: readonly string[],
  options: { signal?: AbortSignal | undefined; cgroups?: CgroupReader | undefined } = {},
): Promise<ContainerStats[]> {
  let raws: RawStats[];
  const report = await sample(transport, ids, options.signal);
  if (!report.Error) {
    raws = report.Stats ?? [];
  } else if (ids.length > 1) {
    const singles = await Promise.all(ids.map((id) => sample(transport, [id], options.signal)));
    raws = singles.flatMap((single) => (single.Error ? [] : (single.Stats ?? [])));
  } else {
    raws = [];
  }
  const results: ContainerStats[] = [];
  for (const raw of raws) {
    let inactive: number | undefined;
    if (options.cgroups) {
      const path = await options.cgroups.cgroupPath(raw.ContainerID);
      if (path) inactive = inactiveFileBytes(path, options.cgroups.root);
    }
    results.push(fromRaw(raw, inactive));
  }
  return results;
}
