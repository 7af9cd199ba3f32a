/**
 * The Podman provider: each Kubernetes pod is a Podman pod (one network namespace: its IP is the
 * pod IP) with the pod's containers in it, supervised by a {@link PodRuntime}. Status is pushed
 * from Podman's event stream (with a periodic resync in case events are missed), and the kubelet
 * API capabilities — logs, exec, attach, port-forward, stats — go to Podman's REST API. The node
 * side is {@link PodmanNode}'s, the stats summary {@link PodmanStats}'.
 */
import { rm } from 'node:fs/promises';
import type { Duplex, Readable } from 'node:stream';
import { PassThrough } from 'node:stream';
import type { Node, Pod, PodStatus, Secret } from 'kubernetes-types/core/v1.js';
import type { Logger } from 'pino';
import { errorMessage, InvalidInputError, NotFoundError } from '../../errors.ts';
import type { KubeClient } from '../../kube/client.ts';
import type { EventRecorder } from '../../kube/events.ts';
import type { ResourceCache } from '../../kube/resource-cache.ts';
import { Pods, ServiceAccounts } from '../../kube/resources.ts';
import {
  type AttachIO,
  type ContainerLogOptions,
  formatLogLine,
  gracePeriodSeconds,
  type Provider,
  type ProviderCallOptions,
  podKey,
  type StatsSummary,
  type TerminalSize,
} from '../../provider/index.ts';
import { Backoff } from '../../util/backoff.ts';
import { abortable, sleep } from '../../util/sleep.ts';
import type { PodmanConfig } from './config.ts';
import { LABEL_NAMESPACE, LABEL_NODE, LABEL_POD, LABEL_UID } from './labels.ts';
import { PodRuntime, podStateDir } from './pod-runtime.ts';
import { ensurePodSandbox } from './pod-sandbox.ts';
import { PodmanNode } from './podman-node.ts';
import { PodmanStats } from './podman-stats.ts';
import type { ExecIO, PodInfo, PodmanBackend } from './runtime-api.ts';
import type { VolumeSources } from './volume-files.ts';

export interface PodmanProviderOptions {
  backend: PodmanBackend;
  config: PodmanConfig;
  nodeName: string;
  internalIP: string;
  /** For service-account tokens, and the pods an older version left without a saved copy. */
  client: Pick<KubeClient, 'get' | 'createSubresource'>;
  resources: ResourceCache;
  events: EventRecorder;
  logger: Logger;
  /** Ends the provider's background work when it aborts (as {@link PodmanProvider.close} does). */
  signal?: AbortSignal;
  /** The restart back-off of crashing containers; the kubelet's 10 s doubling to 5 minutes by default (tests). */
  restartBackoff?: { initialMs: number; maxMs: number };
  /** How often every running container is re-read, in case an event was missed. Default 30 s. */
  resyncIntervalMs?: number;
}

const RESYNC_MS = 30_000;
/** Retries while Podman does not answer: 500 ms doubling to 10 s. */
const UNREACHABLE_BACKOFF = { initialMs: 500, maxMs: 10_000 };

/** A Podman pod of this node found at start that could not be adopted: reported so the controller decides. */
interface Leftover {
  pod: Pod;
  podmanName: string;
}

export class PodmanProvider implements Provider {
  readonly #options: PodmanProviderOptions;
  readonly #backend: PodmanBackend;
  readonly #runtimes = new Map<string, PodRuntime>();
  /**
   * Podman pods of this node from an earlier run whose runtime could not be rebuilt (no saved pod,
   * and no API pod of that uid): getPods reports them and the controller deletes them, as it does
   * every pod it has no API pod for.
   */
  readonly #leftovers = new Map<string, Leftover>();
  readonly #stop = new AbortController();
  readonly #node: PodmanNode;
  readonly #stats: PodmanStats;
  #notify: (pod: Pod) => void = () => {};
  #ready: Promise<void>;

  constructor(options: PodmanProviderOptions) {
    this.#options = options;
    this.#backend = options.backend;
    const signal = this.#stop.signal;
    this.#node = new PodmanNode(options.backend, options.config, signal);
    this.#stats = new PodmanStats(options.backend, options.nodeName);
    this.#ready = this.#adoptExisting();
    void this.#eventLoop();
    const resync = setInterval(() => void this.#resyncAll(), options.resyncIntervalMs ?? RESYNC_MS);
    resync.unref();
    signal.addEventListener('abort', () => clearInterval(resync), { once: true });
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
    if (this.#stop.signal.aborted) return;
    this.#stop.abort();
    for (const runtime of this.#runtimes.values()) runtime.detach();
  }

  // ---------------------------------------------------------------------------------------------
  // Node

  configureNode(node: Node): void {
    this.#node.configure(node);
  }

  async ping(options: ProviderCallOptions): Promise<void> {
    try {
      await this.#backend.ping(options.signal);
    } catch (error) {
      throw new Error(`podman service unreachable at ${this.#options.config.url}: ${errorMessage(error)}`);
    }
  }

  notifyNodeStatus(callback: (node: Node) => void): void {
    this.#node.notify(callback);
  }

  // ---------------------------------------------------------------------------------------------
  // Adoption and events

  /**
   * Finds the Podman pods of this node left by an earlier run and rebuilds their runtimes, from
   * the pod each saved (or, for pods an older version made, from the API). Whether a pod is still
   * wanted is not decided here: the controller compares getPods with the API and deletes the rest.
   */
  async #adoptExisting(): Promise<void> {
    const signal = this.#stop.signal;
    const backoff = new Backoff(UNREACHABLE_BACKOFF);
    let pods: PodInfo[];
    for (;;) {
      try {
        pods = await this.#backend.listPods({ [LABEL_NODE]: this.#options.nodeName }, signal);
        break;
      } catch (error) {
        if (signal.aborted) return;
        if (backoff.failures === 0) {
          this.#options.logger.warn(
            { err: errorMessage(error) },
            'podman is not answering; will adopt its pods when it does',
          );
        }
        await sleep(backoff.next(), signal);
        if (signal.aborted) return;
      }
    }
    await this.#node.readHost();
    for (const info of pods) {
      if (signal.aborted) return;
      const namespace = info.labels[LABEL_NAMESPACE] ?? '';
      const name = info.labels[LABEL_POD] ?? '';
      const uid = info.labels[LABEL_UID] ?? '';
      const key = podKey(namespace, name);
      const pod = PodRuntime.savedPod(this.#options.config.stateDir, uid) ?? (await this.#apiPod(namespace, name, uid));
      if (!pod) {
        const stub = { metadata: { namespace, name, uid }, spec: { nodeName: this.#options.nodeName, containers: [] } };
        this.#leftovers.set(key, { pod: stub, podmanName: info.name });
        continue;
      }
      const runtime = this.#runtime(pod);
      try {
        await runtime.adopt();
        this.#options.logger.info({ pod: key }, 'adopted a running podman pod');
      } catch (error) {
        this.#options.logger.warn({ pod: key, err: errorMessage(error) }, 'could not adopt a podman pod');
      }
    }
  }

  /**
   * Waits until the pods of an earlier run are adopted (which waits for Podman to answer), or
   * until the call is no longer wanted: a shutdown must not wait for an unreachable Podman.
   */
  async #adopted(signal: AbortSignal): Promise<void> {
    await abortable(this.#ready, signal);
    signal.throwIfAborted();
  }

  /** The API pod of that uid on this node, for a Podman pod made by a version that saved no pod. */
  async #apiPod(namespace: string, name: string, uid: string): Promise<Pod | undefined> {
    try {
      const pod = await this.#options.client.get<Pod>(Pods, { namespace, name });
      return pod.metadata?.uid === uid && pod.spec?.nodeName === this.#options.nodeName ? pod : undefined;
    } catch {
      return undefined;
    }
  }

  /** Podman's event stream → container exits reach their runtime at once; reconnects after outages. */
  async #eventLoop(): Promise<void> {
    const signal = this.#stop.signal;
    const backoff = new Backoff({ initialMs: 250, maxMs: 10_000 });
    while (!signal.aborted) {
      try {
        await this.#ready;
        for await (const event of this.#backend.events({ [LABEL_NODE]: this.#options.nodeName }, signal)) {
          backoff.reset();
          if (event.status !== 'died' && event.status !== 'oom' && event.status !== 'stop') continue;
          const runtime = this.#runtimes.get(
            podKey(event.labels[LABEL_NAMESPACE] ?? '', event.labels[LABEL_POD] ?? ''),
          );
          if (!runtime) continue;
          try {
            runtime.containerExited(await this.#backend.inspectContainer(event.id, signal));
          } catch {
            // Removed already: nothing to report.
          }
        }
      } catch (error) {
        if (signal.aborted) return;
        if (backoff.failures === 0)
          this.#options.logger.warn({ err: errorMessage(error) }, 'lost the podman event stream; reconnecting');
      }
      await sleep(backoff.next(), signal);
      // Whatever happened while the stream was down is read back from Podman.
      if (!signal.aborted) await this.#resyncAll();
    }
  }

  async #resyncAll(): Promise<void> {
    for (const runtime of this.#runtimes.values()) {
      if (this.#stop.signal.aborted) return;
      try {
        await runtime.resync();
      } catch {
        // Podman is down: the next round retries.
      }
    }
  }

  #runtime(pod: Pod): PodRuntime {
    const key = podKey(pod.metadata?.namespace ?? '', pod.metadata?.name ?? '');
    let runtime = this.#runtimes.get(key);
    if (runtime && runtime.pod.metadata?.uid === pod.metadata?.uid) return runtime;
    const { backend, config, nodeName, events, logger } = this.#options;
    runtime = new PodRuntime(pod, {
      backend,
      config,
      nodeName,
      volumeSources: (p) => this.#volumeSources(p),
      pullSecrets: (p) => this.#pullSecrets(p),
      events: (p) => (type, reason, message) => events.record(p, type, reason, message),
      notify: (p) => this.#notify(p),
      logger,
      cgroupControllers: () => this.#node.cgroupControllers,
      ...(this.#options.restartBackoff ? { backoff: this.#options.restartBackoff } : {}),
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

  /** Creates the pod's sandbox first, so status.podIP can be resolved in the environment; start reuses it. */
  async allocatePodIPs(pod: Pod, options: ProviderCallOptions): Promise<string[]> {
    await this.#adopted(options.signal);
    return ensurePodSandbox(this.#backend, pod, {
      nodeName: this.#options.nodeName,
      network: this.#options.config.network,
      signal: options.signal,
    });
  }

  async createPod(pod: Pod, options: ProviderCallOptions): Promise<void> {
    await this.#adopted(options.signal);
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

  /**
   * Starts the ephemeral containers `kubectl debug` added. Labels, annotations and tolerations
   * need nothing from Podman; an image change is applied when the container next restarts.
   */
  async updatePod(pod: Pod, _options: ProviderCallOptions): Promise<void> {
    this.#running(pod.metadata?.namespace ?? '', pod.metadata?.name ?? '').addEphemeralContainers(pod);
  }

  /** Ephemeral containers run in the pod's Podman pod (see updatePod). */
  runsEphemeralContainers(): boolean {
    return true;
  }

  async deletePod(pod: Pod, _options: ProviderCallOptions): Promise<void> {
    const key = podKey(pod.metadata?.namespace ?? '', pod.metadata?.name ?? '');
    const leftover = this.#leftovers.get(key);
    if (leftover) {
      this.#leftovers.delete(key);
      await this.#backend.removePod(leftover.podmanName).catch(() => undefined);
      await rm(podStateDir(this.#options.config.stateDir, leftover.pod), { recursive: true, force: true });
      return;
    }
    const runtime = this.#runtimes.get(key);
    if (!runtime) throw new NotFoundError(`pod ${key} is not running on this node`);
    // Terminating can take the whole grace period: it runs on; the terminal status is pushed when done.
    void (async () => {
      await runtime.terminate(gracePeriodSeconds(pod));
      await runtime.remove();
      if (this.#runtimes.get(key) === runtime) this.#runtimes.delete(key);
    })();
  }

  async getPod(namespace: string, name: string, _options: ProviderCallOptions): Promise<Pod | undefined> {
    const key = podKey(namespace, name);
    const runtime = this.#runtimes.get(key);
    if (runtime) return { ...runtime.pod, status: runtime.status() };
    return this.#leftovers.get(key)?.pod;
  }

  async getPodStatus(namespace: string, name: string, _options: ProviderCallOptions): Promise<PodStatus | undefined> {
    return this.#runtimes.get(podKey(namespace, name))?.status();
  }

  async getPods(options: ProviderCallOptions): Promise<Pod[]> {
    await this.#adopted(options.signal);
    return [
      ...[...this.#runtimes.values()].map((r) => ({ ...r.pod, status: r.status() })),
      ...[...this.#leftovers.values()].map((l) => l.pod),
    ];
  }

  // ---------------------------------------------------------------------------------------------
  // Kubelet API capabilities

  #running(namespace: string, podName: string): PodRuntime {
    const runtime = this.#runtimes.get(podKey(namespace, podName));
    if (!runtime) throw new NotFoundError(`pod ${podKey(namespace, podName)} is not running on this node`);
    return runtime;
  }

  #containerId(runtime: PodRuntime, container: string): string {
    const id = runtime.containerId(container);
    if (!id) throw new NotFoundError(`container "${container}" of pod ${runtime.key} has not been created yet`);
    return id;
  }

  /**
   * The Podman container whose log `kubectl logs` wants, as the kubelet picks it: the current
   * run (or, while the container waits to restart, the run that just ended); with `previous`,
   * the run before the current one.
   */
  #logContainerId(runtime: PodRuntime, name: string, previous: boolean): string {
    const container = runtime.container(name);
    if (!container) throw new NotFoundError(`container "${name}" not found in pod ${runtime.key}`);
    const podName = runtime.pod.metadata?.name;
    const lastRun = PodRuntime.previousRunId(container);
    if (previous) {
      if (!lastRun)
        throw new InvalidInputError(`previous terminated container "${name}" in pod "${podName}" not found`);
      return lastRun;
    }
    if ((container.state.running || container.state.terminated) && container.id) return container.id;
    if (lastRun) return lastRun;
    const reason = container.state.waiting?.reason ?? 'ContainerCreating';
    throw new InvalidInputError(`container "${name}" in pod "${podName}" is waiting to start: ${reason}`);
  }

  async getContainerLogs(
    namespace: string,
    podName: string,
    containerName: string,
    logOptions: ContainerLogOptions,
    options: ProviderCallOptions,
  ): Promise<Readable> {
    const runtime = this.#running(namespace, podName);
    const id = this.#logContainerId(runtime, containerName, logOptions.previous);
    const since =
      logOptions.sinceTime ??
      (logOptions.sinceSeconds !== undefined ? new Date(Date.now() - logOptions.sinceSeconds * 1000) : undefined);
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

  getStatsSummary(options: ProviderCallOptions): Promise<StatsSummary> {
    return this.#stats.summary(this.#runtimes.values(), options.signal);
  }
}
