/**
 * Runs the pods bound to this node in the provider, and keeps their status in the API.
 *
 * One work queue keyed by pod (`namespace/name`); every event — an API change, a provider status
 * report, a ConfigMap that appeared, a retry — only queues the key, and one level-triggered sync
 * compares the API pod, what the provider was told, and what the provider reports, then does
 * what is missing: create, update, delete in the provider. A key is never synced by two workers
 * at once.
 *
 * The API writes — status, and removing a pod the provider has finished terminating — have a
 * queue of their own, as the kubelet's status manager does: the provider
 * calls (a few at a time, as a provider can take) never hold up the API writes, which need many
 * in flight to keep up with a busy API server, and several reports for a pod that arrive while
 * its write waits become one write.
 */
import type { Pod, PodStatus } from 'kubernetes-types/core/v1.js';
import type { Logger } from 'pino';
import { errorMessage, isConflict, isInvalidInput, isNotFound } from '../errors.ts';
import type { KubeClient } from '../kube/client.ts';
import { type EventRecorder, noEvents } from '../kube/events.ts';
import { Informer } from '../kube/informer.ts';
import type { CachedKind, ResourceCache } from '../kube/resource-cache.ts';
import { objectKey, Pods, splitKey } from '../kube/resources.ts';
import { WorkQueue, type WorkQueueMetrics } from '../kube/work-queue.ts';
import { type EnvironmentResolution, resolvePodEnvironment } from '../kubelet/env/index.ts';
import { silentLogger } from '../log.ts';
import { isPodNotifier, type Provider } from '../provider/contracts.ts';
import { mapConcurrently } from '../util/concurrency.ts';
import { sleep } from '../util/sleep.ts';
import { contentDigest, podImages, podUpdateFingerprint } from './pod-fingerprint.ts';
import {
  configErrorStatus,
  desiredPodStatus,
  isProviderTerminal,
  isTerminalPhase,
  podStatusPatch,
  providerFailedStatus,
  type StatusContext,
  vanishedStatus,
} from './pod-status.ts';

/** Event reasons, the same strings the Go implementation records. */
export const PodEventReason = {
  CreateSuccess: 'ProviderCreateSuccess',
  CreateFailed: 'ProviderCreateFailed',
  UpdateSuccess: 'ProviderUpdateSuccess',
  UpdateFailed: 'ProviderUpdateFailed',
  DeleteSuccess: 'ProviderDeleteSuccess',
  DeleteFailed: 'ProviderDeleteFailed',
} as const;

export interface PodControllerOptions {
  client: KubeClient;
  nodeName: string;
  provider: Provider;
  resources: ResourceCache;
  /** The node's addresses and allocatable resources, for env resolution and hostIP. */
  node: () => { hostIPs: string[]; allocatable: Record<string, string> };
  events?: EventRecorder;
  logger?: Logger;
  /** Concurrent syncs, so at most this many provider calls at once. Default 10. */
  workers?: number;
  /** Concurrent API writes of pod status (and removals of terminated pods). Default 64. */
  statusWorkers?: number;
  /** Re-check every pod this often. Default 60 s. */
  resyncPeriodMs?: number;
  /** How often providers without PodNotifier are asked for status. Default 5 s. */
  statusPollIntervalMs?: number;
  /** Concurrent getPodStatus calls while polling. Default 32. */
  statusPollConcurrency?: number;
  /** Timeout of one provider call. Default 120 s. */
  providerTimeoutMs?: number;
  /** After this many consecutive provider failures a pod shows ProviderFailed. Default 5. */
  failureThreshold?: number;
  /** Retry backoff bounds. Defaults 100 ms and 5 minutes. */
  retryBaseDelayMs?: number;
  retryMaxDelayMs?: number;
  /** Overall retry rate across pods (per second). Default 50. */
  retryQps?: number;
  /** A pod stuck terminating in the provider is removed from the API this long after its grace period. Default 30 s. */
  terminationSlackMs?: number;
  /** Do not resolve environment variables (the provider does it). */
  skipEnvironmentResolution?: boolean;
  queueMetrics?: WorkQueueMetrics;
}

/** What the controller remembers about one pod. */
interface PodRecord {
  uid: string;
  /** The provider has the pod (created by us, or adopted at start). */
  inProvider: boolean;
  /** Fingerprint of what the provider was last given. */
  fingerprint?: string;
  /** The provider has been asked to delete the pod. */
  deleteRequested: boolean;
  /** The provider reported the pod gone. */
  providerGone: boolean;
  /**
   * A terminating pod the provider is done with: `wanted` until the status queue has removed it
   * from the API, then `sent` (the cache shows the pod until the watch brings the deletion).
   */
  apiRemoval?: 'wanted' | 'sent';
  /** The provider's latest status report, and a counter that moves when it changes. */
  providerStatus?: PodStatus;
  providerStatusDigest?: string;
  /**
   * The API version our last status write replaced. While the cache still shows it, the watch
   * has not brought our write back, and a status computed from the cache would repeat it.
   */
  replacedVersion?: string;
  /** A status synthesised by the controller (config error, provider failure) instead of the provider's. */
  syntheticStatus?: PodStatus;
  /**
   * After a provider failure: not before this time (Date.now()) and only while the pod is unchanged
   * is the provider called again, so the pod's own updates (our status write among them) do not
   * cut the backoff short.
   */
  retryNotBefore?: number;
  failedFingerprint?: string;
  /** ConfigMaps/Secrets this pod's environment reads, as `Kind/namespace/name`. */
  dependencies: string[];
  namespace: string;
}

const DEFAULT_FAILURE_THRESHOLD = 5;

export class PodController {
  readonly #options: PodControllerOptions;
  readonly #client: KubeClient;
  readonly #provider: Provider;
  readonly #logger: Logger;
  readonly #events: EventRecorder;
  readonly #informer: Informer<Pod>;
  readonly #queue: WorkQueue;
  readonly #statusQueue: WorkQueue;
  readonly #records = new Map<string, PodRecord>();
  /** The last API version of pods deleted from the API, for the provider-side delete. */
  readonly #tombstones = new Map<string, Pod>();
  /** `Kind/namespace/name` → pods whose environment depends on that object. */
  readonly #dependents = new Map<string, Set<string>>();
  #resolveReady: () => void = () => {};
  /** Resolves once the pod cache is filled and startup reconciliation is done. */
  readonly ready: Promise<void>;
  /** Counters for tests and metrics. */
  readonly stats = {
    syncs: 0,
    creates: 0,
    updates: 0,
    deletes: 0,
    statusWrites: 0,
    apiDeletes: 0,
    adopted: 0,
    orphansDeleted: 0,
    providerErrors: 0,
  };

  constructor(options: PodControllerOptions) {
    this.#options = options;
    this.#client = options.client;
    this.#provider = options.provider;
    this.#logger = options.logger ?? silentLogger();
    this.#events = options.events ?? noEvents;
    this.#informer = new Informer<Pod>({
      client: options.client,
      type: Pods,
      fieldSelector: `spec.nodeName=${options.nodeName}`,
      resyncPeriodMs: options.resyncPeriodMs ?? 60_000,
      logger: this.#logger,
    });
    this.#queue = new WorkQueue({
      name: 'pods',
      baseDelayMs: options.retryBaseDelayMs ?? 100,
      maxDelayMs: options.retryMaxDelayMs ?? 300_000,
      retryQps: options.retryQps ?? 50,
      ...(options.queueMetrics ? { metrics: options.queueMetrics } : {}),
    });
    this.#statusQueue = new WorkQueue({
      name: 'pod-status',
      baseDelayMs: options.retryBaseDelayMs ?? 100,
      maxDelayMs: Math.min(options.retryMaxDelayMs ?? 300_000, 60_000),
      retryQps: options.retryQps ?? 50,
      ...(options.queueMetrics ? { metrics: options.queueMetrics } : {}),
    });
    this.ready = new Promise((resolve) => {
      this.#resolveReady = resolve;
    });
  }

  /** The work queue, for metrics. */
  get queue(): WorkQueue {
    return this.#queue;
  }

  /** The status write queue, for metrics. */
  get statusQueue(): WorkQueue {
    return this.#statusQueue;
  }

  /** Pods on this node as the API reports them (the informer's cache). */
  pods(): Pod[] {
    return [...this.#informer.list()];
  }

  /** The cached API pod `namespace/name`. */
  pod(namespace: string, name: string): Pod | undefined {
    return this.#informer.get(`${namespace}/${name}`);
  }

  #statusContext(): StatusContext {
    return { hostIPs: this.#options.node().hostIPs };
  }

  /**
   * Calls the provider with a signal that aborts on shutdown or after the provider timeout. The
   * timer is cleared as soon as the call settles: with thousands of pods, a timer per call left
   * running for minutes (AbortSignal.timeout) would pile up.
   */
  async #call<T>(signal: AbortSignal, call: (options: { signal: AbortSignal }) => Promise<T>): Promise<T> {
    const controller = new AbortController();
    const onAbort = () => controller.abort(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    const timeout = this.#options.providerTimeoutMs ?? 120_000;
    const timer = setTimeout(() => controller.abort(new Error(`provider call timed out after ${timeout} ms`)), timeout);
    try {
      return await call({ signal: controller.signal });
    } finally {
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
    }
  }

  /** Runs until `signal` aborts. The provider's pods keep running after that. */
  async run(signal: AbortSignal): Promise<void> {
    if (isPodNotifier(this.#provider)) {
      this.#provider.notifyPods((pod) => this.#onProviderStatus(pod));
    }
    this.#informer.addHandlers({
      onAdd: (pod) => this.#queue.add(objectKey(pod)),
      onUpdate: (_previous, pod) => this.#queue.add(objectKey(pod)),
      onDelete: (pod) => {
        const key = objectKey(pod);
        this.#tombstones.set(key, pod);
        this.#queue.add(key);
      },
    });
    const unsubscribe = this.#options.resources.onChange((kind, namespace, name) => {
      const dependents = this.#dependents.get(`${kind}/${namespace}/${name}`);
      if (dependents) for (const key of dependents) this.#queue.add(key);
    });
    signal.addEventListener('abort', unsubscribe, { once: true });
    this.#informer.start(signal);
    await Promise.race([this.#informer.synced, new Promise((resolve) => signal.addEventListener('abort', resolve))]);
    if (signal.aborted) return;
    await this.#reconcileAtStart(signal);
    this.#resolveReady();
    this.#logger.info({ pods: this.#informer.size }, 'pod controller ready');
    const polling = isPodNotifier(this.#provider) ? Promise.resolve() : this.#pollStatuses(signal);
    await Promise.all([
      this.#queue.run({
        workers: this.#options.workers ?? 10,
        signal,
        handler: (key, s) => this.#sync(key, s),
        onError: (key, error, failures) => this.#logRetry(key, error, failures, 'pod sync failed; retrying'),
      }),
      this.#statusQueue.run({
        workers: this.#options.statusWorkers ?? 64,
        signal,
        handler: (key, s) => this.#writeStatus(key, s),
        onError: (key, error, failures) => this.#logRetry(key, error, failures, 'pod status write failed; retrying'),
      }),
      polling,
    ]);
  }

  /** Every failure at debug level; the first and then every doubling at warn, so a stuck pod is visible. */
  #logRetry(key: string, error: unknown, failures: number, message: string): undefined {
    const level = (failures & (failures - 1)) === 0 ? 'warn' : 'debug';
    this.#logger[level]({ pod: key, err: errorMessage(error), failures }, message);
    return undefined;
  }

  /**
   * Adopts the pods the provider already runs (no second createPod after a restart) and deletes
   * the ones whose API pod is gone from this node.
   */
  async #reconcileAtStart(signal: AbortSignal): Promise<void> {
    let providerPods: Pod[];
    try {
      providerPods = await this.#call(signal, (o) => this.#provider.getPods(o));
    } catch (error) {
      this.#logger.warn({ err: errorMessage(error) }, 'could not list the provider pods at start; adopting none');
      return;
    }
    const orphans: Pod[] = [];
    for (const providerPod of providerPods) {
      const key = objectKey(providerPod);
      const apiPod = this.#informer.get(key);
      const providerUid = providerPod.metadata?.uid;
      if (!apiPod || (providerUid && apiPod.metadata?.uid !== providerUid)) {
        orphans.push(providerPod);
        continue;
      }
      const record = this.#record(key, apiPod);
      record.inProvider = true;
      // Running pods are not updated just because we restarted; only a changed image is news.
      record.fingerprint =
        podImages(providerPod) === podImages(apiPod) ? podUpdateFingerprint(apiPod) : podUpdateFingerprint(providerPod);
      if (providerPod.status) this.#storeProviderStatus(record, providerPod.status);
      this.stats.adopted++;
    }
    if (orphans.length > 0) {
      this.#logger.info({ count: orphans.length }, 'deleting provider pods that no longer exist in the API');
      await mapConcurrently(orphans, this.#options.workers ?? 10, async (pod) => {
        try {
          await this.#call(signal, (o) => this.#provider.deletePod(pod, o));
          this.stats.orphansDeleted++;
        } catch (error) {
          if (!isNotFound(error)) {
            this.#logger.warn(
              { pod: objectKey(pod), err: errorMessage(error) },
              'could not delete an orphaned provider pod',
            );
          }
        }
      });
    }
    if (this.stats.adopted > 0) this.#logger.info({ count: this.stats.adopted }, 'adopted running provider pods');
  }

  #record(key: string, apiPod: Pod): PodRecord {
    let record = this.#records.get(key);
    if (!record) {
      const namespace = apiPod.metadata?.namespace ?? '';
      record = {
        uid: apiPod.metadata?.uid ?? '',
        inProvider: false,
        deleteRequested: false,
        providerGone: false,
        dependencies: [],
        namespace,
      };
      this.#records.set(key, record);
      this.#options.resources.retain(namespace);
    }
    return record;
  }

  #forget(key: string): void {
    const record = this.#records.get(key);
    if (!record) return;
    this.#setDependencies(key, record, []);
    this.#records.delete(key);
    this.#statusQueue.forget(key);
    this.#options.resources.release(record.namespace);
  }

  #setDependencies(key: string, record: PodRecord, dependencies: string[]): void {
    for (const dependency of record.dependencies) {
      const set = this.#dependents.get(dependency);
      set?.delete(key);
      if (set?.size === 0) this.#dependents.delete(dependency);
    }
    record.dependencies = dependencies;
    for (const dependency of dependencies) {
      let set = this.#dependents.get(dependency);
      if (!set) {
        set = new Set();
        this.#dependents.set(dependency, set);
      }
      set.add(key);
    }
  }

  #storeProviderStatus(record: PodRecord, status: PodStatus): boolean {
    const digest = contentDigest(status);
    if (digest === record.providerStatusDigest) return false;
    record.providerStatus = status;
    record.providerStatusDigest = digest;
    return true;
  }

  /** A status pushed by the provider: remember it and let the sync decide. */
  #onProviderStatus(pod: Pod): void {
    const key = objectKey(pod);
    const record = this.#records.get(key);
    if (!record) return; // not (or no longer) a pod of ours
    if (pod.metadata?.uid && record.uid && pod.metadata.uid !== record.uid) return;
    if (pod.status && this.#storeProviderStatus(record, pod.status)) this.#statusChanged(key);
  }

  /**
   * A new provider status: a live pod only needs it written (the status queue); a terminating
   * or departed one may now be removed or forgotten, which is the sync's to decide.
   */
  #statusChanged(key: string): void {
    const apiPod = this.#informer.get(key);
    if (apiPod && !apiPod.metadata?.deletionTimestamp) this.#statusQueue.add(key);
    else this.#queue.add(key);
  }

  async #sync(key: string, signal: AbortSignal): Promise<{ requeueAfterMs?: number } | undefined> {
    this.stats.syncs++;
    const apiPod = this.#informer.get(key);
    let record = this.#records.get(key);
    if (!apiPod) {
      await this.#syncGoneFromApi(key, record, signal);
      return undefined;
    }
    if (record && record.uid !== apiPod.metadata?.uid) {
      // Deleted and created again under the same name: the old one goes first.
      const old = this.#tombstones.get(key) ?? apiPod;
      if (record.inProvider) await this.#deleteInProvider(old, signal);
      this.#forget(key);
      record = undefined;
    }
    this.#tombstones.delete(key);
    record ??= this.#record(key, apiPod);
    if (apiPod.metadata?.deletionTimestamp) return this.#syncTerminating(key, apiPod, record, signal);
    if (isTerminalPhase(apiPod.status?.phase)) return undefined; // finished pods stay finished

    const fingerprint = podUpdateFingerprint(apiPod);
    const backoffLeft = (record.retryNotBefore ?? 0) - Date.now();
    if (backoffLeft > 0 && fingerprint === record.failedFingerprint) {
      this.#statusQueue.add(key);
      return { requeueAfterMs: backoffLeft };
    }
    if (!record.inProvider) {
      const created = await this.#create(key, apiPod, record, signal);
      if (!created) return { requeueAfterMs: 60_000 }; // waiting for a ConfigMap/Secret; its arrival requeues sooner
    } else if (fingerprint !== record.fingerprint) {
      await this.#update(key, apiPod, record, fingerprint, signal);
    }
    record.retryNotBefore = undefined;
    this.#statusQueue.add(key);
    return undefined;
  }

  /** Resolves the pod's environment, waiting for the caches it needs. */
  async #resolve(
    apiPod: Pod,
    record: PodRecord,
    key: string,
    podIPs?: string[],
  ): Promise<EnvironmentResolution | undefined> {
    if (this.#options.skipEnvironmentResolution) return undefined;
    const namespace = apiPod.metadata?.namespace ?? '';
    const resources = this.#options.resources;
    const kinds = referencedKinds(apiPod);
    await Promise.all([
      ...[...kinds].map((kind) => resources.ready(kind, namespace)),
      resources.ready('Service', 'default'),
      ...(apiPod.spec?.enableServiceLinks === false ? [] : [resources.ready('Service', namespace)]),
    ]);
    const node = this.#options.node();
    const resolution = resolvePodEnvironment(apiPod, resources, {
      nodeName: this.#options.nodeName,
      hostIPs: node.hostIPs,
      nodeAllocatable: node.allocatable,
      ...(podIPs && podIPs.length > 0 ? { podIPs } : {}),
    });
    this.#setDependencies(
      key,
      record,
      resolution.dependencies.map((d) => `${d.kind}/${d.namespace}/${d.name}`),
    );
    for (const event of resolution.events) this.#events.record(apiPod, event.type, event.reason, event.message);
    return resolution;
  }

  /** Creates the pod in the provider; false when it cannot be configured yet. */
  async #create(key: string, apiPod: Pod, record: PodRecord, signal: AbortSignal): Promise<boolean> {
    let resolution = await this.#resolve(apiPod, record, key);
    if (resolution?.error) {
      record.syntheticStatus = configErrorStatus(
        apiPod,
        resolution.error.reason,
        resolution.error.message,
        this.#statusContext(),
      );
      this.#statusQueue.add(key);
      return false;
    }
    try {
      const allocatePodIPs = this.#provider.allocatePodIPs?.bind(this.#provider);
      if (resolution?.needsPodIP && allocatePodIPs) {
        const podIPs = await this.#call(signal, (o) => allocatePodIPs(apiPod, o));
        resolution = await this.#resolve(apiPod, record, key, podIPs);
      }
      await this.#call(signal, (o) => this.#provider.createPod(resolution?.pod ?? apiPod, o));
    } catch (error) {
      this.#providerFailed(key, apiPod, record, PodEventReason.CreateFailed, error);
      throw error;
    }
    this.stats.creates++;
    record.inProvider = true;
    record.fingerprint = podUpdateFingerprint(apiPod);
    record.syntheticStatus = undefined;
    this.#events.record(apiPod, 'Normal', PodEventReason.CreateSuccess, 'Create pod in provider successfully');
    if (!isPodNotifier(this.#provider)) await this.#pollOne(key, record, signal);
    return true;
  }

  async #update(key: string, apiPod: Pod, record: PodRecord, fingerprint: string, signal: AbortSignal): Promise<void> {
    const resolution = await this.#resolve(
      apiPod,
      record,
      key,
      apiPod.status?.podIPs?.map((p) => p.ip ?? ''),
    );
    try {
      await this.#call(signal, (o) =>
        this.#provider.updatePod(resolution && !resolution.error ? resolution.pod : apiPod, o),
      );
    } catch (error) {
      this.#providerFailed(key, apiPod, record, PodEventReason.UpdateFailed, error);
      throw error;
    }
    this.stats.updates++;
    record.fingerprint = fingerprint;
    this.#events.record(apiPod, 'Normal', PodEventReason.UpdateSuccess, 'Update pod in provider successfully');
  }

  /**
   * Records a provider failure: an event every time, and once failures reach the threshold (at
   * once for invalid input) a status that says so — Failed for restartPolicy Never, otherwise
   * Pending with reason ProviderFailed. The key keeps being retried with growing backoff.
   */
  #providerFailed(key: string, apiPod: Pod, record: PodRecord, reason: string, error: unknown): void {
    this.stats.providerErrors++;
    const message = errorMessage(error);
    this.#events.record(apiPod, 'Warning', reason, message);
    const failures = this.#queue.failures(key) + 1;
    record.failedFingerprint = podUpdateFingerprint(apiPod);
    record.retryNotBefore = Date.now() + this.#queue.backoff(failures);
    const threshold = this.#options.failureThreshold ?? DEFAULT_FAILURE_THRESHOLD;
    this.#logger.warn({ pod: key, err: message, failures }, `provider call failed (${reason})`);
    if (record.inProvider || (failures < threshold && !isInvalidInput(error))) return;
    record.syntheticStatus = providerFailedStatus(apiPod, message, this.#statusContext());
    this.#statusQueue.add(key);
  }

  /**
   * A pod with a deletionTimestamp: ask the provider to stop it, and once it has, hand the pod to
   * the status queue to be removed from the API (as the kubelet's status manager does), so the
   * sync workers, which bound the provider calls, do not wait on the API server's deletes.
   */
  async #syncTerminating(key: string, apiPod: Pod, record: PodRecord, signal: AbortSignal) {
    if (!record.inProvider) return this.#removeFromApi(key, record);
    if (!record.deleteRequested) {
      await this.#deleteInProvider(apiPod, signal, record);
      this.#events.record(apiPod, 'Normal', PodEventReason.DeleteSuccess, 'Delete pod in provider successfully');
    }
    if (!record.providerGone && !isProviderTerminal(record.providerStatus) && !isPodNotifier(this.#provider)) {
      await this.#pollOne(key, record, signal);
    }
    if (record.providerGone || isProviderTerminal(record.providerStatus)) return this.#removeFromApi(key, record);
    const deadline =
      Date.parse(apiPod.metadata?.deletionTimestamp ?? '') + (this.#options.terminationSlackMs ?? 30_000);
    const remaining = deadline - Date.now();
    if (remaining <= 0) {
      this.#logger.warn(
        { pod: key },
        'the provider did not finish terminating the pod in time; removing it from the API',
      );
      return this.#removeFromApi(key, record);
    }
    // A notifying provider will wake us; a polled one is asked again soon.
    return { requeueAfterMs: Math.min(remaining, isPodNotifier(this.#provider) ? 5_000 : 1_000) };
  }

  #removeFromApi(key: string, record: PodRecord): undefined {
    record.apiRemoval ??= 'wanted';
    this.#statusQueue.add(key);
    return undefined;
  }

  /** The pod left the API (deleted, or moved off this node): make sure the provider lets it go too. */
  async #syncGoneFromApi(key: string, record: PodRecord | undefined, signal: AbortSignal): Promise<void> {
    const tombstone = this.#tombstones.get(key);
    if (record && !record.providerGone) {
      const { namespace, name } = splitKey(key);
      let providerPod: Pod | undefined;
      try {
        providerPod = await this.#call(signal, (o) => this.#provider.getPod(namespace, name, o));
      } catch (error) {
        if (!isNotFound(error)) throw error;
      }
      if (providerPod) await this.#deleteInProvider(tombstone ?? providerPod, signal, record);
    }
    this.#tombstones.delete(key);
    this.#forget(key);
  }

  async #deleteInProvider(pod: Pod, signal: AbortSignal, record?: PodRecord): Promise<void> {
    try {
      await this.#call(signal, (o) => this.#provider.deletePod(pod, o));
      this.stats.deletes++;
    } catch (error) {
      if (!isNotFound(error)) {
        this.stats.providerErrors++;
        this.#events.record(pod, 'Warning', PodEventReason.DeleteFailed, errorMessage(error));
        throw error;
      }
      if (record) record.providerGone = true;
    }
    if (record) record.deleteRequested = true;
  }

  async #deleteFromApi(key: string, apiPod: Pod, signal: AbortSignal): Promise<void> {
    const { namespace, name } = splitKey(key);
    try {
      await this.#client.delete(
        Pods,
        { namespace, name },
        {
          gracePeriodSeconds: 0,
          preconditions: { uid: apiPod.metadata?.uid ?? '' },
          answer: 'metadata',
          signal,
        },
      );
      this.stats.apiDeletes++;
    } catch (error) {
      if (!isNotFound(error) && !isConflict(error)) throw error;
    }
  }

  /**
   * The status queue's handler: brings the API pod up to date with what we know of it — its
   * status, or for a terminating pod the provider is done with, its removal.
   */
  async #writeStatus(key: string, signal: AbortSignal): Promise<undefined> {
    const apiPod = this.#informer.get(key);
    const record = this.#records.get(key);
    if (!apiPod || !record || record.uid !== apiPod.metadata?.uid) return undefined;
    if (apiPod.metadata?.deletionTimestamp) {
      if (record.apiRemoval === 'wanted') {
        await this.#deleteFromApi(key, apiPod, signal);
        record.apiRemoval = 'sent';
      }
      return undefined;
    }
    if (isTerminalPhase(apiPod.status?.phase)) return undefined; // finished pods stay finished
    await this.#syncStatus(apiPod, record, signal);
    return undefined;
  }

  /** Writes the status the API should show, if it does not already. */
  async #syncStatus(apiPod: Pod, record: PodRecord, signal: AbortSignal): Promise<void> {
    const context = this.#statusContext();
    let desired: PodStatus | undefined;
    if (record.syntheticStatus) desired = record.syntheticStatus;
    else if (record.providerStatus) desired = desiredPodStatus(apiPod, record.providerStatus, context);
    if (!desired) return;
    const version = apiPod.metadata?.resourceVersion;
    // The watch event of our last write requeues the pod; anything newer is written then.
    if (version !== undefined && version === record.replacedVersion) return;
    const patch = podStatusPatch(apiPod, desired);
    if (!patch) return;
    const { namespace = '', name = '' } = apiPod.metadata ?? {};
    try {
      const written = await this.#client.patch(Pods, { namespace, name, subresource: 'status' }, patch, 'strategic', {
        signal,
        answer: 'metadata',
      });
      this.stats.statusWrites++;
      // A write the server found to change nothing keeps the version, and brings no watch event to wait for.
      record.replacedVersion = written.metadata?.resourceVersion !== version ? version : undefined;
    } catch (error) {
      // Gone or re-created meanwhile: the informer brings the news and the key is synced again.
      if (isNotFound(error) || isConflict(error)) return;
      throw error;
    }
  }

  /** Asks a provider without PodNotifier for one pod's status. */
  async #pollOne(key: string, record: PodRecord, signal: AbortSignal): Promise<boolean> {
    const { namespace, name } = splitKey(key);
    let status: PodStatus | undefined;
    try {
      status = await this.#call(signal, (o) => this.#provider.getPodStatus(namespace, name, o));
    } catch (error) {
      if (!isNotFound(error)) throw error;
    }
    if (status) return this.#storeProviderStatus(record, status);
    if (record.deleteRequested) {
      const changed = !record.providerGone;
      record.providerGone = true;
      return changed;
    }
    const apiPod = this.#informer.get(key);
    if (apiPod && record.inProvider && apiPod.status?.phase === 'Running') {
      // It was running and the provider lost it: say so, as the Go implementation does.
      return this.#storeProviderStatus(record, vanishedStatus(apiPod, this.#statusContext()));
    }
    return false;
  }

  /** For providers without PodNotifier: ask for every live pod's status, concurrently and bounded. */
  async #pollStatuses(signal: AbortSignal): Promise<void> {
    const interval = this.#options.statusPollIntervalMs ?? 5_000;
    const concurrency = this.#options.statusPollConcurrency ?? 32;
    while (!signal.aborted) {
      const started = Date.now();
      const keys = [...this.#records.entries()]
        .filter(([, r]) => r.inProvider && !r.providerGone && !isTerminalPhase(r.providerStatus?.phase))
        .map(([key]) => key);
      await mapConcurrently(keys, concurrency, async (key) => {
        const record = this.#records.get(key);
        if (!record || signal.aborted) return;
        try {
          if (await this.#pollOne(key, record, signal)) this.#statusChanged(key);
        } catch (error) {
          this.#logger.debug({ pod: key, err: errorMessage(error) }, 'getPodStatus failed');
        }
      });
      await sleep(Math.max(0, interval - (Date.now() - started)), signal);
    }
  }
}

/** The cached kinds a pod's environment reads. */
function referencedKinds(pod: Pod): Set<CachedKind> {
  const kinds = new Set<CachedKind>();
  const spec = pod.spec;
  for (const container of [
    ...(spec?.initContainers ?? []),
    ...(spec?.containers ?? []),
    ...(spec?.ephemeralContainers ?? []),
  ]) {
    for (const source of container.envFrom ?? []) {
      if (source.configMapRef) kinds.add('ConfigMap');
      if (source.secretRef) kinds.add('Secret');
    }
    for (const variable of container.env ?? []) {
      if (variable.valueFrom?.configMapKeyRef) kinds.add('ConfigMap');
      if (variable.valueFrom?.secretKeyRef) kinds.add('Secret');
    }
  }
  return kinds;
}
