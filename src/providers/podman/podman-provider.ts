/**
 * The Podman provider: each Kubernetes pod is a Podman pod (one network namespace: its IP is the
 * pod IP) with the pod's containers in it, supervised by a {@link PodRuntime}. Status is pushed
 * from Podman's event stream (with a periodic resync in case events are missed), and the kubelet
 * API capabilities — logs, exec, attach, port-forward, stats — go to Podman's REST API.
 */
import { statfsSync } from 'node:fs';
import { freemem, totalmem } from 'node:os';
import type { Duplex, Readable } from 'node:stream';
import { PassThrough } from 'node:stream';
import type { Node, NodeCondition, Pod, PodStatus, Secret } from 'kubernetes-types/core/v1.js';
import type { Logger } from 'pino';
import { errorMessage, InvalidInputError, NotFoundError } from '../../errors.ts';
import type { KubeClient } from '../../kube/client.ts';
import type { EventRecorder } from '../../kube/events.ts';
import { parseQuantity } from '../../kube/quantity.ts';
import type { ResourceCache } from '../../kube/resource-cache.ts';
import { Pods, ServiceAccounts } from '../../kube/resources.ts';
import { kubeTime } from '../../kube/time.ts';
import {
  type AttachIO,
  type ContainerLogOptions,
  formatLogLine,
  type PodStats,
  type Provider,
  type ProviderCallOptions,
  type StatsSummary,
  type TerminalSize,
} from '../../provider/index.ts';
import { abortable, sleep } from '../../util/sleep.ts';
import type { PodmanConfig } from './config.ts';
import { LABEL_NAMESPACE, LABEL_NODE, LABEL_POD, LABEL_UID, podmanPodName } from './labels.ts';
import { PodRuntime } from './pod-runtime.ts';
import type { ExecIO, HostInfo, PodmanBackend } from './runtime-api.ts';
import type { VolumeSources } from './volume-files.ts';

export interface PodmanProviderOptions {
  backend: PodmanBackend;
  config: PodmanConfig;
  nodeName: string;
  internalIP: string;
  client: KubeClient;
  resources: ResourceCache;
  events: EventRecorder;
  logger: Logger;
  /** Aborted when the node stops: background work ends (as with {@link PodmanProvider.close}). */
  signal?: AbortSignal;
}

/** How often every running container is re-read, in case an event was missed. */
const RESYNC_MS = 30_000;

export class PodmanProvider implements Provider {
  readonly #options: PodmanProviderOptions;
  readonly #backend: PodmanBackend;
  readonly #runtimes = new Map<string, PodRuntime>();
  /** Podman pods of this node whose Kubernetes pod is gone: reported to getPods so they get deleted. */
  readonly #orphans = new Map<string, Pod>();
  readonly #stop = new AbortController();
  readonly #startedAt = new Date();
  #notify: (pod: Pod) => void = () => {};
  #nodeCallback: ((node: Node) => void) | undefined;
  #previousCpu = new Map<string, { at: number; nanoseconds: number }>();
  /** What limits the host can enforce, from Podman's host information (read at start and with the node status). */
  #cgroupControllers: string[] = [];
  #hostRead = false;
  #ready: Promise<void>;

  constructor(options: PodmanProviderOptions) {
    this.#options = options;
    this.#backend = options.backend;
    this.#ready = this.#adoptExisting();
    void this.#eventLoop();
    const resync = setInterval(() => void this.#resyncAll(), RESYNC_MS);
    resync.unref();
    this.#stop.signal.addEventListener('abort', () => clearInterval(resync), { once: true });
    options.resources.onChange((kind, namespace, name) => {
      if (kind === 'Service') return;
      for (const runtime of this.#runtimes.values()) {
        if (runtime.pod.metadata?.namespace !== namespace) continue;
        if (runtime.volumeDependencies().some((d) => d.kind === kind && d.name === name)) void runtime.refreshVolumes();
      }
    });
    // A stop while the factory still waited for Podman: the loops just started end at once.
    if (options.signal?.aborted) this.close();
    else options.signal?.addEventListener('abort', () => this.close(), { once: true });
  }

  /** Stops background work: adoption and event loops, resyncs, each pod's supervision. The containers keep running. */
  close(): void {
    this.#stop.abort();
    for (const runtime of this.#runtimes.values()) runtime.detach();
  }

  // ---------------------------------------------------------------------------------------------
  // Node

  configureNode(node: Node): void {
    const { capacity } = this.#options.config;
    const resources = {
      cpu: capacity.cpu ?? '4',
      memory: capacity.memory ?? '8Gi',
      pods: capacity.pods ?? '110',
      ...capacity,
    };
    Object.assign(node, {
      status: {
        ...node.status,
        capacity: { ...resources },
        allocatable: allocatable(resources, this.#options.config.reserved),
      },
    });
  }

  async ping(options: ProviderCallOptions): Promise<void> {
    try {
      await this.#backend.ping(options.signal);
    } catch (error) {
      throw new Error(`podman service unreachable at ${this.#options.config.url}: ${errorMessage(error)}`);
    }
  }

  notifyNodeStatus(callback: (node: Node) => void): void {
    this.#nodeCallback = callback;
    void this.#publishHost();
    const timer = setInterval(() => void this.#publishHost(), 30_000);
    timer.unref();
    this.#stop.signal.addEventListener('abort', () => clearInterval(timer), { once: true });
  }

  /** The host's description; its cgroup controllers are kept (they do not change while Podman runs). */
  async #readHost(): Promise<HostInfo | undefined> {
    try {
      const host = await this.#backend.hostInfo(this.#stop.signal);
      this.#cgroupControllers = host.cgroupControllers;
      this.#hostRead = true;
      return host;
    } catch {
      return undefined;
    }
  }

  /** Capacity from the host (unless configured) and pressure conditions, published to the node. */
  async #publishHost(): Promise<void> {
    const callback = this.#nodeCallback;
    if (!callback) return;
    const { capacity, reserved, stateDir } = this.#options.config;
    // Podman is asked only for what the config leaves out (or what an unreachable Podman left unread).
    const host = !capacity.cpu || !capacity.memory || !this.#hostRead ? await this.#readHost() : undefined;
    const cpus = capacity.cpu ?? (host ? String(host.cpus) : undefined);
    const memory = capacity.memory ?? (host ? String(host.memoryBytes) : undefined);
    if (!cpus || !memory) return; // unreachable: ping reports it
    const resources = { ...capacity, cpu: cpus, memory, pods: capacity.pods ?? '110' };
    const conditions: NodeCondition[] = [];
    const freeMemory = freemem() / totalmem();
    conditions.push(
      freeMemory < 0.05
        ? {
            type: 'MemoryPressure',
            status: 'True',
            reason: 'KubeletHasInsufficientMemory',
            message: 'available memory is below 5%',
          }
        : {
            type: 'MemoryPressure',
            status: 'False',
            reason: 'KubeletHasSufficientMemory',
            message: 'kubelet has sufficient memory available',
          },
    );
    let diskFree = 1;
    try {
      const fs = statfsSync(stateDir);
      diskFree = fs.bavail / fs.blocks;
    } catch {
      // The state directory does not exist yet: no pressure to report.
    }
    conditions.push(
      diskFree < 0.1
        ? {
            type: 'DiskPressure',
            status: 'True',
            reason: 'KubeletHasDiskPressure',
            message: 'free disk space is below 10%',
          }
        : {
            type: 'DiskPressure',
            status: 'False',
            reason: 'KubeletHasNoDiskPressure',
            message: 'kubelet has no disk pressure',
          },
    );
    callback({ status: { capacity: resources, allocatable: allocatable(resources, reserved), conditions } });
  }

  // ---------------------------------------------------------------------------------------------
  // Adoption and events

  /** Finds the Podman pods of this node left by an earlier run, and adopts those whose pod still exists. */
  async #adoptExisting(): Promise<void> {
    let pods: Awaited<ReturnType<PodmanBackend['listPods']>>;
    for (let attempt = 0; ; attempt++) {
      try {
        pods = await this.#backend.listPods({ [LABEL_NODE]: this.#options.nodeName }, this.#stop.signal);
        break;
      } catch (error) {
        if (this.#stop.signal.aborted) return;
        this.#options.logger.warn(
          { err: errorMessage(error) },
          'podman is not answering; will adopt its pods when it does',
        );
        await sleep(Math.min(10_000, 500 * 2 ** attempt), this.#stop.signal);
      }
    }
    await this.#readHost();
    for (const info of pods) {
      const namespace = info.labels[LABEL_NAMESPACE] ?? '';
      const name = info.labels[LABEL_POD] ?? '';
      const uid = info.labels[LABEL_UID] ?? '';
      const key = `${namespace}/${name}`;
      let apiPod: Pod | undefined;
      try {
        apiPod = await this.#options.client.get<Pod>(Pods, { namespace, name });
      } catch {
        apiPod = undefined;
      }
      if (apiPod?.metadata?.uid !== uid || apiPod.spec?.nodeName !== this.#options.nodeName) {
        this.#orphans.set(key, {
          metadata: { namespace, name, uid },
          spec: { nodeName: this.#options.nodeName, containers: [] },
        });
        continue;
      }
      const runtime = this.#runtime(apiPod);
      try {
        await runtime.adopt();
        this.#options.logger.info({ pod: key }, 'adopted a running podman pod');
      } catch (error) {
        this.#options.logger.warn({ pod: key, err: errorMessage(error) }, 'could not adopt a podman pod');
      }
    }
  }

  /** Podman's event stream → container exits reach their runtime at once; reconnects after outages. */
  async #eventLoop(): Promise<void> {
    const signal = this.#stop.signal;
    let failures = 0;
    while (!signal.aborted) {
      try {
        await this.#ready;
        for await (const event of this.#backend.events({ [LABEL_NODE]: this.#options.nodeName }, signal)) {
          failures = 0;
          if (event.status !== 'died' && event.status !== 'oom' && event.status !== 'stop') continue;
          const key = `${event.labels[LABEL_NAMESPACE]}/${event.labels[LABEL_POD]}`;
          const runtime = this.#runtimes.get(key);
          if (!runtime) continue;
          try {
            runtime.containerExited(await this.#backend.inspectContainer(event.id, signal));
          } catch {
            // Removed already: nothing to report.
          }
        }
      } catch (error) {
        if (signal.aborted) return;
        failures++;
        if (failures === 1)
          this.#options.logger.warn({ err: errorMessage(error) }, 'lost the podman event stream; reconnecting');
      }
      await sleep(Math.min(10_000, 250 * 2 ** Math.min(failures, 6)), signal);
      // Whatever happened while the stream was down is read back from Podman.
      await this.#resyncAll();
    }
  }

  async #resyncAll(): Promise<void> {
    for (const runtime of this.#runtimes.values()) {
      try {
        await runtime.resync();
      } catch {
        // Podman is down: the next round retries.
      }
    }
  }

  #runtime(pod: Pod): PodRuntime {
    const key = `${pod.metadata?.namespace}/${pod.metadata?.name}`;
    let runtime = this.#runtimes.get(key);
    if (runtime && runtime.pod.metadata?.uid === pod.metadata?.uid) return runtime;
    const o = this.#options;
    runtime = new PodRuntime(pod, {
      backend: this.#backend,
      config: o.config,
      nodeName: o.nodeName,
      volumeSources: (p) => this.#volumeSources(p),
      pullSecrets: (p) => this.#pullSecrets(p),
      events: (p) => (type, reason, message) => o.events.record(p, type, reason, message),
      notify: (p) => this.#notify(p),
      logger: o.logger,
      cgroupControllers: () => this.#cgroupControllers,
    });
    this.#runtimes.set(key, runtime);
    return runtime;
  }

  #volumeSources(pod: Pod): VolumeSources {
    const { resources, client, nodeName, internalIP } = this.#options;
    const namespace = pod.metadata?.namespace ?? '';
    return {
      getConfigMap: (ns, name) => resources.getConfigMap(ns, name),
      getSecret: (ns, name) => resources.getSecret(ns, name),
      serviceAccountToken: async (p, audience, expirationSeconds) => {
        const review = await client.createSubresource<{ status?: { token?: string } }>(
          ServiceAccounts,
          { namespace, name: p.spec?.serviceAccountName ?? 'default', subresource: 'token' },
          {
            apiVersion: 'authentication.k8s.io/v1',
            kind: 'TokenRequest',
            spec: {
              ...(audience ? { audiences: [audience] } : {}),
              expirationSeconds,
              boundObjectRef: { apiVersion: 'v1', kind: 'Pod', name: p.metadata?.name, uid: p.metadata?.uid },
            },
          },
        );
        if (!review.status?.token) throw new Error('TokenRequest returned no token');
        return review.status.token;
      },
      downward: { nodeName, hostIPs: [internalIP], podIPs: [] },
      nodeAllocatable: {},
    };
  }

  #pullSecrets(pod: Pod): Secret[] {
    const namespace = pod.metadata?.namespace ?? '';
    return (pod.spec?.imagePullSecrets ?? [])
      .map((ref) => this.#options.resources.getSecret(namespace, ref.name ?? ''))
      .filter((s): s is Secret => s !== undefined);
  }

  // ---------------------------------------------------------------------------------------------
  // Pod lifecycle

  notifyPods(callback: (pod: Pod) => void): void {
    this.#notify = callback;
  }

  /** Creates the pod's network namespace first, so status.podIP can be resolved in the environment. */
  async allocatePodIPs(pod: Pod, options: ProviderCallOptions): Promise<string[]> {
    await this.#ready;
    const name = podmanPodName(pod);
    try {
      return (await this.#backend.inspectPod(name, options.signal)).ips;
    } catch {
      // Not there yet.
    }
    await this.#backend.createPod(
      {
        name,
        labels: {
          [LABEL_NODE]: this.#options.nodeName,
          [LABEL_NAMESPACE]: pod.metadata?.namespace ?? '',
          [LABEL_POD]: pod.metadata?.name ?? '',
          [LABEL_UID]: pod.metadata?.uid ?? '',
        },
        hostname: pod.spec?.hostname ?? pod.metadata?.name ?? 'pod',
        network: this.#options.config.network,
      },
      options.signal,
    );
    await this.#backend.startPod(name, options.signal);
    return (await this.#backend.inspectPod(name, options.signal)).ips;
  }

  async createPod(pod: Pod, _options: ProviderCallOptions): Promise<void> {
    await this.#ready;
    await this.#namespacesReady(pod);
    const runtime = this.#runtime(pod);
    await runtime.start();
  }

  /** The ConfigMap and Secret caches the pod's volumes and pull secrets read. */
  async #namespacesReady(pod: Pod): Promise<void> {
    const namespace = pod.metadata?.namespace ?? '';
    const { resources } = this.#options;
    const volumes = pod.spec?.volumes ?? [];
    const needsConfigMaps = volumes.some((v) => v.configMap || v.projected?.sources?.some((s) => s.configMap));
    const needsSecrets =
      (pod.spec?.imagePullSecrets?.length ?? 0) > 0 ||
      volumes.some((v) => v.secret || v.projected?.sources?.some((s) => s.secret));
    await Promise.all([
      needsConfigMaps ? resources.ready('ConfigMap', namespace) : undefined,
      needsSecrets ? resources.ready('Secret', namespace) : undefined,
    ]);
  }

  async updatePod(pod: Pod, _options: ProviderCallOptions): Promise<void> {
    const runtime = this.#runtimes.get(`${pod.metadata?.namespace}/${pod.metadata?.name}`);
    if (!runtime)
      throw new NotFoundError(`pod ${pod.metadata?.namespace}/${pod.metadata?.name} is not running on this node`);
    // Labels, annotations and tolerations need nothing from Podman; an image change is applied
    // when the container next restarts.
  }

  async deletePod(pod: Pod, _options: ProviderCallOptions): Promise<void> {
    const key = `${pod.metadata?.namespace}/${pod.metadata?.name}`;
    const orphan = this.#orphans.get(key);
    if (orphan) {
      this.#orphans.delete(key);
      await this.#backend.removePod(podmanPodName(orphan)).catch(() => undefined);
      return;
    }
    const runtime = this.#runtimes.get(key);
    if (!runtime) throw new NotFoundError(`pod ${key} is not running on this node`);
    const grace = pod.metadata?.deletionGracePeriodSeconds ?? pod.spec?.terminationGracePeriodSeconds ?? 30;
    // Terminating can take the whole grace period: it runs on; the terminal status is pushed when done.
    void (async () => {
      await runtime.terminate(grace);
      await runtime.remove();
      if (this.#runtimes.get(key) === runtime) this.#runtimes.delete(key);
    })();
  }

  async getPod(namespace: string, name: string, _options: ProviderCallOptions): Promise<Pod | undefined> {
    const key = `${namespace}/${name}`;
    const runtime = this.#runtimes.get(key);
    if (runtime) return { ...runtime.pod, status: runtime.status() };
    return this.#orphans.get(key);
  }

  async getPodStatus(namespace: string, name: string, _options: ProviderCallOptions): Promise<PodStatus | undefined> {
    return this.#runtimes.get(`${namespace}/${name}`)?.status();
  }

  async getPods(options: ProviderCallOptions): Promise<Pod[]> {
    // Podman may not answer for a long time (the adoption loop waits for it): the caller's stop wins.
    await abortable(this.#ready, options.signal);
    options.signal.throwIfAborted();
    return [...[...this.#runtimes.values()].map((r) => ({ ...r.pod, status: r.status() })), ...this.#orphans.values()];
  }

  // ---------------------------------------------------------------------------------------------
  // Kubelet API capabilities

  #running(namespace: string, podName: string): PodRuntime {
    const runtime = this.#runtimes.get(`${namespace}/${podName}`);
    if (!runtime) throw new NotFoundError(`pod ${namespace}/${podName} is not running on this node`);
    return runtime;
  }

  #containerId(runtime: PodRuntime, container: string): string {
    const id = runtime.containerId(container);
    if (!id) throw new NotFoundError(`container "${container}" of pod ${runtime.key} has not been created yet`);
    return id;
  }

  async getContainerLogs(
    namespace: string,
    podName: string,
    containerName: string,
    logOptions: ContainerLogOptions,
    options: ProviderCallOptions,
  ): Promise<Readable> {
    const runtime = this.#running(namespace, podName);
    const status = runtime.status();
    const container = [...(status.containerStatuses ?? []), ...(status.initContainerStatuses ?? [])].find(
      (c) => c.name === containerName,
    );
    if (!container) throw new NotFoundError(`container "${containerName}" not found in pod ${runtime.key}`);
    // Podman keeps one log per container across restarts: an instance is the lines of its run.
    let since: Date | undefined;
    let until: Date | undefined;
    if (logOptions.previous) {
      const previous = container.lastState?.terminated;
      if (!previous) {
        throw new InvalidInputError(`previous terminated container "${containerName}" in pod "${podName}" not found`);
      }
      since = previous.startedAt ? new Date(previous.startedAt) : undefined;
      until = previous.finishedAt ? new Date(new Date(previous.finishedAt).getTime() + 1000) : undefined;
    } else {
      const started = container.state?.running?.startedAt ?? container.state?.terminated?.startedAt;
      since = started && container.restartCount > 0 ? new Date(started) : undefined;
    }
    const requestedSince =
      logOptions.sinceTime ??
      (logOptions.sinceSeconds !== undefined ? new Date(Date.now() - logOptions.sinceSeconds * 1000) : undefined);
    if (requestedSince && (!since || requestedSince > since)) since = requestedSince;
    const id = this.#containerId(runtime, containerName);
    const output = new PassThrough();
    const lines = this.#backend.logs(id, {
      follow: logOptions.follow && !logOptions.previous,
      ...(since ? { since } : {}),
      ...(logOptions.tailLines !== undefined ? { tail: logOptions.tailLines } : {}),
      signal: options.signal,
    });
    void (async () => {
      try {
        for await (const line of lines) {
          if (until && line.time > until) break;
          if (!output.write(formatLogLine(line, logOptions)))
            await new Promise((resolve) => output.once('drain', resolve));
        }
        output.end();
      } catch (error) {
        output.destroy(error instanceof Error ? error : new Error(String(error)));
      }
    })();
    return output;
  }

  #execIO(io: AttachIO): ExecIO {
    return { stdin: io.stdin, stdout: io.stdout, stderr: io.stderr, tty: io.tty };
  }

  #resizes(io: AttachIO): (resize: (width: number, height: number) => void) => void {
    return (resize) => io.onResize((size: TerminalSize) => resize(size.width, size.height));
  }

  async runInContainer(
    namespace: string,
    podName: string,
    containerName: string,
    command: string[],
    io: AttachIO,
    options: ProviderCallOptions,
  ): Promise<number> {
    const runtime = this.#running(namespace, podName);
    const id = this.#containerId(runtime, containerName);
    return this.#backend.exec(id, command, this.#execIO(io), { signal: options.signal, onResize: this.#resizes(io) });
  }

  async attachToContainer(
    namespace: string,
    podName: string,
    containerName: string,
    io: AttachIO,
    options: ProviderCallOptions,
  ): Promise<number | undefined> {
    const runtime = this.#running(namespace, podName);
    const id = this.#containerId(runtime, containerName);
    await this.#backend.attach(id, this.#execIO(io), { signal: options.signal, onResize: this.#resizes(io) });
    return undefined;
  }

  async portForward(
    namespace: string,
    podName: string,
    port: number,
    stream: Duplex,
    options: ProviderCallOptions,
  ): Promise<void> {
    const runtime = this.#running(namespace, podName);
    const connection = await this.#backend.connect(runtime.podName, port, options.signal);
    await new Promise<void>((resolve, reject) => {
      let done = false;
      const finish = (error?: unknown) => {
        if (done) return;
        done = true;
        connection.destroy();
        if (error) reject(error instanceof Error ? error : new Error(String(error)));
        else resolve();
      };
      stream.pipe(connection);
      connection.pipe(stream);
      connection.on('error', finish);
      connection.on('close', () => finish());
      stream.on('close', () => finish());
      options.signal.addEventListener('abort', () => finish(), { once: true });
    });
  }

  async getStatsSummary(options: ProviderCallOptions): Promise<StatsSummary> {
    const now = Date.now();
    const time = kubeTime(new Date(now));
    const pods: PodStats[] = [];
    let nodeCpu = 0;
    let nodeCpuRate = 0;
    let nodeMemory = 0;
    // One stats request for every running container of the node, not one per pod.
    const scraped = [...this.#runtimes.values()].map((runtime) => {
      const status = runtime.status();
      const running = (status.containerStatuses ?? []).flatMap((c) => {
        const id = c.state?.running ? runtime.containerId(c.name) : undefined;
        return id ? [{ status: c, id }] : [];
      });
      return { runtime, status, running };
    });
    const ids = scraped.flatMap((p) => p.running.map((c) => c.id));
    let usage: Awaited<ReturnType<PodmanBackend['stats']>> = [];
    try {
      // An empty list would mean every container on the host.
      if (ids.length > 0) usage = await this.#backend.stats(ids, options.signal);
    } catch {
      scraped.length = 0; // Podman is unreachable: no pod is reported rather than one with zero usage.
    }
    const usageById = new Map(usage.map((u) => [u.id, u]));
    const previousCpu = this.#previousCpu;
    this.#previousCpu = new Map();
    for (const { runtime, status, running } of scraped) {
      if (running.length === 0) continue;
      const containers = running.map(({ status: c, id }) => {
        const u = usageById.get(id) ?? usage.find((x) => id.startsWith(x.id) || x.id.startsWith(id));
        const cpu = u?.cpuNanoseconds ?? 0;
        const previous = previousCpu.get(id);
        const rate =
          previous && now > previous.at ? Math.max(0, ((cpu - previous.nanoseconds) / (now - previous.at)) * 1e6) : 0;
        this.#previousCpu.set(id, { at: now, nanoseconds: cpu });
        return {
          name: c.name,
          startTime: c.state?.running?.startedAt ?? time,
          cpu: { time, usageCoreNanoSeconds: cpu, usageNanoCores: Math.round(rate) },
          memory: { time, workingSetBytes: u?.memoryBytes ?? 0, usageBytes: u?.memoryBytes ?? 0 },
        };
      });
      const cpu = containers.reduce((sum, c) => sum + (c.cpu.usageCoreNanoSeconds ?? 0), 0);
      const rate = containers.reduce((sum, c) => sum + (c.cpu.usageNanoCores ?? 0), 0);
      const memory = containers.reduce((sum, c) => sum + (c.memory.workingSetBytes ?? 0), 0);
      nodeCpu += cpu;
      nodeCpuRate += rate;
      nodeMemory += memory;
      pods.push({
        podRef: {
          name: runtime.pod.metadata?.name ?? '',
          namespace: runtime.pod.metadata?.namespace ?? '',
          uid: runtime.pod.metadata?.uid ?? '',
        },
        startTime: status.startTime ?? time,
        containers,
        cpu: { time, usageCoreNanoSeconds: cpu, usageNanoCores: rate },
        memory: { time, workingSetBytes: memory, usageBytes: memory },
      });
    }
    return {
      node: {
        nodeName: this.#options.nodeName,
        startTime: kubeTime(this.#startedAt),
        cpu: { time, usageCoreNanoSeconds: nodeCpu, usageNanoCores: nodeCpuRate },
        memory: { time, workingSetBytes: nodeMemory, usageBytes: nodeMemory, availableBytes: freemem() },
      },
      pods,
    };
  }
}

/** Capacity minus reservations. */
function allocatable(capacity: Record<string, string>, reserved: Record<string, string>): Record<string, string> {
  const result = { ...capacity };
  for (const [name, value] of Object.entries(reserved)) {
    const total = capacity[name];
    if (!total) continue;
    const remaining = parseQuantity(total) - parseQuantity(value);
    result[name] =
      name === 'cpu' ? `${Math.max(0, Math.floor(remaining * 1000))}m` : String(Math.max(0, Math.floor(remaining)));
  }
  return result;
}
