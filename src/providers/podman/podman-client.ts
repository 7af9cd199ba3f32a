/**
 * A typed client for Podman's libpod REST API (Podman 4.3 and newer), over the service's unix
 * socket or TCP: the one place that knows Podman's paths, JSON shapes and quirks. Each concept
 * lives in its own module under ./api/; this class binds them to one connection pool.
 *
 * Requests are JSON in Podman's own field names (container create takes the `SpecGenerator`
 * fields as they are); answers are turned into camelCase objects with Dates and without
 * Go's zero values. A 404 is a {@link NotFoundError}, other error statuses a
 * {@link PodmanError}, an unreachable service a {@link PodmanUnavailableError}.
 */
import { connect, type Socket } from 'node:net';
import type { Readable } from 'node:stream';
import { NotFoundError } from '../../errors.ts';
import {
  type ContainerCreateSpec,
  type ContainerInspect,
  type ContainerSummary,
  createContainer,
  inspectContainer,
  killContainer,
  type ListContainersOptions,
  listContainers,
  type RemoveContainerOptions,
  removeContainer,
  resizeContainer,
  startContainer,
  stopContainer,
  type WaitCondition,
  waitContainer,
  withRuntimeHint,
} from './api/containers.ts';
import { PodmanError } from './api/errors.ts';
import { type EventsOptions, events, type PodmanEvent } from './api/events.ts';
import {
  type AttachOptions,
  attachContainer,
  type ExecCreateOptions,
  type ExecInspect,
  type ExecStartOptions,
  execCreate,
  execInspect,
  execResize,
  execStart,
} from './api/exec.ts';
import type { StreamIO } from './api/hijack.ts';
import {
  type ImageInspect,
  type ImportOptions,
  imageExists,
  importImage,
  inspectImage,
  type PullOptions,
  type PushOptions,
  pullImage,
  pushImage,
  removeImage,
} from './api/images.ts';
import { containerLogs, type LogEntry, type LogOptions } from './api/logs.ts';
import { OomWitness } from './api/oom.ts';
import {
  createPod,
  inspectPod,
  killPod,
  type ListPodsOptions,
  listPods,
  type PodCreateSpec,
  type PodInspect,
  type PodSummary,
  removePod,
  startPod,
  stopPod,
} from './api/pods.ts';
import { hostRlimits, type Rlimit } from './api/rlimits.ts';
import { type ContainerStats, containerStats } from './api/stats.ts';
import { info, type PodmanInfo, type PodmanVersion, ping, version } from './api/system.ts';
import { type PodmanEndpoint, PodmanTransport, parsePodmanEndpoint } from './api/transport.ts';

export type {
  ContainerCreateSpec,
  ContainerInspect,
  ContainerMountSpec,
  ContainerNetwork,
  ContainerState,
  ContainerSummary,
  ListContainersOptions,
  RemoveContainerOptions,
  WaitCondition,
} from './api/containers.ts';
export {
  ImagePullError,
  type ImagePullFailure,
  isPodmanUnavailable,
  PodmanError,
  PodmanUnavailableError,
} from './api/errors.ts';
export type { EventFilters, EventsOptions, PodmanEvent } from './api/events.ts';
export {
  type AttachOptions,
  EXEC_DETACH_KEYS,
  type ExecCreateOptions,
  type ExecInspect,
  type ExecStartOptions,
} from './api/exec.ts';
export type { StreamIO } from './api/hijack.ts';
export type { ImageInspect, ImportOptions, PullOptions, PushOptions, RegistryCredentials } from './api/images.ts';
export type { LogEntry, LogOptions } from './api/logs.ts';
export type { ListPodsOptions, PodCreateSpec, PodInspect, PodSummary, PortMapping } from './api/pods.ts';
export { hostRlimits, normalizeRlimits, type Rlimit, runtimeErrorHint } from './api/rlimits.ts';
export type { ContainerStats } from './api/stats.ts';
export type { PodmanInfo, PodmanVersion } from './api/system.ts';
export { type PodmanEndpoint, parsePodmanEndpoint } from './api/transport.ts';

export interface PodmanClientOptions {
  /** Most pooled connections for ordinary requests (streams and exec have their own). Default 32. */
  maxSockets?: number;
  /** Give up on an ordinary request when no byte arrives for this long. Default 120 000 ms. */
  requestTimeoutMs?: number;
  /**
   * rlimits added to every created container that does not set them: a list, or `host` for
   * nofile/nproc at this process's hard limits (right when the service runs on this host with
   * the same limits). Default: none — Podman's defaults apply (see ./api/rlimits.ts).
   */
  defaultRlimits?: readonly Rlimit[] | 'host' | undefined;
  /**
   * Read containers' cgroups for the memory working set in {@link PodmanClient.containerStats},
   * and the host's own records of OOM kills when Podman does not report one (./api/oom.ts).
   * Default: true for a unix socket (the service is on this host), false for TCP.
   */
  readCgroups?: boolean;
}

/** An exec run to completion by {@link PodmanClient.exec}. */
export interface ExecOptions
  extends Omit<ExecCreateOptions, 'attachStdin' | 'attachStdout' | 'attachStderr' | 'signal'> {
  io: Omit<StreamIO, 'tty'>;
  size?: { h: number; w: number } | undefined;
  /** Called with the exec ID once the session is created, before it starts (to resize it while it runs). */
  onCreated?: (execId: string) => void;
  signal?: AbortSignal | undefined;
}

const CGROUP_CACHE_LIMIT = 4096;

export class PodmanClient {
  readonly #transport: PodmanTransport;
  readonly #defaultRlimits: readonly Rlimit[] | undefined;
  readonly #readCgroups: boolean;
  /** Container ID → cgroup path; a container's cgroup never moves. */
  readonly #cgroupPaths = new Map<string, string>();
  /** Asked about exited containers when Podman says they were not OOM-killed; only with readCgroups. */
  readonly #oom: OomWitness | undefined;

  /**
   * @param address a socket path, `unix:///run/podman/podman.sock`, `tcp://host:port` or
   *   `http://host:port`, or a parsed endpoint.
   */
  constructor(address: string | PodmanEndpoint, options: PodmanClientOptions = {}) {
    const endpoint = typeof address === 'string' ? parsePodmanEndpoint(address) : address;
    this.#transport = new PodmanTransport(endpoint, {
      ...(options.maxSockets === undefined ? {} : { maxSockets: options.maxSockets }),
      ...(options.requestTimeoutMs === undefined ? {} : { idleTimeoutMs: options.requestTimeoutMs }),
    });
    this.#defaultRlimits = options.defaultRlimits === 'host' ? hostRlimits() : options.defaultRlimits;
    this.#readCgroups = options.readCgroups ?? endpoint.socketPath !== undefined;
    this.#oom = this.#readCgroups ? new OomWitness() : undefined;
  }

  /** Where the service is, e.g. `unix:///run/podman/podman.sock`. */
  get endpoint(): string {
    return this.#transport.description;
  }

  /** Closes pooled connections. Streams in progress end on their own or by their signals. */
  close(): void {
    this.#transport.close();
    this.#oom?.close();
  }

  // System

  /** Resolves when the service answers; a PodmanUnavailableError when it does not. */
  ping(signal?: AbortSignal): Promise<void> {
    return ping(this.#transport, signal);
  }

  info(signal?: AbortSignal): Promise<PodmanInfo> {
    return info(this.#transport, signal);
  }

  version(signal?: AbortSignal): Promise<PodmanVersion> {
    return version(this.#transport, signal);
  }

  /**
   * Creates, starts and removes a throwaway pod (and, given an image, a container in it that
   * runs `true`), so a misconfigured host fails here with an explanation (rlimits, crun, a
   * missing infra image) rather than on the first real pod. With `container`, a container like
   * ours — that OCI runtime, those rlimits — is started in the pod from its infra image, which
   * every host that can make a pod has, so no image needs to be pulled for the check.
   */
  async checkRuntime(
    options: { image?: string; container?: { runtime: string; rlimits: Rlimit[] }; signal?: AbortSignal } = {},
  ): Promise<void> {
    const name = `vk-runtime-check-${process.pid}-${Date.now().toString(36)}`;
    const { signal } = options;
    await this.createPod({ name, labels: { 'io.virtual-kubelet.runtime-check': 'true' } }, signal);
    try {
      await this.startPod(name, signal);
      if (options.container) {
        const pod = await this.inspectPod(name, signal);
        if (pod.infraContainerId) {
          const infra = await this.inspectContainer(pod.infraContainerId, signal);
          const id = await this.createContainer(
            {
              name: `${name}-like-ours`,
              pod: name,
              image: infra.image,
              oci_runtime: options.container.runtime,
              r_limits: options.container.rlimits,
              restart_policy: 'no',
            },
            signal,
          );
          await this.startContainer(id, signal);
        }
      }
      if (options.image) {
        const id = await this.createContainer(
          {
            name: `${name}-probe`,
            pod: name,
            image: options.image,
            entrypoint: ['true'],
            restart_policy: 'no',
          },
          signal,
        );
        await this.startContainer(id, signal);
        const code = await this.waitContainer(id, { signal });
        if (code !== 0) {
          const state = await this.inspectContainer(id, signal);
          throw new PodmanError(
            0,
            'runtime check failed',
            `a test container (${options.image}) exited with ${code}${state.state.error ? `: ${state.state.error}` : ''}`,
          );
        }
      }
    } finally {
      await this.removePod(name, true, { timeoutSeconds: 0 }).catch(() => {});
    }
  }

  // Images

  imageExists(reference: string, signal?: AbortSignal): Promise<boolean> {
    return imageExists(this.#transport, reference, signal);
  }

  /**
   * Pulls an image and resolves with its ID; a failure is an ImagePullError whose message holds
   * the registry's words (surface it as `ErrImagePull`).
   */
  pullImage(reference: string, options: PullOptions = {}): Promise<string> {
    return pullImage(this.#transport, reference, options);
  }

  /** The image's defaults for a container (entrypoint, cmd, working dir, user, exposed ports…). */
  inspectImage(reference: string, signal?: AbortSignal): Promise<ImageInspect> {
    return inspectImage(this.#transport, reference, signal);
  }

  /** Imports a root filesystem tarball as an image; resolves with its ID. */
  importImage(tarball: Buffer | Readable, options: ImportOptions): Promise<string> {
    return importImage(this.#transport, tarball, options);
  }

  pushImage(reference: string, options: PushOptions = {}): Promise<void> {
    return pushImage(this.#transport, reference, options);
  }

  removeImage(reference: string, options: { force?: boolean; signal?: AbortSignal } = {}): Promise<void> {
    return removeImage(this.#transport, reference, options);
  }

  // Pods

  /** Creates a pod (with an infra container, bridge networking, no published ports) and resolves with its ID. */
  createPod(spec: PodCreateSpec, signal?: AbortSignal): Promise<string> {
    return createPod(this.#transport, spec, signal);
  }

  /** Starts the pod (its infra container, and any created containers). OCI runtime errors come with a hint. */
  async startPod(name: string, signal?: AbortSignal): Promise<void> {
    try {
      await startPod(this.#transport, name, signal);
    } catch (error) {
      throw withRuntimeHint(error);
    }
  }

  /** Stops all of the pod's containers: stop signal, then SIGKILL after `timeoutSeconds` (at least 1). */
  stopPod(name: string, timeoutSeconds: number, signal?: AbortSignal): Promise<void> {
    return stopPod(this.#transport, name, timeoutSeconds, signal);
  }

  /** Signals all running containers of the pod (default SIGKILL); none running is fine. */
  killPod(name: string, killSignal = 'SIGKILL', signal?: AbortSignal): Promise<void> {
    return killPod(this.#transport, name, killSignal, signal);
  }

  /**
   * Removes the pod and its containers; `force` stops running ones first, giving each its stop
   * timeout (10 s unless the container set `stop_timeout`) or `timeoutSeconds`.
   */
  removePod(
    name: string,
    force = false,
    options: { timeoutSeconds?: number; signal?: AbortSignal | undefined } = {},
  ): Promise<void> {
    return removePod(this.#transport, name, { force, ...options });
  }

  inspectPod(name: string, signal?: AbortSignal): Promise<PodInspect> {
    return inspectPod(this.#transport, name, signal);
  }

  listPods(options: ListPodsOptions = {}): Promise<PodSummary[]> {
    return listPods(this.#transport, options);
  }

  /**
   * The pod's IP address on its (first) network, from its infra container; undefined while the
   * pod is not running or has no network of its own.
   *
   * As root with netavark, that address is on a host bridge (`podman0`, 10.88.0.0/16 for the
   * default network) that the host routes to, so the host reaches any port of the pod at
   * `podIP:port` — which is how port-forwarding gets into the pod's network namespace.
   */
  async podIP(podName: string, signal?: AbortSignal): Promise<string | undefined> {
    const pod = await this.inspectPod(podName, signal);
    if (!pod.infraContainerId) return undefined;
    const infra = await this.inspectContainer(pod.infraContainerId, signal);
    if (!infra.state.running) return undefined;
    return infra.ipAddress || undefined;
  }

  /**
   * A TCP connection from this host to `port` in the pod's network namespace (see {@link podIP});
   * for `kubectl port-forward`. Only meaningful when the service runs on this host.
   */
  async connectToPod(
    podName: string,
    port: number,
    options: { signal?: AbortSignal; timeoutMs?: number } = {},
  ): Promise<Socket> {
    const ip = await this.podIP(podName, options.signal);
    if (!ip)
      throw new NotFoundError(`pod "${podName}" has no IP address: it is not running or has no network of its own`);
    return new Promise<Socket>((resolve, reject) => {
      const socket = connect({ host: ip, port, ...(options.signal ? { signal: options.signal } : {}) });
      const timer = setTimeout(() => {
        socket.destroy(new Error(`connecting to ${ip}:${port} in pod "${podName}" timed out`));
      }, options.timeoutMs ?? 10_000);
      socket.once('connect', () => {
        clearTimeout(timer);
        socket.off('error', reject);
        resolve(socket);
      });
      socket.once('error', (error) => {
        clearTimeout(timer);
        reject(error);
      });
    });
  }

  // Containers

  /** Creates a container (not started) and resolves with its ID. */
  createContainer(spec: ContainerCreateSpec, signal?: AbortSignal): Promise<string> {
    return createContainer(this.#transport, spec, this.#defaultRlimits, signal);
  }

  /** Starts a container; already running is fine. OCI runtime errors come with a hint. */
  startContainer(id: string, signal?: AbortSignal): Promise<void> {
    return startContainer(this.#transport, id, signal);
  }

  /** Stop signal, then SIGKILL after `timeoutSeconds` (0: at once); already stopped is fine. */
  stopContainer(id: string, timeoutSeconds: number, signal?: AbortSignal): Promise<void> {
    return stopContainer(this.#transport, id, timeoutSeconds, signal);
  }

  /** Sends a signal (default SIGKILL); a container that is not running is fine. */
  killContainer(id: string, killSignal: string | number = 'SIGKILL', signal?: AbortSignal): Promise<void> {
    return killContainer(this.#transport, id, killSignal, signal);
  }

  async removeContainer(id: string, options: RemoveContainerOptions = {}): Promise<void> {
    await removeContainer(this.#transport, id, options);
    this.#cgroupPaths.delete(id);
  }

  /**
   * The container's configuration and state. For a local service, `state.oomKilled` of a
   * container that exited non-zero is also true when the host recorded an OOM kill in it and
   * Podman did not say (see ./api/oom.ts).
   */
  async inspectContainer(id: string, signal?: AbortSignal): Promise<ContainerInspect> {
    const container = await inspectContainer(this.#transport, id, signal);
    if (container.cgroupPath) this.#rememberCgroup(container.id, container.cgroupPath);
    const { state } = container;
    const exited = !state.running && (state.status === 'exited' || state.status === 'stopped');
    if (this.#oom && exited && state.exitCode !== 0 && !state.oomKilled) {
      const cgroupPath = container.cgroupPath || this.#cgroupPaths.get(container.id);
      state.oomKilled = await this.#oom.wasOomKilled(container.id, cgroupPath);
    }
    return container;
  }

  /** Containers (all states by default), optionally only those with the given labels or pod. */
  listContainers(options: ListContainersOptions = {}): Promise<ContainerSummary[]> {
    return listContainers(this.#transport, options);
  }

  /** Waits for the container to stop (or reach `conditions`) and resolves with its exit code. */
  waitContainer(
    id: string,
    options: { conditions?: WaitCondition[]; intervalMs?: number; signal?: AbortSignal | undefined } = {},
  ): Promise<number> {
    return waitContainer(this.#transport, id, options);
  }

  resizeContainer(id: string, size: { h: number; w: number }, signal?: AbortSignal): Promise<void> {
    return resizeContainer(this.#transport, id, size, signal);
  }

  /** The container's log lines with their times; see ./api/logs.ts for what Podman provides. */
  containerLogs(id: string, options: LogOptions = {}): AsyncGenerator<LogEntry> {
    return containerLogs(this.#transport, id, options);
  }

  // Exec and attach

  execCreate(containerId: string, options: ExecCreateOptions): Promise<string> {
    return execCreate(this.#transport, containerId, options);
  }

  /** Starts an exec session and pumps its streams; resolves when the process has ended. */
  execStart(execId: string, options: ExecStartOptions): Promise<void> {
    return execStart(this.#transport, execId, options);
  }

  execResize(execId: string, size: { h: number; w: number }, signal?: AbortSignal): Promise<void> {
    return execResize(this.#transport, execId, size, signal);
  }

  execInspect(execId: string, signal?: AbortSignal): Promise<ExecInspect> {
    return execInspect(this.#transport, execId, signal);
  }

  /** Runs a command in a container to completion and resolves with its exit code. */
  async exec(containerId: string, options: ExecOptions): Promise<number> {
    const { io, size, onCreated, signal, ...create } = options;
    const tty = create.tty ?? false;
    const execId = await this.execCreate(containerId, {
      ...create,
      tty,
      attachStdin: io.stdin !== undefined,
      // Podman refuses a session that attaches no stream; stdout is then read and dropped.
      attachStdout: io.stdout !== undefined || (io.stdin === undefined && io.stderr === undefined),
      attachStderr: io.stderr !== undefined && !tty,
      signal,
    });
    onCreated?.(execId);
    await this.execStart(execId, { ...io, tty, size, signal });
    const session = await this.execInspect(execId, signal);
    return session.exitCode;
  }

  /** Attaches to a container's main process; resolves when it ends or the connection closes. */
  attachContainer(id: string, options: AttachOptions): Promise<void> {
    return attachContainer(this.#transport, id, options);
  }

  // Stats and events

  /**
   * One usage sample per running container in `ids`; gone or stopped ones are left out.
   * Units and Podman's quirks: ./api/stats.ts.
   */
  containerStats(ids: readonly string[], options: { signal?: AbortSignal } = {}): Promise<ContainerStats[]> {
    return containerStats(this.#transport, ids, {
      signal: options.signal,
      cgroups: this.#readCgroups ? { cgroupPath: (id) => this.#cgroupPath(id, options.signal) } : undefined,
    });
  }

  /** Podman's events as they happen; see ./api/events.ts. */
  events(options: EventsOptions = {}): AsyncGenerator<PodmanEvent> {
    return events(this.#transport, options);
  }

  async #cgroupPath(id: string, signal?: AbortSignal): Promise<string | undefined> {
    const known = this.#cgroupPaths.get(id);
    if (known) return known;
    try {
      return (await this.inspectContainer(id, signal)).cgroupPath || undefined;
    } catch {
      return undefined;
    }
  }

  #rememberCgroup(id: string, path: string): void {
    if (this.#cgroupPaths.size >= CGROUP_CACHE_LIMIT) {
      const oldest = this.#cgroupPaths.keys().next().value;
      if (oldest !== undefined) this.#cgroupPaths.delete(oldest);
    }
    this.#cgroupPaths.set(id, path);
  }
}
