/**
 * The mock provider: runs nothing, reports everything. Pods are Running and Ready the moment they
 * are created, with the Go mock's addresses (hostIP 1.2.3.4, podIP 5.6.7.8) and reason strings,
 * so tooling written against the Go implementation behaves the same. It is the provider for
 * tests and benchmarks: safe under concurrency, a few hundred bytes per pod, and it records every
 * call so tests can count them.
 *
 * Pod annotations steer it, for tests:
 * - `mock.virtual-kubelet.io/create-error: <message>` — createPod fails with that message;
 * - `mock.virtual-kubelet.io/termination-seconds: <n>` — after deletePod, containers keep running
 *   for n seconds (at most the grace period) before they report terminated.
 */
import { appendFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import type { Duplex, Readable } from 'node:stream';
import type { Container, ContainerStatus, EnvVar, Node, Pod, PodStatus } from 'kubernetes-types/core/v1.js';
import { InvalidInputError, NotFoundError } from '../../errors.ts';
import { objectKey } from '../../kube/resources.ts';
import { kubeTime } from '../../kube/time.ts';
import {
  type AttachIO,
  type ContainerAttachProvider,
  type ContainerExecProvider,
  type ContainerLogOptions,
  type ContainerLogsProvider,
  gracePeriodSeconds,
  type NodeConfigurer,
  type NodeProvider,
  type PodIPAllocator,
  type PodLifecycleHandler,
  type PodNotifier,
  type PortForwardProvider,
  type ProviderCallOptions,
  podKey,
  type StatsProvider,
  type StatsSummary,
  type TerminalSize,
} from '../../provider/index.ts';
import { type MockFiles, runCommand } from './commands.ts';
import type { MockConfig } from './config.ts';
import { mockLogStream } from './logs.ts';
import { MockStateFile } from './state-file.ts';
import { mockStatsSummary } from './stats.ts';

export const MOCK_HOST_IP = '1.2.3.4';
export const MOCK_POD_IP = '5.6.7.8';
export const CREATE_ERROR_ANNOTATION = 'mock.virtual-kubelet.io/create-error';
export const TERMINATION_SECONDS_ANNOTATION = 'mock.virtual-kubelet.io/termination-seconds';

/** One recorded provider call. */
export interface MockCall {
  method:
    | 'createPod'
    | 'updatePod'
    | 'deletePod'
    | 'getPod'
    | 'getPodStatus'
    | 'getPods'
    | 'allocatePodIPs'
    | 'getContainerLogs'
    | 'runInContainer'
    | 'attachToContainer'
    | 'portForward'
    | 'resize';
  pod?: string;
  at: number;
  /** For exec: the command; for resize: the size; for port-forward: the port. */
  detail?: unknown;
}

/** The parts of a container the mock keeps: enough to report status and for tests to inspect the environment. */
type SlimContainer = Pick<Container, 'name' | 'image' | 'command' | 'args' | 'env'>;

/** How many of the latest calls the mock keeps in memory. */
const MAX_KEPT_CALLS = 10_000;

function isPlainValue(variable: EnvVar): boolean {
  return variable.valueFrom === undefined && typeof variable.value === 'string';
}

function slimContainers(containers: Container[] | undefined): SlimContainer[] {
  return (containers ?? []).map((c) => {
    const slim: SlimContainer = { name: c.name };
    if (c.image !== undefined) slim.image = c.image;
    if (c.command) slim.command = c.command;
    if (c.args) slim.args = c.args;
    // A resolved environment is plain name/value pairs, most of them the service links' frozen
    // variables shared by every pod: kept as given instead of copied (8 objects a pod in a burst).
    if (c.env)
      slim.env = c.env.every(isPlainValue) ? c.env : c.env.map((e) => ({ name: e.name, value: e.value ?? '' }));
    return slim;
  });
}

/**
 * A small copy of the pod as the provider keeps it: its own objects, apart from the environment's
 * name/value pairs, which nothing changes.
 */
function slimPod(pod: Pod, status: PodStatus): Pod {
  const m = pod.metadata ?? {};
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: m.name ?? '',
      namespace: m.namespace ?? '',
      uid: m.uid ?? '',
      ...(m.labels ? { labels: { ...m.labels } } : {}),
      ...(m.annotations ? { annotations: { ...m.annotations } } : {}),
      ...(m.deletionTimestamp ? { deletionTimestamp: m.deletionTimestamp } : {}),
    },
    spec: {
      containers: slimContainers(pod.spec?.containers) as Container[],
      ...(pod.spec?.initContainers ? { initContainers: slimContainers(pod.spec.initContainers) as Container[] } : {}),
      ...(pod.spec?.restartPolicy ? { restartPolicy: pod.spec.restartPolicy } : {}),
      ...(pod.spec?.nodeName ? { nodeName: pod.spec.nodeName } : {}),
    },
    status,
  };
}

function runningStatus(pod: Pod, now: string): PodStatus {
  const containerStatuses: ContainerStatus[] = (pod.spec?.containers ?? []).map((c) => ({
    name: c.name,
    image: c.image ?? '',
    imageID: '',
    ready: true,
    started: true,
    restartCount: 0,
    state: { running: { startedAt: now } },
  }));
  const initContainerStatuses: ContainerStatus[] = (pod.spec?.initContainers ?? []).map((c) => ({
    name: c.name,
    image: c.image ?? '',
    imageID: '',
    ready: true,
    started: false,
    restartCount: 0,
    state: { terminated: { exitCode: 0, reason: 'Completed', startedAt: now, finishedAt: now } },
  }));
  return {
    phase: 'Running',
    hostIP: MOCK_HOST_IP,
    podIP: MOCK_POD_IP,
    podIPs: [{ ip: MOCK_POD_IP }],
    startTime: now,
    conditions: [
      { type: 'PodScheduled', status: 'True', lastTransitionTime: now },
      { type: 'Initialized', status: 'True', lastTransitionTime: now },
      { type: 'ContainersReady', status: 'True', lastTransitionTime: now },
      { type: 'Ready', status: 'True', lastTransitionTime: now },
    ],
    containerStatuses,
    ...(initContainerStatuses.length > 0 ? { initContainerStatuses } : {}),
  };
}

function deletedStatus(status: PodStatus, now: string): PodStatus {
  return {
    ...status,
    phase: 'Succeeded',
    reason: 'MockProviderPodDeleted',
    conditions: (status.conditions ?? []).map((c) =>
      c.type === 'Ready' || c.type === 'ContainersReady' ? { ...c, status: 'False', lastTransitionTime: now } : c,
    ),
    containerStatuses: (status.containerStatuses ?? []).map((c) => ({
      ...c,
      ready: false,
      started: false,
      state: {
        terminated: {
          exitCode: 0,
          reason: 'MockProviderPodContainerDeleted',
          message: 'Mock provider terminated container upon deletion',
          startedAt: c.state?.running?.startedAt ?? c.state?.terminated?.startedAt ?? now,
          finishedAt: now,
        },
      },
    })),
  };
}

export interface MockProviderOptions {
  nodeName: string;
  config: MockConfig;
  operatingSystem?: string;
}

export class MockProvider
  implements
    PodLifecycleHandler,
    PodNotifier,
    NodeProvider,
    NodeConfigurer,
    PodIPAllocator,
    ContainerLogsProvider,
    ContainerExecProvider,
    ContainerAttachProvider,
    PortForwardProvider,
    StatsProvider
{
  readonly #options: MockProviderOptions;
  readonly #pods: Map<string, Pod>;
  /** Files written by `kubectl cp` (through `tar`), per pod. */
  readonly #files = new Map<string, MockFiles>();
  readonly #startedAt = new Date();
  readonly #terminations = new Map<string, NodeJS.Timeout>();
  #notify: (pod: Pod) => void = () => {};
  /** The journal behind `stateFile`, when one is configured. */
  readonly #state: MockStateFile | undefined;
  /**
   * The latest calls, in order (at most {@link MAX_KEPT_CALLS}; `counts` has the totals and the
   * `callLog` file every call). Kept for tests: a long run must not grow with them (a 30-minute
   * soak makes some 35 000, a few MB that the benchmark's RSS growth counted).
   */
  readonly calls: MockCall[] = [];
  /** Calls per method. */
  readonly counts: Record<MockCall['method'], number> = {
    createPod: 0,
    updatePod: 0,
    deletePod: 0,
    getPod: 0,
    getPodStatus: 0,
    getPods: 0,
    allocatePodIPs: 0,
    getContainerLogs: 0,
    runInContainer: 0,
    attachToContainer: 0,
    portForward: 0,
    resize: 0,
  };

  constructor(options: MockProviderOptions) {
    this.#options = options;
    this.#state = options.config.stateFile ? new MockStateFile(options.config.stateFile) : undefined;
    this.#pods = this.#state?.load() ?? new Map();
  }

  /** The pods the mock holds, by `namespace/name` (slim copies). */
  get pods(): ReadonlyMap<string, Pod> {
    return this.#pods;
  }

  #record(method: MockCall['method'], pod?: string, detail?: unknown): void {
    this.counts[method]++;
    const call: MockCall = {
      method,
      at: Date.now(),
      ...(pod ? { pod } : {}),
      ...(detail !== undefined ? { detail } : {}),
    };
    this.calls.push(call);
    if (this.calls.length > MAX_KEPT_CALLS) this.calls.splice(0, this.calls.length - MAX_KEPT_CALLS / 2);
    if (this.#options.config.callLog) appendFileSync(this.#options.config.callLog, `${JSON.stringify(call)}\n`);
  }

  /** Stores a created or changed pod; with a state file, on disk before the call returns. */
  #store(key: string, pod: Pod): void {
    this.#pods.set(key, pod);
    this.#state?.set(pod, this.#pods);
  }

  /** Forgets a pod; with a state file, on disk before the call returns. */
  #forget(key: string): void {
    this.#pods.delete(key);
    this.#state?.delete(key, this.#pods);
  }

  configureNode(node: Node): void {
    const { config, operatingSystem } = this.#options;
    const resources = { cpu: config.cpu, memory: config.memory, pods: config.pods, ...config.others };
    // kubernetes-types marks status read-only (the API server owns it); configureNode may set it.
    Object.assign(node, {
      status: {
        ...node.status,
        capacity: { ...resources },
        allocatable: { ...resources },
        nodeInfo: { ...node.status?.nodeInfo, operatingSystem: operatingSystem ?? 'linux' },
      },
    });
    node.metadata = {
      ...node.metadata,
      labels: {
        ...node.metadata?.labels,
        'alpha.service-controller.kubernetes.io/exclude-balancer': 'true',
        'node.kubernetes.io/exclude-from-external-load-balancers': 'true',
      },
    };
    if (config.providerID) node.spec = { ...node.spec, providerID: config.providerID };
  }

  async ping(options: ProviderCallOptions): Promise<void> {
    options.signal.throwIfAborted();
    const errorFile = this.#options.config.pingErrorFile;
    if (!errorFile) return;
    let message: string | undefined;
    try {
      message = (await readFile(errorFile, 'utf8')).trim();
    } catch {
      return; // no file: healthy
    }
    throw new Error(message || 'mock backend unavailable');
  }

  notifyNodeStatus(_callback: (node: Node) => void): void {}

  notifyPods(callback: (pod: Pod) => void): void {
    this.#notify = callback;
    // After a restart, report the state the pods are in now.
    for (const pod of this.#pods.values()) queueMicrotask(() => callback(pod));
  }

  async allocatePodIPs(pod: Pod, _options: ProviderCallOptions): Promise<string[]> {
    this.#record('allocatePodIPs', objectKey(pod));
    return [MOCK_POD_IP];
  }

  async createPod(pod: Pod, _options: ProviderCallOptions): Promise<void> {
    const key = objectKey(pod);
    this.#record('createPod', key);
    const failure = pod.metadata?.annotations?.[CREATE_ERROR_ANNOTATION];
    if (failure) throw new Error(failure);
    const stored = slimPod(pod, runningStatus(pod, kubeTime()));
    this.#store(key, stored);
    this.#notify(stored);
  }

  async updatePod(pod: Pod, _options: ProviderCallOptions): Promise<void> {
    const key = objectKey(pod);
    this.#record('updatePod', key);
    const existing = this.#pods.get(key);
    if (!existing) throw new NotFoundError(`pod "${key}" is not known to the provider`);
    const stored = slimPod(pod, existing.status ?? runningStatus(pod, kubeTime()));
    this.#store(key, stored);
    this.#notify(stored);
  }

  async deletePod(pod: Pod, _options: ProviderCallOptions): Promise<void> {
    const key = objectKey(pod);
    this.#record('deletePod', key);
    const existing = this.#pods.get(key);
    if (!existing) throw new NotFoundError(`pod "${key}" is not known to the provider`);
    if (this.#terminations.has(key)) return;
    const requested = Number(existing.metadata?.annotations?.[TERMINATION_SECONDS_ANNOTATION] ?? 0);
    const grace = gracePeriodSeconds(pod);
    const delaySeconds = Number.isFinite(requested) ? Math.max(0, Math.min(requested, grace)) : 0;
    const finish = () => {
      this.#terminations.delete(key);
      const current = this.#pods.get(key);
      if (!current) return;
      this.#forget(key);
      this.#files.delete(key);
      this.#notify({ ...current, status: deletedStatus(current.status ?? {}, kubeTime()) });
    };
    if (delaySeconds === 0) {
      finish();
      return;
    }
    const timer = setTimeout(finish, delaySeconds * 1000);
    timer.unref();
    this.#terminations.set(key, timer);
  }

  async getPod(namespace: string, name: string, _options: ProviderCallOptions): Promise<Pod | undefined> {
    const key = podKey(namespace, name);
    this.#record('getPod', key);
    return this.#pods.get(key);
  }

  async getPodStatus(namespace: string, name: string, _options: ProviderCallOptions): Promise<PodStatus | undefined> {
    const key = podKey(namespace, name);
    this.#record('getPodStatus', key);
    return this.#pods.get(key)?.status;
  }

  async getPods(_options: ProviderCallOptions): Promise<Pod[]> {
    this.#record('getPods');
    return [...this.#pods.values()];
  }

  /** The running container `name` of the pod, or NotFoundError. */
  #container(namespace: string, podName: string, name: string): { pod: Pod; startedAt: Date } {
    const key = `${namespace}/${podName}`;
    const pod = this.#pods.get(key);
    if (!pod) throw new NotFoundError(`pod "${key}" is not known to the provider`);
    const status = pod.status?.containerStatuses?.find((c) => c.name === name);
    const startedAt = status?.state?.running?.startedAt ?? status?.state?.terminated?.startedAt;
    if (!status || !startedAt) throw new NotFoundError(`container "${name}" is not running in pod "${key}"`);
    return { pod, startedAt: new Date(startedAt) };
  }

  async getContainerLogs(
    namespace: string,
    podName: string,
    containerName: string,
    logOptions: ContainerLogOptions,
    _options: ProviderCallOptions,
  ): Promise<Readable> {
    const key = `${namespace}/${podName}`;
    this.#record('getContainerLogs', key, containerName);
    const { startedAt } = this.#container(namespace, podName, containerName);
    if (logOptions.previous) {
      throw new InvalidInputError(`previous terminated container "${containerName}" in pod "${podName}" not found`);
    }
    return mockLogStream(key, containerName, startedAt, logOptions, () => this.#pods.has(key));
  }

  #filesOf(key: string): MockFiles {
    let files = this.#files.get(key);
    if (!files) {
      files = new Map();
      this.#files.set(key, files);
    }
    return files;
  }

  #watchResizes(key: string, io: AttachIO): (size: TerminalSize) => void {
    const record = (size: TerminalSize) => this.#record('resize', key, size);
    io.onResize(record);
    return record;
  }

  async runInContainer(
    namespace: string,
    podName: string,
    containerName: string,
    command: string[],
    io: AttachIO,
    options: ProviderCallOptions,
  ): Promise<number> {
    const key = `${namespace}/${podName}`;
    this.#record('runInContainer', key, command);
    this.#container(namespace, podName, containerName);
    this.#watchResizes(key, io);
    return runCommand(command, { io, files: this.#filesOf(key), signal: options.signal });
  }

  /** Attach behaves like `cat`: what the client types comes back. */
  async attachToContainer(
    namespace: string,
    podName: string,
    containerName: string,
    io: AttachIO,
    options: ProviderCallOptions,
  ): Promise<number> {
    const key = `${namespace}/${podName}`;
    this.#record('attachToContainer', key, containerName);
    this.#container(namespace, podName, containerName);
    this.#watchResizes(key, io);
    return runCommand(['cat'], { io, files: this.#filesOf(key), signal: options.signal });
  }

  /** Port-forward echoes: every byte sent to any port comes back. */
  async portForward(
    namespace: string,
    podName: string,
    port: number,
    stream: Duplex,
    options: ProviderCallOptions,
  ): Promise<void> {
    const key = `${namespace}/${podName}`;
    this.#record('portForward', key, port);
    if (!this.#pods.has(key)) throw new NotFoundError(`pod "${key}" is not known to the provider`);
    await new Promise<void>((resolve) => {
      const done = () => resolve();
      stream.on('end', () => stream.end());
      stream.on('close', done);
      stream.on('error', done);
      options.signal.addEventListener(
        'abort',
        () => {
          stream.destroy();
          done();
        },
        { once: true },
      );
      stream.pipe(stream, { end: false });
    });
  }

  async getStatsSummary(_options: ProviderCallOptions): Promise<StatsSummary> {
    return mockStatsSummary(this.#options.nodeName, this.#startedAt, this.#pods.values());
  }
}
