/**
 * The kubelet's Summary API (`stats/v1alpha1`, `GET /stats/summary`), as JSON. Field names are
 * the wire names, including the odd ones (`ephemeral-storage`, `process_stats`, `volume`).
 * Times are RFC 3339 strings; every field the kubelet marks optional is optional here.
 */

export interface CPUStats {
  time: string;
  /** Current usage rate, in nanocores. */
  usageNanoCores?: number;
  /** Cumulative usage, in core-nanoseconds. */
  usageCoreNanoSeconds?: number;
}

export interface MemoryStats {
  time: string;
  availableBytes?: number;
  usageBytes?: number;
  /** What eviction and the HPA look at. */
  workingSetBytes?: number;
  rssBytes?: number;
  pageFaults?: number;
  majorPageFaults?: number;
}

export interface InterfaceStats {
  name: string;
  rxBytes?: number;
  rxErrors?: number;
  txBytes?: number;
  txErrors?: number;
}

export interface NetworkStats extends Partial<InterfaceStats> {
  time: string;
  interfaces?: InterfaceStats[];
}

export interface FsStats {
  time: string;
  availableBytes?: number;
  capacityBytes?: number;
  usedBytes?: number;
  inodesFree?: number;
  inodes?: number;
  inodesUsed?: number;
}

export interface ContainerStats {
  name: string;
  startTime: string;
  cpu?: CPUStats;
  memory?: MemoryStats;
  rootfs?: FsStats;
  logs?: FsStats;
}

export interface PodReference {
  name: string;
  namespace: string;
  uid: string;
}

export interface VolumeStats extends Partial<FsStats> {
  name: string;
  pvcRef?: { name: string; namespace: string };
}

export interface PodStats {
  podRef: PodReference;
  startTime: string;
  containers: ContainerStats[];
  cpu?: CPUStats;
  memory?: MemoryStats;
  network?: NetworkStats;
  volume?: VolumeStats[];
  'ephemeral-storage'?: FsStats;
  process_stats?: { process_count?: number };
}

export interface NodeStats {
  nodeName: string;
  startTime: string;
  systemContainers?: ContainerStats[];
  cpu?: CPUStats;
  memory?: MemoryStats;
  network?: NetworkStats;
  fs?: FsStats;
  runtime?: { imageFs?: FsStats; containerFs?: FsStats };
  rlimit?: { time: string; maxpid?: number; curproc?: number };
}

/** `GET /stats/summary`. */
export interface StatsSummary {
  node: NodeStats;
  pods: PodStats[];
}
