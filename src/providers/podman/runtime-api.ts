/**
 * What the pod runtime needs from Podman, as an interface: the real REST client implements it
 * (through `podman-backend.ts`), and unit tests of the runtime's state machine use a fake.
 */
import type { Duplex, Readable, Writable } from 'node:stream';
import type { ContainerCreateSpec, ImageConfig } from './container-spec.ts';

/** A container's state as Podman reports it. */
export interface ContainerInfo {
  id: string;
  name: string;
  /** `created`, `running`, `exited`, `stopped`, `paused`… */
  status: string;
  running: boolean;
  exitCode: number;
  oomKilled: boolean;
  startedAt: Date | undefined;
  finishedAt: Date | undefined;
  /** The runtime's error, when the start failed. */
  error: string;
  image: string;
  imageID: string;
  labels: Record<string, string>;
}

export interface PodInfo {
  id: string;
  name: string;
  labels: Record<string, string>;
  /** The pod's IPs on its network (from the infra container). */
  ips: string[];
  containers: { id: string; name: string }[];
}

export interface RegistryAuth {
  username?: string;
  password?: string;
  identityToken?: string;
  serverAddress?: string;
}

/** One log line. */
export interface LogLine {
  stream: 'stdout' | 'stderr';
  time: Date;
  text: string;
}

export interface LogQuery {
  follow: boolean;
  since?: Date;
  tail?: number;
  signal: AbortSignal;
}

export interface ExecIO {
  stdin?: Readable | undefined;
  stdout?: Writable | undefined;
  stderr?: Writable | undefined;
  tty: boolean;
}

/** A container event from Podman's event stream. */
export interface ContainerEvent {
  /** `start`, `died`, `oom`, `exec_died`, `remove`… */
  status: string;
  id: string;
  name: string;
  labels: Record<string, string>;
  exitCode?: number;
  time: Date;
}

export interface ContainerUsage {
  id: string;
  /** Cumulative CPU time, nanoseconds. */
  cpuNanoseconds: number;
  /** Memory in use, bytes (working set). */
  memoryBytes: number;
  rxBytes?: number;
  txBytes?: number;
}

export interface HostInfo {
  cpus: number;
  memoryBytes: number;
  kernel: string;
  os: string;
  version: string;
  /** The cgroup controllers containers can use; empty when the host does not say. */
  cgroupControllers: string[];
}

export interface PodmanBackend {
  ping(signal?: AbortSignal): Promise<void>;
  hostInfo(signal?: AbortSignal): Promise<HostInfo>;

  imageExists(reference: string, signal?: AbortSignal): Promise<boolean>;
  pullImage(
    reference: string,
    options: { auth?: RegistryAuth | undefined; tlsVerify: boolean; signal?: AbortSignal },
  ): Promise<void>;
  imageConfig(reference: string, signal?: AbortSignal): Promise<ImageConfig & { id: string }>;

  /** Creates a Podman pod; a taken name rejects with a PodmanError whose `alreadyExists` is true. */
  createPod(
    spec: { name: string; labels: Record<string, string>; hostname: string; network?: string | undefined },
    signal?: AbortSignal,
  ): Promise<string>;
  startPod(name: string, signal?: AbortSignal): Promise<void>;
  removePod(name: string, signal?: AbortSignal): Promise<void>;
  inspectPod(name: string, signal?: AbortSignal): Promise<PodInfo>;
  listPods(labels: Record<string, string>, signal?: AbortSignal): Promise<PodInfo[]>;

  createContainer(spec: ContainerCreateSpec, signal?: AbortSignal): Promise<string>;
  startContainer(id: string, signal?: AbortSignal): Promise<void>;
  /** Sends the stop signal, then SIGKILL after `timeoutSeconds`. */
  stopContainer(id: string, timeoutSeconds: number, signal?: AbortSignal): Promise<void>;
  removeContainer(id: string, signal?: AbortSignal): Promise<void>;
  inspectContainer(id: string, signal?: AbortSignal): Promise<ContainerInfo>;
  listContainers(labels: Record<string, string>, signal?: AbortSignal): Promise<ContainerInfo[]>;

  /** Runs a command in a container; resolves with its exit code. */
  exec(
    id: string,
    command: string[],
    io: ExecIO,
    options: { signal: AbortSignal; onResize?: (resize: (width: number, height: number) => void) => void },
  ): Promise<number>;
  attach(
    id: string,
    io: ExecIO,
    options: { signal: AbortSignal; onResize?: (resize: (width: number, height: number) => void) => void },
  ): Promise<void>;
  logs(id: string, query: LogQuery): AsyncIterable<LogLine>;
  stats(ids: string[], signal?: AbortSignal): Promise<ContainerUsage[]>;
  events(labels: Record<string, string>, signal: AbortSignal): AsyncIterable<ContainerEvent>;
  /** A TCP connection to `port` inside the pod's network namespace. */
  connect(podName: string, port: number, signal: AbortSignal): Promise<Duplex>;
}
