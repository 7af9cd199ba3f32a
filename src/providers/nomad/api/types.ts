/**
 * The parts of Nomad's HTTP API objects this provider reads and writes (Nomad v1.6; field names
 * as the API spells them). Durations are nanoseconds, times in events are Unix nanoseconds, and
 * `StartedAt`/`FinishedAt` are RFC 3339 strings.
 */

export interface NomadResources {
  CPU?: number;
  Cores?: number;
  MemoryMB?: number;
  MemoryMaxMB?: number;
  Networks?: NomadNetwork[];
}

export interface NomadPort {
  Label: string;
  Value?: number;
  To?: number;
  HostNetwork?: string;
}

export interface NomadNetwork {
  Mode?: string;
  ReservedPorts?: NomadPort[];
  DynamicPorts?: NomadPort[];
  IP?: string;
}

export interface NomadTask {
  Name: string;
  Driver: string;
  User?: string;
  Config: Record<string, unknown>;
  Env?: Record<string, string>;
  Resources: NomadResources;
  KillTimeout?: number;
  KillSignal?: string;
  Lifecycle?: { Hook: 'prestart' | 'poststart' | 'poststop'; Sidecar: boolean };
  LogConfig?: { MaxFiles: number; MaxFileSizeMB: number };
  Meta?: Record<string, string>;
}

export interface NomadTaskGroup {
  Name: string;
  Count: number;
  Tasks: NomadTask[];
  Networks?: NomadNetwork[];
  RestartPolicy?: { Attempts: number; Interval: number; Delay: number; Mode: 'delay' | 'fail' };
  ReschedulePolicy?: { Attempts: number; Interval?: number; Unlimited: boolean };
  EphemeralDisk?: { SizeMB: number };
}

export interface NomadJob {
  ID: string;
  Name: string;
  Type: 'service' | 'batch';
  Namespace?: string;
  Region?: string;
  Datacenters: string[];
  NodePool?: string;
  Meta?: Record<string, string>;
  TaskGroups: NomadTaskGroup[];
  Stop?: boolean;
  Status?: string;
  ModifyIndex?: number;
  JobModifyIndex?: number;
}

/** A job in `GET /v1/jobs` (with `meta=true`). */
export interface NomadJobStub {
  ID: string;
  Name: string;
  Namespace: string;
  Type: string;
  Status: string;
  Stop: boolean;
  Meta?: Record<string, string> | null;
  ModifyIndex: number;
}

export interface NomadTaskEvent {
  Type: string;
  /** Unix nanoseconds. */
  Time: number;
  DisplayMessage?: string;
  Message?: string;
  ExitCode?: number;
  Signal?: number;
  DriverError?: string;
  KillReason?: string;
  FailsTask?: boolean;
  RestartReason?: string;
  Details?: Record<string, string>;
}

export interface NomadTaskState {
  State: 'pending' | 'running' | 'dead';
  Failed: boolean;
  Restarts: number;
  LastRestart?: string | null;
  StartedAt?: string | null;
  FinishedAt?: string | null;
  Events?: NomadTaskEvent[] | null;
}

export interface NomadAllocation {
  ID: string;
  Namespace: string;
  Name: string;
  NodeID: string;
  NodeName?: string;
  JobID: string;
  TaskGroup: string;
  DesiredStatus: 'run' | 'stop' | 'evict' | string;
  DesiredDescription?: string;
  ClientStatus: 'pending' | 'running' | 'complete' | 'failed' | 'lost' | 'unknown' | string;
  ClientDescription?: string;
  TaskStates?: Record<string, NomadTaskState> | null;
  /** Only on a full allocation (GET /v1/allocation/:id, events), not on list stubs. */
  NetworkStatus?: { Address?: string; InterfaceName?: string } | null;
  AllocatedResources?: {
    Tasks?: Record<string, { Cpu?: { CpuShares?: number }; Memory?: { MemoryMB?: number; MemoryMaxMB?: number } }>;
    Shared?: { Networks?: NomadNetwork[] | null; DiskMB?: number };
  } | null;
  NextAllocation?: string;
  CreateIndex: number;
  ModifyIndex: number;
  /** Unix nanoseconds. */
  CreateTime: number;
  ModifyTime: number;
}

export interface NomadNode {
  ID: string;
  Name: string;
  Datacenter: string;
  NodePool?: string;
  Address?: string;
  Status: 'initializing' | 'ready' | 'down' | 'disconnected' | string;
  SchedulingEligibility: 'eligible' | 'ineligible' | string;
  Drain: boolean;
  Drivers?: Record<string, { Detected: boolean; Healthy: boolean; HealthDescription?: string }>;
  NodeResources?: {
    Cpu?: { CpuShares?: number; TotalCpuCores?: number };
    Memory?: { MemoryMB?: number };
    Disk?: { DiskMB?: number };
  } | null;
  ReservedResources?: {
    Cpu?: { CpuShares?: number };
    Memory?: { MemoryMB?: number };
    Disk?: { DiskMB?: number };
  } | null;
}

export interface NomadResourceUsage {
  CpuStats?: { Percent?: number; TotalTicks?: number; Measured?: string[] | null };
  MemoryStats?: {
    RSS?: number;
    Cache?: number;
    Usage?: number;
    MaxUsage?: number;
    Swap?: number;
    Measured?: string[] | null;
  };
}

export interface NomadAllocStats {
  ResourceUsage?: NomadResourceUsage;
  Tasks?: Record<string, { ResourceUsage?: NomadResourceUsage; Timestamp?: number }>;
  Timestamp?: number;
}

export interface NomadEvent {
  Topic: string;
  Type: string;
  Key: string;
  Namespace?: string;
  Index: number;
  Payload: { Allocation?: NomadAllocation; Job?: NomadJob; Node?: NomadNode };
}

export interface NomadRegisterResponse {
  EvalID: string;
  JobModifyIndex: number;
  Warnings?: string;
}
