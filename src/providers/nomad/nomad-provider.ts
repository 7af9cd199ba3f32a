/**
 * The Nomad provider: each pod is one Nomad job (see job-spec.ts), its status comes from
 * Nomad's event stream, pushed to the controller as it changes, and the node is the Nomad
 * cluster's client nodes summed.
 *
 * State: one entry per pod with the job's allocations as Nomad last reported them. At start
 * (and after every break of the event stream) the entries are rebuilt from Nomad itself — the
 * jobs with our prefix whose Meta names this node — so a restarted virtual kubelet adopts its
 * jobs; registration with an index check means a job is never submitted twice.
 *
 * Deleting: the job is stopped (Nomad sends each task its kill signal and waits the pod's grace
 * period, `KillTimeout`); a shorter grace at deletion sends SIGKILL when it runs out. Once the
 * allocation has stopped, the job is purged and the pod forgotten.
 */
import { connect } from 'node:net';
import type { Duplex, Readable } from 'node:stream';
import type { Node, Pod, PodStatus } from 'kubernetes-types/core/v1.js';
import type { Logger } from 'pino';
import { errorMessage, InvalidInputError, NotFoundError } from '../../errors.ts';
import {
  type AttachIO,
  type ContainerLogOptions,
  gracePeriodSeconds,
  kubeTime,
  type PodStats,
  type Provider,
  type ProviderCallOptions,
  podKey,
  type StatsSummary,
} from '../../provider/index.ts';
import { Backoff } from '../../util/backoff.ts';
import { mapConcurrently } from '../../util/concurrency.ts';
import { sleep } from '../../util/sleep.ts';
import { isJobExists, NomadApiError, type NomadClient } from './api/client.ts';
import type { NomadAllocation, NomadEvent, NomadJob, NomadNode } from './api/types.ts';
import type { NomadConfig } from './config.ts';
import { jobFromPod, jobId, META_NAME, META_NAMESPACE, META_NODE, META_UID } from './job-spec.ts';
import { averageMhzPerCore, nodeCapacity, usableNodes } from './node-resources.ts';
import {
  allocationTerminal,
  currentAllocation,
  type PodShape,
  podShape,
  podStatusFromAllocation,
} from './pod-status.ts';
import { execInTask } from './task-exec.ts';
import { taskLogs } from './task-logs.ts';

/** Pods the node advertises per Nomad client node (the kubelet's default maximum). */
const PODS_PER_NOMAD_NODE = 110;
/** How often what other jobs hold on the nodes is read again (it costs a list of every allocation). */
const OTHERS_REFRESH_MS = 30_000;
/** How long getPods waits for the first sync with Nomad. */
const SYNC_WAIT_MS = 10_000;
/** Used until the nodes have said how fast their cores are. */
const FALLBACK_MHZ_PER_CORE = 1000;

interface PodEntry {
  namespace: string;
  name: string;
  uid: string;
  jobId: string;
  /** What getPod answers with (metadata and containers), without status. */
  pod: Pod;
  shape: PodShape;
  allocs: Map<string, NomadAllocation>;
  /** Why Nomad has not placed the allocation yet (a blocked evaluation). */
  pending: string | undefined;
  /** The job is registered (or adopted): Nomad has it. */
  registered: boolean;
  /** When it was registered here (a sync that listed the jobs earlier cannot have seen it). */
  registeredAt: number;
  /** Nomad was asked to stop the job. */
  stopping: boolean;
  killTimer: NodeJS.Timeout | undefined;
  purging: boolean;
  lastNotified: string | undefined;
}

export interface NomadProviderOptions {
  client: NomadClient;
  config: NomadConfig;
  nodeName: string;
  logger: Logger;
  /** Nodes read by the factory, to size the node before the first ping. */
  nodes?: NomadNode[];
}

/** Nomad's job validation errors: a job that can never run as written. */
function isRejection(error: unknown): boolean {
  if (!(error instanceof NomadApiError)) return false;
  if (error.statusCode === 400) return true;
  return (
    error.statusCode === 500 &&
    /validation failed|error occurred|invalid|unknown (driver|field)|must be|not allowed|unsupported/i.test(
      error.message,
    ) &&
    !/no cluster leader|rpc error|connection|timeout|permission denied/i.test(error.message)
  );
}

export class NomadProvider implements Provider {
  readonly #client: NomadClient;
  readonly #config: NomadConfig;
  readonly #nodeName: string;
  readonly #logger: Logger;
  readonly #entries = new Map<string, PodEntry>();
  readonly #byJob = new Map<string, PodEntry>();
  readonly #stop = new AbortController();
  readonly #cpuTotals = new Map<string, { at: number; total: number }>();
  #podCallback: ((pod: Pod) => void) | undefined;
  #nodeCallback: ((node: Node) => void) | undefined;
  #nodes: NomadNode[];
  #others: NomadAllocation[] = [];
  #othersReadAt = 0;
  #lastNodeJson: string | undefined;
  #mhzPerCore: number;
  #synced: Promise<void>;
  #resolveSynced: () => void = () => {};
  #watching: Promise<void> | undefined;
  #lastError: string | undefined;

  constructor(options: NomadProviderOptions) {
    this.#client = options.client;
    this.#config = options.config;
    this.#nodeName = options.nodeName;
    this.#logger = options.logger;
    this.#nodes = options.nodes ?? [];
    this.#mhzPerCore = options.config.mhzPerCore ?? averageMhzPerCore(this.#usableNodes()) ?? FALLBACK_MHZ_PER_CORE;
    this.#synced = new Promise((resolve) => {
      this.#resolveSynced = resolve;
    });
  }

  /** Starts following Nomad (the first sync adopts the jobs already there). */
  start(): void {
    this.#watching ??= this.#watch();
  }

  async close(): Promise<void> {
    this.#stop.abort();
    for (const entry of this.#entries.values()) clearTimeout(entry.killTimer);
    await this.#watching?.catch(() => {});
    this.#client.close();
  }

  // ── the pod lifecycle ────────────────────────────────────────────────────────────────────────

  async createPod(pod: Pod, options: ProviderCallOptions): Promise<void> {
    const namespace = pod.metadata?.namespace ?? 'default';
    const name = pod.metadata?.name ?? '';
    const uid = pod.metadata?.uid ?? '';
    const key = podKey(pod.metadata?.namespace ?? 'default', pod.metadata?.name ?? '');
    const existing = this.#entries.get(key);
    if (existing && existing.uid === uid && existing.registered) return;
    const job = jobFromPod(pod, { config: this.#config, nodeName: this.#nodeName, mhzPerCore: this.#mhzPerCore });
    if (existing && existing.uid !== uid) await this.#forget(existing, options.signal);
    const entry = existing ?? this.#track(namespace, name, uid, job, this.#podCopy(pod));
    for (let attempt = 0; ; attempt++) {
      try {
        const response = await this.#client.registerJob(job, { create: true, signal: options.signal });
        if (response.Warnings) this.#logger.debug({ job: job.ID, warnings: response.Warnings }, 'Nomad job warnings');
        entry.registered = true;
        entry.registeredAt = Date.now();
        this.#logger.debug({ pod: key, job: job.ID, eval: response.EvalID }, 'registered the Nomad job');
        return;
      } catch (error) {
        if (isRejection(error)) {
          this.#untrack(entry);
          // Nomad's multi-line error list, on one line for the pod's status message.
          const message = errorMessage(error).replace(/\s+/g, ' ').trim();
          throw new InvalidInputError(`Nomad rejected the job for this pod: ${message}`, { cause: error });
        }
        if (!isJobExists(error) || attempt > 0) throw error;
      }
      // The job is there already: ours from before a restart, or a stale one of an earlier pod.
      const found = await this.#client.job(job.ID, options.signal);
      if (found && found.Meta?.[META_UID] === uid && !found.Stop) {
        entry.registered = true;
        await this.#refreshAllocations(entry, options.signal);
        this.#logger.info({ pod: key, job: job.ID }, 'adopted the Nomad job already running this pod');
        return;
      }
      if (found) await this.#client.purgeJob(job.ID, options.signal);
    }
  }

  async updatePod(pod: Pod, options: ProviderCallOptions): Promise<void> {
    const entry = this.#entries.get(podKey(pod.metadata?.namespace ?? 'default', pod.metadata?.name ?? ''));
    if (!entry || entry.uid !== pod.metadata?.uid || entry.stopping) return;
    const images = (p: Pod) => (p.spec?.containers ?? []).map((c) => c.image).join('\n');
    if (images(entry.pod) === images(pod)) return;
    // A new image is a new version of the job: Nomad replaces the allocation.
    const job = jobFromPod(pod, { config: this.#config, nodeName: this.#nodeName, mhzPerCore: this.#mhzPerCore });
    await this.#client.registerJob(job, { create: false, signal: options.signal });
    entry.pod = this.#podCopy(pod);
    entry.shape = podShape(pod);
  }

  async deletePod(pod: Pod, options: ProviderCallOptions): Promise<void> {
    const key = podKey(pod.metadata?.namespace ?? 'default', pod.metadata?.name ?? '');
    const entry = this.#entries.get(key);
    if (!entry) {
      // Not known here (yet): whatever job Nomad has for this pod goes.
      const id = jobId(this.#config.jobPrefix, pod.metadata?.namespace ?? 'default', pod.metadata?.name ?? '');
      const found = await this.#client.job(id, options.signal);
      if (found && found.Meta?.[META_NODE] === this.#nodeName && found.Meta?.[META_UID] === pod.metadata?.uid) {
        await this.#client.purgeJob(id, options.signal);
      }
      return;
    }
    const current = currentAllocation([...entry.allocs.values()]);
    if (!current || allocationTerminal(current)) {
      await this.#purge(entry, options.signal);
      return;
    }
    if (!entry.stopping) {
      await this.#client.stopJob(entry.jobId, options.signal);
      entry.stopping = true;
      const grace = pod.metadata?.deletionGracePeriodSeconds ?? gracePeriodSeconds(pod);
      if (grace < gracePeriodSeconds(pod) || grace === 0) {
        entry.killTimer = setTimeout(() => void this.#kill(entry), grace * 1000);
        entry.killTimer.unref();
      }
    }
  }

  async getPod(namespace: string, name: string, options: ProviderCallOptions): Promise<Pod | undefined> {
    options.signal.throwIfAborted();
    const entry = this.#entries.get(`${namespace}/${name}`);
    if (!entry) return undefined;
    return { ...entry.pod, status: this.#status(entry) };
  }

  async getPodStatus(namespace: string, name: string, options: ProviderCallOptions): Promise<PodStatus | undefined> {
    options.signal.throwIfAborted();
    const entry = this.#entries.get(`${namespace}/${name}`);
    return entry ? this.#status(entry) : undefined;
  }

  async getPods(options: ProviderCallOptions): Promise<Pod[]> {
    this.start();
    // The first sync adopts what Nomad runs; a Nomad that does not answer soon is reported, and
    // pods created meanwhile are still never submitted twice (registration checks the index).
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        this.#synced,
        new Promise((_, reject) => {
          timer = setTimeout(
            () =>
              reject(
                new Error(`Nomad at ${this.#client.address} has not answered: ${this.#lastError ?? 'no answer yet'}`),
              ),
            SYNC_WAIT_MS,
          );
          options.signal.addEventListener('abort', () => reject(options.signal.reason), { once: true });
        }),
      ]);
    } finally {
      clearTimeout(timer);
    }
    return [...this.#entries.values()].map((entry) => ({ ...entry.pod, status: this.#status(entry) }));
  }

  notifyPods(callback: (pod: Pod) => void): void {
    this.#podCallback = callback;
    this.start();
  }

  // ── the node ─────────────────────────────────────────────────────────────────────────────────

  async ping(options: ProviderCallOptions): Promise<void> {
    const where = `Nomad at ${this.#client.address}`;
    let nodes: NomadNode[];
    try {
      const leader = await this.#client.leader(options.signal);
      if (!leader) throw new Error('No cluster leader');
      nodes = await this.#client.nodes(options.signal);
    } catch (error) {
      if (error instanceof NomadApiError && error.statusCode === 403) {
        throw new Error(`${where} refused the ACL token: ${error.message}`, { cause: error });
      }
      throw new Error(`${where}: ${errorMessage(error)}`, { cause: error });
    }
    this.#nodes = nodes;
    this.#mhzPerCore = this.#config.mhzPerCore ?? averageMhzPerCore(this.#usableNodes()) ?? this.#mhzPerCore;
    if (Date.now() - this.#othersReadAt > OTHERS_REFRESH_MS) {
      try {
        this.#others = (await this.#client.allAllocations(options.signal)).filter((a) => !this.#byJob.has(a.JobID));
        this.#othersReadAt = Date.now();
      } catch (error) {
        this.#logger.debug({ err: errorMessage(error) }, 'could not read the allocations of other jobs');
      }
    }
    if (this.#usableNodes().length === 0) {
      throw new Error(
        `${where} has no ready, eligible client node with a healthy ${this.#config.driver} driver in datacenters ${this.#config.datacenters.join(', ')}`,
      );
    }
    this.#publishNode();
  }

  notifyNodeStatus(callback: (node: Node) => void): void {
    this.#nodeCallback = callback;
  }

  configureNode(node: Node): void {
    const { capacity, allocatable } = this.#capacity();
    Object.assign(node, {
      metadata: {
        ...node.metadata,
        labels: { ...node.metadata?.labels, ...this.#labels() },
        annotations: {
          ...node.metadata?.annotations,
          'nomad.hashicorp.com/address': this.#client.address,
          'nomad.hashicorp.com/datacenters': this.#config.datacenters.join(','),
        },
      },
      status: { ...node.status, capacity, allocatable },
    });
  }

  #usableNodes(): NomadNode[] {
    return usableNodes(this.#nodes, {
      datacenters: this.#config.datacenters,
      nodePool: this.#config.nodePool,
      driver: this.#config.driver,
    });
  }

  #capacity() {
    return nodeCapacity(
      this.#usableNodes(),
      this.#others,
      this.#mhzPerCore,
      PODS_PER_NOMAD_NODE,
      this.#config.capacity,
    );
  }

  #labels(): Record<string, string> {
    const labels: Record<string, string> = { 'nomad.hashicorp.com/namespace': this.#config.namespace };
    const region = this.#config.region;
    if (region) {
      labels['topology.kubernetes.io/region'] = region;
      labels['nomad.hashicorp.com/region'] = region;
    }
    const [only] = this.#config.datacenters;
    if (this.#config.datacenters.length === 1 && only && !only.includes('*')) {
      labels['topology.kubernetes.io/zone'] = only;
      labels['nomad.hashicorp.com/datacenter'] = only;
    }
    return labels;
  }

  #publishNode(): void {
    const callback = this.#nodeCallback;
    if (!callback) return;
    const { capacity, allocatable, nodes } = this.#capacity();
    const node: Node = {
      metadata: {
        labels: this.#labels(),
        annotations: { 'nomad.hashicorp.com/client-nodes': String(nodes) },
      },
      status: { capacity, allocatable },
    };
    const json = JSON.stringify(node);
    if (json === this.#lastNodeJson) return;
    this.#lastNodeJson = json;
    callback(node);
  }

  // ── logs, exec, port-forward, stats ──────────────────────────────────────────────────────────

  #runningAllocation(namespace: string, podName: string, container: string): NomadAllocation {
    const entry = this.#entries.get(`${namespace}/${podName}`);
    if (!entry) throw new NotFoundError(`pod ${namespace}/${podName} is not running on Nomad`);
    const known = [...entry.shape.init, ...entry.shape.containers].some((c) => c.name === container);
    if (!known) throw new NotFoundError(`container ${container} is not in pod ${namespace}/${podName}`);
    const alloc = currentAllocation([...entry.allocs.values()]);
    if (!alloc) throw new NotFoundError(`pod ${namespace}/${podName} has no Nomad allocation yet`);
    return alloc;
  }

  async getContainerLogs(
    namespace: string,
    podName: string,
    containerName: string,
    logOptions: ContainerLogOptions,
    options: ProviderCallOptions,
  ): Promise<Readable> {
    const alloc = this.#runningAllocation(namespace, podName, containerName);
    return taskLogs(this.#client, alloc.ID, containerName, logOptions, options.signal);
  }

  async runInContainer(
    namespace: string,
    podName: string,
    containerName: string,
    command: string[],
    io: AttachIO,
    options: ProviderCallOptions,
  ): Promise<number | undefined> {
    const alloc = this.#runningAllocation(namespace, podName, containerName);
    if (alloc.TaskStates?.[containerName]?.State !== 'running') {
      throw new InvalidInputError(`container ${containerName} is not running`);
    }
    return execInTask(this.#client, alloc.ID, containerName, command, io, options.signal);
  }

  async portForward(
    namespace: string,
    podName: string,
    port: number,
    stream: Duplex,
    options: ProviderCallOptions,
  ): Promise<void> {
    const entry = this.#entries.get(`${namespace}/${podName}`);
    const alloc = entry ? currentAllocation([...entry.allocs.values()]) : undefined;
    const address = alloc?.NetworkStatus?.Address;
    if (!address) {
      throw new NotFoundError(
        `pod ${namespace}/${podName} has no allocation address to forward to (port-forward needs the group's bridge or CNI network)`,
      );
    }
    // The allocation's address is reached directly: this works where the virtual kubelet can
    // route to the Nomad clients' bridges (same machine, or routed networks).
    await new Promise<void>((resolve, reject) => {
      const socket = connect({ host: address, port });
      const done = () => {
        socket.destroy();
        resolve();
      };
      options.signal.addEventListener('abort', done, { once: true });
      socket.once('connect', () => {
        stream.pipe(socket);
        socket.pipe(stream);
      });
      socket.once('error', (error) => {
        stream.destroy();
        reject(new Error(`port-forward to ${address}:${port}: ${error.message}`));
      });
      socket.once('close', done);
      stream.once('close', done);
    });
  }

  async getStatsSummary(options: ProviderCallOptions): Promise<StatsSummary> {
    const now = Date.now();
    const time = kubeTime(new Date(now));
    const pods: PodStats[] = [];
    const running = [...this.#entries.values()].flatMap((entry) => {
      const alloc = currentAllocation([...entry.allocs.values()]);
      return alloc && alloc.ClientStatus === 'running' ? [{ entry, alloc }] : [];
    });
    const seen = new Set<string>();
    await mapConcurrently(running, 8, async ({ entry, alloc }) => {
      let stats: Awaited<ReturnType<NomadClient['allocationStats']>>;
      try {
        stats = await this.#client.allocationStats(alloc.ID, options.signal);
      } catch {
        return; // stopped meanwhile, or its client is unreachable: not reported rather than zero
      }
      const containers = Object.entries(stats.Tasks ?? {}).map(([task, usage]) => {
        const key = `${alloc.ID}/${task}`;
        seen.add(key);
        const percent = usage.ResourceUsage?.CpuStats?.Percent ?? 0;
        const nanoCores = Math.round((percent / 100) * 1e9);
        // Nomad reports a rate; the Summary API also wants a cumulative counter, which
        // metrics-server derives rates from: the rate integrated over time between scrapes.
        const previous = this.#cpuTotals.get(key);
        const total = previous ? previous.total + (nanoCores * (now - previous.at)) / 1000 : 0;
        this.#cpuTotals.set(key, { at: now, total });
        const memory = usage.ResourceUsage?.MemoryStats;
        const usageBytes = memory?.Usage || memory?.RSS || 0;
        const workingSet = Math.max(0, usageBytes - (memory?.Cache ?? 0)) || usageBytes;
        const startedAt = alloc.TaskStates?.[task]?.StartedAt;
        return {
          name: task,
          startTime: startedAt && !startedAt.startsWith('0001-') ? kubeTime(new Date(startedAt)) : time,
          cpu: { time, usageNanoCores: nanoCores, usageCoreNanoSeconds: Math.round(total) },
          memory: {
            time,
            usageBytes,
            workingSetBytes: workingSet,
            ...(memory?.RSS ? { rssBytes: memory.RSS } : {}),
          },
        };
      });
      const sum = (pick: (c: (typeof containers)[number]) => number) => containers.reduce((n, c) => n + pick(c), 0);
      pods.push({
        podRef: { name: entry.name, namespace: entry.namespace, uid: entry.uid },
        startTime: kubeTime(new Date(Math.floor(alloc.CreateTime / 1e6))),
        containers,
        cpu: {
          time,
          usageNanoCores: sum((c) => c.cpu.usageNanoCores),
          usageCoreNanoSeconds: sum((c) => c.cpu.usageCoreNanoSeconds),
        },
        memory: {
          time,
          usageBytes: sum((c) => c.memory.usageBytes),
          workingSetBytes: sum((c) => c.memory.workingSetBytes),
        },
      });
    });
    for (const key of this.#cpuTotals.keys()) if (!seen.has(key)) this.#cpuTotals.delete(key);
    const nodeCpu = pods.reduce((n, p) => n + (p.cpu?.usageNanoCores ?? 0), 0);
    const nodeCpuTotal = pods.reduce((n, p) => n + (p.cpu?.usageCoreNanoSeconds ?? 0), 0);
    const nodeMemory = pods.reduce((n, p) => n + (p.memory?.workingSetBytes ?? 0), 0);
    return {
      node: {
        nodeName: this.#nodeName,
        startTime: time,
        cpu: { time, usageNanoCores: nodeCpu, usageCoreNanoSeconds: nodeCpuTotal },
        memory: { time, usageBytes: nodeMemory, workingSetBytes: nodeMemory },
      },
      pods,
    };
  }

  // ── entries and their status ─────────────────────────────────────────────────────────────────

  #podCopy(pod: Pod): Pod {
    return {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {
        name: pod.metadata?.name ?? '',
        namespace: pod.metadata?.namespace ?? 'default',
        uid: pod.metadata?.uid ?? '',
      },
      spec: {
        nodeName: this.#nodeName,
        restartPolicy: pod.spec?.restartPolicy ?? 'Always',
        ...(pod.spec?.initContainers?.length
          ? {
              initContainers: pod.spec.initContainers.map((c) => ({
                name: c.name,
                image: c.image ?? '',
                ...(c.restartPolicy ? { restartPolicy: c.restartPolicy } : {}),
              })),
            }
          : {}),
        containers: (pod.spec?.containers ?? []).map((c) => ({ name: c.name, image: c.image ?? '' })),
      },
    };
  }

  /** A pod as far as a job tells (for jobs adopted after a restart). */
  #podFromJob(job: NomadJob): Pod {
    const tasks = job.TaskGroups[0]?.Tasks ?? [];
    const image = (config: Record<string, unknown>) => (typeof config.image === 'string' ? config.image : '');
    const init = tasks.filter((t) => t.Lifecycle?.Hook === 'prestart');
    return this.#podCopy({
      metadata: {
        name: job.Meta?.[META_NAME] ?? '',
        namespace: job.Meta?.[META_NAMESPACE] ?? '',
        uid: job.Meta?.[META_UID] ?? '',
      },
      spec: {
        restartPolicy:
          job.Type === 'service'
            ? 'Always'
            : (job.TaskGroups[0]?.RestartPolicy?.Attempts ?? 0) > 0
              ? 'OnFailure'
              : 'Never',
        initContainers: init.map((t) => ({
          name: t.Name,
          image: image(t.Config),
          ...(t.Lifecycle?.Sidecar ? { restartPolicy: 'Always' } : {}),
        })),
        containers: tasks.filter((t) => !t.Lifecycle).map((t) => ({ name: t.Name, image: image(t.Config) })),
      },
    });
  }

  #track(namespace: string, name: string, uid: string, job: NomadJob, pod: Pod): PodEntry {
    const entry: PodEntry = {
      namespace,
      name,
      uid,
      jobId: job.ID,
      pod,
      shape: podShape(pod),
      allocs: new Map(),
      pending: undefined,
      registered: false,
      registeredAt: 0,
      stopping: false,
      killTimer: undefined,
      purging: false,
      lastNotified: undefined,
    };
    this.#entries.set(`${namespace}/${name}`, entry);
    this.#byJob.set(job.ID, entry);
    return entry;
  }

  #untrack(entry: PodEntry): void {
    clearTimeout(entry.killTimer);
    if (this.#entries.get(`${entry.namespace}/${entry.name}`) === entry) {
      this.#entries.delete(`${entry.namespace}/${entry.name}`);
    }
    if (this.#byJob.get(entry.jobId) === entry) this.#byJob.delete(entry.jobId);
  }

  async #forget(entry: PodEntry, signal: AbortSignal): Promise<void> {
    await this.#client.purgeJob(entry.jobId, signal);
    this.#untrack(entry);
  }

  #status(entry: PodEntry): PodStatus {
    return podStatusFromAllocation(entry.shape, currentAllocation([...entry.allocs.values()]), entry.pending);
  }

  #notify(entry: PodEntry): void {
    const callback = this.#podCallback;
    if (!callback || !this.#entries.has(`${entry.namespace}/${entry.name}`)) return;
    const status = this.#status(entry);
    const json = JSON.stringify(status);
    if (json === entry.lastNotified) return;
    entry.lastNotified = json;
    callback({ ...entry.pod, status });
  }

  async #kill(entry: PodEntry): Promise<void> {
    const alloc = currentAllocation([...entry.allocs.values()]);
    if (!alloc || allocationTerminal(alloc)) return;
    await Promise.all(
      Object.entries(alloc.TaskStates ?? {})
        .filter(([, state]) => state.State === 'running')
        .map(([task]) =>
          this.#client.signalTask(alloc.ID, task, 'SIGKILL', this.#stop.signal).catch((error) => {
            this.#logger.debug({ err: errorMessage(error), task }, 'could not send SIGKILL');
          }),
        ),
    );
  }

  async #purge(entry: PodEntry, signal: AbortSignal): Promise<void> {
    if (entry.purging) return;
    entry.purging = true;
    try {
      await this.#client.purgeJob(entry.jobId, signal);
      this.#untrack(entry);
      this.#logger.debug({ job: entry.jobId }, 'purged the Nomad job');
    } finally {
      entry.purging = false;
    }
  }

  async #refreshAllocations(entry: PodEntry, signal: AbortSignal): Promise<void> {
    const stubs = await this.#client.jobAllocations(entry.jobId, signal);
    entry.allocs = new Map(stubs.map((a) => [a.ID, a]));
    const current = currentAllocation(stubs);
    // List stubs lack the network status: the pod IP needs the whole allocation.
    if (current && !allocationTerminal(current)) {
      const full = await this.#client.allocation(current.ID, signal);
      if (full) entry.allocs.set(full.ID, full);
    }
  }

  /** Rebuilds the entries from Nomad; returns the index to follow events from. */
  async #sync(signal: AbortSignal): Promise<number> {
    const started = Date.now();
    const { jobs, index } = await this.#client.jobs(this.#config.jobPrefix, signal);
    const ours = jobs.filter((job) => job.Meta?.[META_NODE] === this.#nodeName && job.Meta?.[META_UID]);
    const live = new Set(ours.map((job) => job.ID));
    await mapConcurrently(ours, 8, async (stub) => {
      let entry = this.#byJob.get(stub.ID);
      if (!entry) {
        const job = await this.#client.job(stub.ID, signal);
        if (!job) return;
        const pod = this.#podFromJob(job);
        entry = this.#track(pod.metadata?.namespace ?? '', pod.metadata?.name ?? '', pod.metadata?.uid ?? '', job, pod);
        entry.registered = true;
      }
      entry.stopping ||= stub.Stop;
      await this.#refreshAllocations(entry, signal);
    });
    for (const entry of [...this.#entries.values()]) {
      // Gone from Nomad (purged by someone else): the pod has nothing left to run.
      if (entry.registered && entry.registeredAt < started && !live.has(entry.jobId)) this.#untrack(entry);
    }
    for (const entry of this.#entries.values()) {
      this.#notify(entry);
      void this.#purgeIfStopped(entry);
    }
    return index;
  }

  async #purgeIfStopped(entry: PodEntry): Promise<void> {
    if (!entry.stopping) return;
    const current = currentAllocation([...entry.allocs.values()]);
    if (current && !allocationTerminal(current)) return;
    try {
      await this.#purge(entry, this.#stop.signal);
    } catch (error) {
      this.#logger.debug({ err: errorMessage(error), job: entry.jobId }, 'could not purge the job yet');
    }
  }

  #onEvent(event: NomadEvent): void {
    if (event.Topic === 'Allocation' && event.Payload.Allocation) {
      const alloc = event.Payload.Allocation;
      const entry = this.#byJob.get(alloc.JobID);
      if (!entry) return;
      const known = entry.allocs.get(alloc.ID);
      if (known && known.ModifyIndex > alloc.ModifyIndex) return;
      entry.allocs.set(alloc.ID, alloc);
      entry.pending = undefined;
      this.#notify(entry);
      void this.#purgeIfStopped(entry);
      return;
    }
    if (event.Topic === 'Evaluation') {
      const evaluation = (event.Payload as { Evaluation?: EvaluationPayload }).Evaluation;
      const entry = evaluation ? this.#byJob.get(evaluation.JobID) : undefined;
      if (!entry || !evaluation || entry.allocs.size > 0) return;
      const failed = evaluation.FailedTGAllocs?.pod;
      // The evaluation that failed says why; the blocked one Nomad makes after it does not.
      if (failed) entry.pending = placementFailure(failed);
      else if (evaluation.Status === 'blocked') entry.pending ??= 'Nomad has not placed the allocation yet';
      else return;
      this.#notify(entry);
    }
  }

  async #watch(): Promise<void> {
    const signal = this.#stop.signal;
    const backoff = new Backoff({ initialMs: 500, maxMs: 10_000, jitter: 0.2 });
    while (!signal.aborted) {
      try {
        const index = await this.#sync(signal);
        this.#resolveSynced();
        backoff.reset();
        for await (const batch of this.#client.events(['Allocation:*', 'Evaluation:*'], index + 1, signal)) {
          for (const event of batch.events) this.#onEvent(event);
        }
      } catch (error) {
        if (signal.aborted) return;
        this.#lastError = errorMessage(error);
        const delay = backoff.next();
        if (backoff.failures <= 1 || backoff.failures % 10 === 0) {
          this.#logger.warn({ err: errorMessage(error), retryInMs: Math.round(delay) }, 'following Nomad failed');
        }
        await sleep(delay, signal).catch(() => {});
      }
    }
  }
}

interface EvaluationPayload {
  JobID: string;
  Status: string;
  FailedTGAllocs?: Record<string, PlacementMetrics> | null;
}

interface PlacementMetrics {
  NodesEvaluated?: number;
  NodesFiltered?: number;
  NodesExhausted?: number;
  DimensionExhausted?: Record<string, number> | null;
  ConstraintFiltered?: Record<string, number> | null;
  ClassFiltered?: Record<string, number> | null;
}

/** Nomad's reasons a placement failed, as one sentence. */
export function placementFailure(metrics: PlacementMetrics): string {
  const reasons = [
    ...Object.entries(metrics.DimensionExhausted ?? {}).map(([dimension, n]) => `${dimension} exhausted on ${n}`),
    ...Object.entries(metrics.ConstraintFiltered ?? {}).map(([constraint, n]) => `${constraint} filtered ${n}`),
  ];
  const evaluated = metrics.NodesEvaluated ?? 0;
  return `Nomad could not place the allocation (${evaluated} nodes evaluated${reasons.length ? `: ${reasons.join(', ')}` : ''})`;
}
