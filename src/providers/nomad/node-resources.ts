/**
 * The virtual node's size from the Nomad cluster: the client nodes that can take our pods (ready,
 * eligible, not draining, in our datacenters and node pool, with a healthy driver), their CPU
 * (MHz, shown as cores at `mhzPerCore`) and memory summed, minus what Nomad reserves on them; and
 * allocatable less what other jobs' allocations already hold there (our own pods are counted by
 * the Kubernetes scheduler, not twice).
 */
import { parseQuantity } from '../../provider/index.ts';
import type { NomadAllocation, NomadNode } from './api/types.ts';

export interface NodeFilter {
  datacenters: readonly string[];
  nodePool: string | undefined;
  driver: string;
}

/** Nomad datacenter patterns: `*` matches any run of characters. */
function matches(pattern: string, value: string): boolean {
  const regex = new RegExp(
    `^${pattern
      .split('*')
      .map((part) => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
      .join('.*')}$`,
  );
  return regex.test(value);
}

/** The nodes our jobs can be placed on. */
export function usableNodes(nodes: readonly NomadNode[], filter: NodeFilter): NomadNode[] {
  return nodes.filter(
    (node) =>
      node.Status === 'ready' &&
      node.SchedulingEligibility === 'eligible' &&
      !node.Drain &&
      filter.datacenters.some((dc) => matches(dc, node.Datacenter)) &&
      (!filter.nodePool || (node.NodePool ?? 'default') === filter.nodePool) &&
      node.Drivers?.[filter.driver]?.Healthy === true,
  );
}

/** MHz per core across nodes (their CPU shares over their cores), for mapping CPU requests. */
export function averageMhzPerCore(nodes: readonly NomadNode[]): number | undefined {
  let mhz = 0;
  let cores = 0;
  for (const node of nodes) {
    const cpu = node.NodeResources?.Cpu;
    if (cpu?.CpuShares && cpu.TotalCpuCores) {
      mhz += cpu.CpuShares;
      cores += cpu.TotalCpuCores;
    }
  }
  return cores > 0 ? Math.round(mhz / cores) : undefined;
}

export interface NodeCapacity {
  capacity: Record<string, string>;
  allocatable: Record<string, string>;
  /** Nomad nodes counted. */
  nodes: number;
}

function millicores(mhz: number, mhzPerCore: number): string {
  return `${Math.max(0, Math.floor((mhz / mhzPerCore) * 1000))}m`;
}

function mebibytes(mb: number): string {
  return `${Math.max(0, Math.floor(mb))}Mi`;
}

/**
 * Capacity and allocatable of the virtual node. `others` are allocations that are not our pods
 * (only those still holding resources count); `overrides` (from the config) replace computed values.
 */
export function nodeCapacity(
  nodes: readonly NomadNode[],
  others: readonly NomadAllocation[],
  mhzPerCore: number,
  podsPerNode: number,
  overrides: Readonly<Record<string, string>>,
): NodeCapacity {
  let cpu = 0;
  let memory = 0;
  let disk = 0;
  let reservedCpu = 0;
  let reservedMemory = 0;
  const ids = new Set<string>();
  for (const node of nodes) {
    ids.add(node.ID);
    cpu += node.NodeResources?.Cpu?.CpuShares ?? 0;
    memory += node.NodeResources?.Memory?.MemoryMB ?? 0;
    disk += node.NodeResources?.Disk?.DiskMB ?? 0;
    reservedCpu += node.ReservedResources?.Cpu?.CpuShares ?? 0;
    reservedMemory += node.ReservedResources?.Memory?.MemoryMB ?? 0;
  }
  let usedCpu = 0;
  let usedMemory = 0;
  for (const alloc of others) {
    if (!ids.has(alloc.NodeID) || alloc.DesiredStatus !== 'run') continue;
    if (alloc.ClientStatus !== 'running' && alloc.ClientStatus !== 'pending') continue;
    for (const task of Object.values(alloc.AllocatedResources?.Tasks ?? {})) {
      usedCpu += task.Cpu?.CpuShares ?? 0;
      usedMemory += task.Memory?.MemoryMB ?? 0;
    }
  }
  const capacity: Record<string, string> = {
    cpu: millicores(cpu, mhzPerCore),
    memory: mebibytes(memory),
    'ephemeral-storage': mebibytes(disk),
    pods: String(podsPerNode * nodes.length),
    ...overrides,
  };
  const allocatable: Record<string, string> = {
    ...capacity,
    cpu: overrides.cpu ?? millicores(cpu - reservedCpu - usedCpu, mhzPerCore),
    memory: overrides.memory ?? mebibytes(memory - reservedMemory - usedMemory),
  };
  // An override smaller than what is left wins; allocatable never exceeds capacity.
  for (const name of ['cpu', 'memory'] as const) {
    if (parseQuantity(allocatable[name] as string) > parseQuantity(capacity[name] as string)) {
      allocatable[name] = capacity[name] as string;
    }
  }
  return { capacity, allocatable, nodes: nodes.length };
}
