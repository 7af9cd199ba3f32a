/**
 * Containers: create (Podman's `SpecGenerator`, field for field), lifecycle, inspect, list, wait.
 */
import { constants } from 'node:os';
import { InvalidInputError } from '../../../errors.ts';
import { PodmanError } from './errors.ts';
import { labelFilterQuery } from './pods.ts';
import { type Rlimit, runtimeErrorHint, withDefaultRlimits } from './rlimits.ts';
import type { PodmanTransport } from './transport.ts';

/** A mount: a host directory bind-mounted, or a tmpfs. OCI `Mount` as specgen takes it. */
export interface ContainerMountSpec {
  /** Path inside the container. */
  destination: string;
  type: 'bind' | 'tmpfs';
  /** Host path for `bind`; `tmpfs` for tmpfs. */
  source: string;
  /** `ro`/`rw`, `rbind`, `rprivate`, `nosuid`, `size=64m`… */
  options: string[];
}

/**
 * The body of `POST /libpod/containers/create`: the `SpecGenerator` fields the provider uses,
 * named as the REST API names them. Everything is optional except `image`; Podman fills the
 * rest from the image and containers.conf.
 */
export interface ContainerCreateSpec {
  name?: string;
  /** Pod name or ID to join; the container shares the pod's namespaces. */
  pod?: string;
  image: string;
  /** Replaces the image's entrypoint. */
  entrypoint?: string[];
  /** Replaces the image's cmd. */
  command?: string[];
  env?: Record<string, string>;
  work_dir?: string;
  /** Create `work_dir` if missing (Podman's default is true). */
  create_working_dir?: boolean;
  /** `uid`, `uid:gid` or a user name from the image's /etc/passwd. */
  user?: string;
  /** Supplementary groups. */
  groups?: string[];
  terminal?: boolean;
  /** Keep stdin open (Kubernetes `stdin: true`). */
  stdin?: boolean;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  mounts?: ContainerMountSpec[];
  /** POSIX rlimits; type as `nofile` (an `RLIMIT_` prefix is stripped). See ./rlimits.ts. */
  r_limits?: Rlimit[];
  resource_limits?: {
    memory?: { limit?: number; reservation?: number; swap?: number };
    /** CFS quota and period in microseconds; shares as cgroup v1 cpu.shares. */
    cpu?: { quota?: number; period?: number; shares?: number; cpus?: string };
    pids?: { limit: number };
  };
  cap_add?: string[];
  cap_drop?: string[];
  privileged?: boolean;
  no_new_privileges?: boolean;
  read_only_filesystem?: boolean;
  /** Signal for `stop`: a number or a name (`SIGTERM`); the image's or SIGTERM when unset. */
  stop_signal?: number | NodeJS.Signals;
  /** Seconds between the stop signal and SIGKILL when `stop` gives no timeout. */
  stop_timeout?: number;
  /** The provider restarts containers itself: always `no`. */
  restart_policy?: 'no' | 'always' | 'on-failure' | 'unless-stopped';
  /** `runc`, `crun`…; the service's default when unset. */
  oci_runtime?: string;
  /** What to do with the image's VOLUMEs: `anonymous` (Podman's default), `tmpfs` or `ignore`. */
  image_volume_mode?: 'anonymous' | 'tmpfs' | 'ignore';
  /** `k8s-file` (default) keeps the logs the logs endpoint reads; `size` rotates at that many bytes. */
  log_configuration?: { driver: string; path?: string; size?: number; options?: Record<string, string> };
  sysctl?: Record<string, string>;
  oom_score_adj?: number;
  umask?: string;
  /** Seconds after which Podman kills the container (0: none). */
  timeout?: number;
  /** Use the image's /etc/hosts rather than the pod's. */
  use_image_hosts?: boolean;
  seccomp_policy?: string;
  seccomp_profile_path?: string;
  selinux_opts?: string[];
  apparmor_profile?: string;
  /** The PID namespace: `{ nsmode: 'container', value: <id> }` joins another container's processes. */
  pidns?: { nsmode: string; value?: string };
}

/** A container's state, from `GET /libpod/containers/{name}/json`. */
export interface ContainerState {
  /** `created`, `running`, `paused`, `stopped`, `exited`, `removing`… */
  status: string;
  running: boolean;
  paused: boolean;
  oomKilled: boolean;
  dead: boolean;
  /** Host PID of the container's process while running, else 0. */
  pid: number;
  exitCode: number;
  /** The runtime's error when the last start failed (e.g. an rlimit or an exec format error), else empty. */
  error: string;
  startedAt: Date | undefined;
  finishedAt: Date | undefined;
}

export interface ContainerNetwork {
  ipAddress: string;
  prefixLength: number;
  gateway: string;
  macAddress: string;
}

export interface ContainerInspect {
  id: string;
  name: string;
  created: Date | undefined;
  /** Pod ID, empty for a container outside a pod. */
  podId: string;
  isInfra: boolean;
  /** The image as the create request named it, e.g. `localhost/busybox:test`. */
  image: string;
  /** The image ID (64 hex digits). */
  imageId: string;
  /** The image's manifest digest, `sha256:…`. */
  imageDigest: string;
  /** The process: executable and arguments. */
  command: string[];
  state: ContainerState;
  /** Podman's own restart count (the provider restarts containers itself and keeps its own). */
  restartCount: number;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  env: string[];
  tty: boolean;
  openStdin: boolean;
  /** The pod's IP on its first network ('' when it has none): containers in a pod share the infra's network. */
  ipAddress: string;
  networks: Record<string, ContainerNetwork>;
  /** The k8s-file log on the Podman host. */
  logPath: string;
  /** cgroup path below the controller mount, e.g. `/libpod_parent/<pod>/libpod-<id>`. */
  cgroupPath: string;
}

/** A container as `GET /libpod/containers/json` lists it. */
export interface ContainerSummary {
  id: string;
  name: string;
  image: string;
  imageId: string;
  /** Same values as {@link ContainerState.status}. */
  state: string;
  exitCode: number;
  exited: boolean;
  startedAt: Date | undefined;
  exitedAt: Date | undefined;
  created: Date | undefined;
  labels: Record<string, string>;
  podId: string;
  podName: string;
  isInfra: boolean;
}

export interface ListContainersOptions {
  /** Include stopped containers (default true: the provider must see exited containers). */
  all?: boolean;
  labelFilters?: Record<string, string | undefined>;
  /** Only containers of this pod (name or ID). */
  pod?: string;
  /**
   * Include pods' infra containers (default false). They carry their pod's labels, so a label
   * filter meant for the provider's containers would match them too.
   */
  includeInfra?: boolean;
  signal?: AbortSignal | undefined;
}

export interface RemoveContainerOptions {
  /** Stop it first if running. */
  force?: boolean;
  /** Also remove its anonymous volumes. */
  volumes?: boolean;
  /** Seconds to wait for a forced stop before SIGKILL. */
  timeoutSeconds?: number;
  signal?: AbortSignal | undefined;
}

/** Wait conditions: the states `wait` returns on. */
export type WaitCondition =
  | 'configured'
  | 'created'
  | 'running'
  | 'stopped'
  | 'paused'
  | 'exited'
  | 'removing'
  | 'stopping';

interface RawContainerInspect {
  Id: string;
  Name: string;
  Created?: string;
  Pod?: string;
  IsInfra?: boolean;
  Image?: string;
  ImageName?: string;
  ImageDigest?: string;
  Path?: string;
  Args?: string[] | null;
  RestartCount?: number;
  State: {
    Status: string;
    Running: boolean;
    Paused: boolean;
    OOMKilled: boolean;
    Dead: boolean;
    Pid: number;
    ExitCode: number;
    Error: string;
    StartedAt: string;
    FinishedAt: string;
    CgroupPath?: string;
  };
  Config?: {
    Labels?: Record<string, string> | null;
    Annotations?: Record<string, string> | null;
    Env?: string[] | null;
    Tty?: boolean;
    OpenStdin?: boolean;
  };
  HostConfig?: { LogConfig?: { Path?: string } };
  NetworkSettings?: {
    IPAddress?: string;
    Networks?: Record<
      string,
      { IPAddress?: string; IPPrefixLen?: number; Gateway?: string; MacAddress?: string }
    > | null;
  };
}

interface RawContainerSummary {
  Id: string;
  Names?: string[] | null;
  Image: string;
  ImageID: string;
  State: string;
  ExitCode: number;
  Exited: boolean;
  StartedAt: number;
  ExitedAt: number;
  Created?: string;
  Labels?: Record<string, string> | null;
  Pod?: string;
  PodName?: string;
  IsInfra?: boolean;
}

/** Go's zero time, which Podman sends for "never". */
function time(value: string | undefined): Date | undefined {
  if (!value || value.startsWith('0001-01-01')) return undefined;
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? undefined : date;
}

function unixTime(seconds: number): Date | undefined {
  return seconds > 0 ? new Date(seconds * 1000) : undefined;
}

function containerPath(id: string, suffix = ''): string {
  return `/libpod/containers/${encodeURIComponent(id)}${suffix}`;
}

/** A signal name or number as the number specgen's `stop_signal` needs. */
export function signalNumber(value: number | string): number {
  if (typeof value === 'number') return value;
  const name = (
    value.toUpperCase().startsWith('SIG') ? value.toUpperCase() : `SIG${value.toUpperCase()}`
  ) as NodeJS.Signals;
  const number = constants.signals[name];
  if (number === undefined) throw new InvalidInputError(`unknown signal "${value}"`);
  return number;
}

/** The JSON body of a create request: normalizes rlimits and the stop signal, adds default rlimits. */
export function containerCreateBody(
  spec: ContainerCreateSpec,
  defaultRlimits: readonly Rlimit[] | undefined,
): Record<string, unknown> {
  const body: Record<string, unknown> = { ...spec };
  if (spec.r_limits || defaultRlimits) body.r_limits = withDefaultRlimits(spec.r_limits, defaultRlimits ?? []);
  if (spec.stop_signal !== undefined) body.stop_signal = signalNumber(spec.stop_signal);
  // Empty lists mean "none" to Kubernetes but "not set" to Podman, which would then use the image's.
  if (spec.entrypoint && spec.entrypoint.length === 0) delete body.entrypoint;
  if (spec.command && spec.command.length === 0) delete body.command;
  return body;
}

/** Rewrites an OCI runtime failure with a hint on how to fix it (rlimits, crun). */
export function withRuntimeHint(error: unknown): unknown {
  if (!(error instanceof PodmanError)) return error;
  const hint = runtimeErrorHint(error.message);
  if (!hint) return error;
  return new PodmanError(error.status, error.reason, `${error.message} (${hint})`, { cause: error });
}

/** Creates a container (not started); resolves with its ID. A taken name is a PodmanError with `alreadyExists`. */
export async function createContainer(
  transport: PodmanTransport,
  spec: ContainerCreateSpec,
  defaultRlimits: readonly Rlimit[] | undefined,
  signal?: AbortSignal,
): Promise<string> {
  const report = await transport.json<{ Id: string; Warnings?: string[] | null }>({
    method: 'POST',
    path: '/libpod/containers/create',
    body: containerCreateBody(spec, defaultRlimits),
    signal,
    what: `creating container "${spec.name ?? spec.image}"`,
  });
  return report.Id;
}

/** Starts a container; already running is fine. OCI runtime errors come with a hint. */
export async function startContainer(transport: PodmanTransport, id: string, signal?: AbortSignal): Promise<void> {
  try {
    await transport.call({
      method: 'POST',
      path: containerPath(id, '/start'),
      signal,
      what: `starting container "${id}"`,
    });
  } catch (error) {
    throw withRuntimeHint(error);
  }
}

/** Sends the stop signal, then SIGKILL after `timeoutSeconds` (0: at once). Already stopped is fine. */
export async function stopContainer(
  transport: PodmanTransport,
  id: string,
  timeoutSeconds: number,
  signal?: AbortSignal,
): Promise<void> {
  await transport.call({
    method: 'POST',
    path: containerPath(id, '/stop'),
    query: { timeout: Math.max(0, Math.ceil(timeoutSeconds)) },
    signal,
    idleTimeoutMs: (timeoutSeconds + 60) * 1000,
    what: `stopping container "${id}"`,
  });
}

/** Sends a signal (name like `SIGTERM` or number); a container that is not running is fine. */
export async function killContainer(
  transport: PodmanTransport,
  id: string,
  killSignal: string | number = 'SIGKILL',
  signal?: AbortSignal,
): Promise<void> {
  try {
    await transport.call({
      method: 'POST',
      path: containerPath(id, '/kill'),
      query: { signal: String(killSignal) },
      signal,
      what: `sending ${killSignal} to container "${id}"`,
    });
  } catch (error) {
    // Not running (created, stopped or exited): nothing to signal. Podman says so with a 409,
    // or with a 500 whose reason is `container state improper`.
    if (error instanceof PodmanError && (error.status === 409 || /state improper/.test(error.reason))) return;
    throw error;
  }
}

export async function removeContainer(
  transport: PodmanTransport,
  id: string,
  options: RemoveContainerOptions = {},
): Promise<void> {
  const reports = await transport.json<{ Id: string; Err?: unknown }[] | null>({
    method: 'DELETE',
    path: containerPath(id),
    query: { force: options.force ?? false, v: options.volumes ?? false, timeout: options.timeoutSeconds },
    signal: options.signal,
    idleTimeoutMs: ((options.timeoutSeconds ?? 10) + 60) * 1000,
    what: `removing container "${id}"`,
  });
  const failed = (reports ?? []).find((report) => report.Err);
  if (failed) throw new PodmanError(500, '', `removing container "${id}": ${JSON.stringify(failed.Err)}`);
}

export function inspectFromRaw(raw: RawContainerInspect): ContainerInspect {
  const networks: Record<string, ContainerNetwork> = {};
  for (const [name, network] of Object.entries(raw.NetworkSettings?.Networks ?? {})) {
    networks[name] = {
      ipAddress: network.IPAddress ?? '',
      prefixLength: network.IPPrefixLen ?? 0,
      gateway: network.Gateway ?? '',
      macAddress: network.MacAddress ?? '',
    };
  }
  const firstNetworkIp = Object.values(networks).find((n) => n.ipAddress)?.ipAddress ?? '';
  return {
    id: raw.Id,
    name: raw.Name,
    created: time(raw.Created),
    podId: raw.Pod ?? '',
    isInfra: raw.IsInfra ?? false,
    image: raw.ImageName ?? '',
    imageId: raw.Image ?? '',
    imageDigest: raw.ImageDigest ?? '',
    command: [...(raw.Path ? [raw.Path] : []), ...(raw.Args ?? [])],
    state: {
      status: raw.State.Status,
      running: raw.State.Running,
      paused: raw.State.Paused,
      oomKilled: raw.State.OOMKilled,
      dead: raw.State.Dead,
      pid: raw.State.Pid,
      exitCode: raw.State.ExitCode,
      error: raw.State.Error ?? '',
      startedAt: time(raw.State.StartedAt),
      finishedAt: time(raw.State.FinishedAt),
    },
    restartCount: raw.RestartCount ?? 0,
    labels: raw.Config?.Labels ?? {},
    annotations: raw.Config?.Annotations ?? {},
    env: raw.Config?.Env ?? [],
    tty: raw.Config?.Tty ?? false,
    openStdin: raw.Config?.OpenStdin ?? false,
    ipAddress: raw.NetworkSettings?.IPAddress || firstNetworkIp,
    networks,
    logPath: raw.HostConfig?.LogConfig?.Path ?? '',
    cgroupPath: raw.State.CgroupPath ?? '',
  };
}

export async function inspectContainer(
  transport: PodmanTransport,
  id: string,
  signal?: AbortSignal,
): Promise<ContainerInspect> {
  const raw = await transport.json<RawContainerInspect>({
    method: 'GET',
    path: containerPath(id, '/json'),
    signal,
    what: `inspecting container "${id}"`,
  });
  return inspectFromRaw(raw);
}

export async function listContainers(
  transport: PodmanTransport,
  options: ListContainersOptions = {},
): Promise<ContainerSummary[]> {
  const raw = await transport.json<RawContainerSummary[] | null>({
    method: 'GET',
    path: '/libpod/containers/json',
    query: {
      all: options.all ?? true,
      filters: labelFilterQuery(options.labelFilters, options.pod ? { pod: [options.pod] } : {}),
    },
    signal: options.signal,
    what: 'listing containers',
  });
  const containers = (raw ?? []).filter((c) => options.includeInfra || !c.IsInfra);
  return containers.map((c) => ({
    id: c.Id,
    name: c.Names?.[0] ?? '',
    image: c.Image,
    imageId: c.ImageID,
    state: c.State,
    exitCode: c.ExitCode,
    exited: c.Exited,
    startedAt: unixTime(c.StartedAt),
    exitedAt: unixTime(c.ExitedAt),
    created: time(c.Created),
    labels: c.Labels ?? {},
    podId: c.Pod ?? '',
    podName: c.PodName ?? '',
    isInfra: c.IsInfra ?? false,
  }));
}

/**
 * Waits until the container reaches one of `conditions` (default: stopped or exited) and
 * resolves with its exit code. Podman polls every `intervalMs` (250 by default) on its side.
 */
export async function waitContainer(
  transport: PodmanTransport,
  id: string,
  options: { conditions?: WaitCondition[]; intervalMs?: number; signal?: AbortSignal | undefined } = {},
): Promise<number> {
  const { body } = await transport.request({
    method: 'POST',
    path: containerPath(id, '/wait'),
    query: {
      condition: options.conditions ?? ['stopped', 'exited'],
      interval: `${options.intervalMs ?? 250}ms`,
    },
    signal: options.signal,
    stream: true,
    what: `waiting for container "${id}"`,
  });
  const chunks: Buffer[] = [];
  for await (const chunk of body) chunks.push(chunk as Buffer);
  const text = Buffer.concat(chunks).toString('utf8').trim();
  const code = Number(text);
  if (!Number.isInteger(code))
    throw new PodmanError(0, '', `waiting for container "${id}": unexpected answer "${text}"`);
  return code;
}

/** Sets the size of the container's TTY (a container created with `terminal: true`). */
export async function resizeContainer(
  transport: PodmanTransport,
  id: string,
  size: { h: number; w: number },
  signal?: AbortSignal,
): Promise<void> {
  await transport.call({
    method: 'POST',
    path: containerPath(id, '/resize'),
    query: { h: size.h, w: size.w },
    signal,
    what: `resizing the terminal of container "${id}"`,
  });
}
