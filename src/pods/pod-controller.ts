/**
 * Runs the pods bound to this node in the provider.
 *
 * One work queue keyed by pod (`namespace/name`): every event — an API change, a provider status
 * report, a ConfigMap that appeared, a retry — only queues the key, and one level-triggered sync
 * compares the API pod, what the provider was told, and what the provider reports, then does what
 * is missing: create, update or delete in the provider. A key is never synced by two workers at
 * once.
 *
 * The API writes — status, and the removal of a pod the provider has finished terminating — are
 * the status manager's (status-manager.ts), with a queue of their own. Providers that do not push
 * status are polled by an adapter (status-poller.ts), so the controller has one status path.
 */
import { setMaxListeners } from 'node:events';
import type { Pod } from 'kubernetes-types/core/v1.js';
import type { Logger } from 'pino';
import { errorMessage, isInvalidInput, isNotFound } from '../errors.ts';
import type { KubeApi } from '../kube/client.ts';
import { type EventRecorder, noEvents } from '../kube/events.ts';
import { Informer } from '../kube/informer.ts';
import type { CachedKind, ResourceCache } from '../kube/resource-cache.ts';
import { namespacedKey, objectKey, Pods, splitKey } from '../kube/resources.ts';
import { kubeTime } from '../kube/time.ts';
import { WorkQueue, type WorkQueueMetrics } from '../kube/work-queue.ts';
import { type EnvironmentResolution, resolvePodEnvironment } from '../kubelet/env/index.ts';
import { silentLogger } from '../log.ts';
import type { PodLifecycleHandler, PodNotifier, Provider, ProviderCallOptions } from '../provider/contracts.ts';
import { podSyncChannel, traced } from '../tracing/channels.ts';
import { type Clock, systemClock } from '../util/clock.ts';
import { mapConcurrently } from '../util/concurrency.ts';
import { abortable } from '../util/sleep.ts';
import { podImages, podUpdateFingerprint } from './pod-fingerprint.ts';
import { type PodRecord, PodRecords } from './pod-records.ts';
import {
  configErrorStatus,
  isProviderTerminal,
  isTerminalPhase,
  providerFailedStatus,
  type StatusContext,
  wasStarted,
} from './pod-status.ts';
import { callProvider, DEFAULT_PROVIDER_TIMEOUT_MS } from './provider-call.ts';
import { isOwnStatusEcho, PodStatusManager } from './status-manager.ts';
import { StatusPoller } from './status-poller.ts';

/** Event reasons, the same strings the Go implementation records. */
export const PodEventReason = {
  CreateSuccess: 'ProviderCreateSuccess',
  CreateFailed: 'ProviderCreateFailed',
  UpdateSuccess: 'ProviderUpdateSuccess',
  UpdateFailed: 'ProviderUpdateFailed',
  DeleteSuccess: 'ProviderDeleteSuccess',
  DeleteFailed: 'ProviderDeleteFailed',
  /** An ephemeral container (`kubectl debug`) the provider cannot run. */
  EphemeralContainerUnsupported: 'EphemeralContainersNotSupported',
} as const;

export interface PodControllerOptions {
  /** The API: a `KubeClient`, or in unit tests an in-memory fake. */
  client: KubeApi;
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
  /** Do not resolve environment variables (the provider does it); also when the provider's `resolvesEnvironment()` says so. */
  skipEnvironmentResolution?: boolean;
  queueMetrics?: WorkQueueMetrics;
  /** Time for backoff gates, termination deadlines and queue delays. Default the real one. */
  clock?: Clock;
}

const DEFAULT_FAILURE_THRESHOLD = 5;
/** A pod waiting for a ConfigMap or Secret is looked at again this often (their arrival requeues it sooner). */
const CONFIG_WAIT_REQUEUE_MS = 60_000;
/** A terminating pod whose provider has not finished is looked at again this often (a report wakes it sooner). */
const TERMINATING_REQUEUE_MS = 5_000;

export class PodController {
  readonly #options: PodControllerOptions;
  readonly #provider: Provider;
  /** The lifecycle calls, through the poller for providers that do not push status. */
  readonly #pods: PodLifecycleHandler & PodNotifier;
  readonly #poller: StatusPoller | undefined;
  readonly #logger: Logger;
  readonly #events: EventRecorder;
  readonly #clock: Clock;
  readonly #informer: Informer<Pod>;
  readonly #queue: WorkQueue;
  readonly #status: PodStatusManager;
  readonly #records: PodRecords;
  /** The last API version of pods deleted from the API, for the provider-side delete. */
  readonly #tombstones = new Map<string, Pod>();
  /** Why ephemeral containers cannot run here; undefined when the provider runs them. */
  readonly #ephemeralUnsupported: string | undefined;
  /** The provider resolves environments itself: pods reach it as the API has them. */
  readonly #skipEnvironmentResolution: boolean;
  #resolveReady: () => void = () => {};
  /** Resolves once the pod cache is filled and startup reconciliation is done. */
  readonly ready: Promise<void>;

  constructor(options: PodControllerOptions) {
    this.#options = options;
    this.#provider = options.provider;
    this.#logger = options.logger ?? silentLogger();
    this.#events = options.events ?? noEvents;
    this.#clock = options.clock ?? systemClock;
    const provider = options.provider;
    if (typeof provider.notifyPods === 'function') {
      this.#pods = provider as PodLifecycleHandler & PodNotifier;
    } else {
      this.#poller = new StatusPoller(provider, {
        intervalMs: options.statusPollIntervalMs ?? 5_000,
        concurrency: options.statusPollConcurrency ?? 32,
        timeoutMs: options.providerTimeoutMs ?? DEFAULT_PROVIDER_TIMEOUT_MS,
        logger: this.#logger,
        clock: this.#clock,
      });
      this.#pods = this.#poller;
    }
    this.#ephemeralUnsupported = provider.runsEphemeralContainers?.()
      ? undefined
      : 'the provider of this virtual kubelet cannot run ephemeral containers';
    this.#skipEnvironmentResolution =
      options.skipEnvironmentResolution === true || provider.resolvesEnvironment?.() === true;
    this.#records = new PodRecords(options.resources);
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
      clock: this.#clock,
      metrics: options.queueMetrics,
    });
    this.#status = new PodStatusManager({
      client: options.client,
      records: this.#records,
      apiPod: (key) => this.#informer.get(key),
      statusContext: () => this.#statusContext(),
      logger: this.#logger,
      clock: this.#clock,
      workers: options.statusWorkers,
      retryBaseDelayMs: options.retryBaseDelayMs,
      retryMaxDelayMs: options.retryMaxDelayMs,
      retryQps: options.retryQps,
      queueMetrics: options.queueMetrics,
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
    return this.#status.queue;
  }

  /** Pods on this node as the API reports them (the informer's cache). */
  pods(): Pod[] {
    return [...this.#informer.list()];
  }

  /** The cached API pod `namespace/name`. */
  pod(namespace: string, name: string): Pod | undefined {
    return this.#informer.get(namespacedKey(namespace, name));
  }

  #statusContext(): StatusContext {
    return {
      hostIPs: this.#options.node().hostIPs,
      now: kubeTimeAt(this.#clock.now()),
      ...(this.#ephemeralUnsupported ? { ephemeralContainersUnsupported: this.#ephemeralUnsupported } : {}),
    };
  }

  #callProvider<T>(signal: AbortSignal, call: (options: ProviderCallOptions) => Promise<T>): Promise<T> {
    return callProvider(signal, this.#options.providerTimeoutMs ?? DEFAULT_PROVIDER_TIMEOUT_MS, call);
  }

  /** Runs until `signal` aborts. The provider's pods keep running after that. */
  async run(shutdown: AbortSignal): Promise<void> {
    // A signal of its own: the controller's loops and calls listen to it, not to the one every component shares.
    const signal = AbortSignal.any([shutdown]);
    // Every provider call and API write in flight listens to it: as many as the workers, a bounded
    // number, which Node's leak warning (at 10) would otherwise mistake for a leak.
    const o = this.#options;
    setMaxListeners((o.workers ?? 10) + (o.statusWorkers ?? 64) + (o.statusPollConcurrency ?? 32) + 16, signal);
    this.#pods.notifyPods((pod) => this.#onProviderStatus(pod));
    this.#informer.addHandlers({
      onAdd: (pod) => this.#queue.add(objectKey(pod)),
      onUpdate: (previous, pod) => this.#onApiUpdate(previous, pod),
      onDelete: (pod) => {
        const key = objectKey(pod);
        this.#tombstones.set(key, pod);
        this.#queue.add(key);
      },
    });
    const unsubscribe = this.#options.resources.onChange((kind, namespace, name) => {
      for (const key of this.#records.dependents(`${kind}/${namespace}/${name}`)) this.#queue.add(key);
    });
    signal.addEventListener('abort', unsubscribe, { once: true });
    this.#informer.start(signal);
    await abortable(this.#informer.synced, signal);
    if (signal.aborted) return;
    await this.#reconcileAtStart(signal);
    if (signal.aborted) return;
    this.#resolveReady();
    this.#logger.info({ pods: this.#informer.size }, 'pod controller ready');
    await Promise.all([
      this.#queue.run({
        workers: this.#options.workers ?? 10,
        signal,
        handler: (key, s) =>
          traced(
            podSyncChannel,
            () => ({ key, pod: this.#informer.get(key) ?? this.#tombstones.get(key) }),
            () => this.#sync(key, s),
          ),
        onError: (key, error, failures) => {
          // The first failure and then every doubling at warn, so a stuck pod is visible without flooding.
          const level = (failures & (failures - 1)) === 0 ? 'warn' : 'debug';
          this.#logger[level]({ pod: key, err: errorMessage(error), failures }, 'pod sync failed; retrying');
          return undefined;
        },
      }),
      this.#status.run(signal),
      this.#poller?.run(signal),
    ]);
  }

  /**
   * An API update. The commonest one is the echo of our own status write, which needs nothing at
   * all; any other change of a live pod whose spec the provider already has needs no provider call,
   * only a look by the status manager, so it skips the provider-bound sync queue.
   */
  #onApiUpdate(previous: Pod, pod: Pod): void {
    const key = objectKey(pod);
    const record = this.#records.get(key);
    if (record && isOwnStatusEcho(previous, pod, record)) return;
    if (
      record?.provider === 'running' &&
      record.uid === pod.metadata?.uid &&
      record.retryNotBefore === undefined &&
      !pod.metadata?.deletionTimestamp &&
      !isTerminalPhase(pod.status?.phase) &&
      podUpdateFingerprint(pod) === record.fingerprint
    ) {
      this.#status.enqueue(key);
      return;
    }
    this.#queue.add(key);
  }

  /**
   * Adopts the pods the provider already runs (no second createPod after a restart) and deletes
   * the ones whose API pod is gone from this node.
   */
  async #reconcileAtStart(signal: AbortSignal): Promise<void> {
    let providerPods: Pod[];
    try {
      providerPods = await this.#callProvider(signal, (o) => this.#pods.getPods(o));
    } catch (error) {
      if (signal.aborted) return;
      this.#logger.warn({ err: errorMessage(error) }, 'could not list the provider pods at start; adopting none');
      return;
    }
    const orphans: Pod[] = [];
    let adopted = 0;
    for (const providerPod of providerPods) {
      const key = objectKey(providerPod);
      const apiPod = this.#informer.get(key);
      const providerUid = providerPod.metadata?.uid;
      if (!apiPod || (providerUid && apiPod.metadata?.uid !== providerUid)) {
        orphans.push(providerPod);
        continue;
      }
      const record = this.#records.ensure(key, apiPod);
      record.provider = 'running';
      // Running pods are not updated just because we restarted; only a changed image is news.
      record.fingerprint =
        podImages(providerPod) === podImages(apiPod) ? podUpdateFingerprint(apiPod) : podUpdateFingerprint(providerPod);
      if (providerPod.status) this.#records.storeProviderStatus(record, providerPod.status);
      adopted++;
    }
    if (orphans.length > 0) {
      this.#logger.info({ count: orphans.length }, 'deleting provider pods that no longer exist in the API');
      await mapConcurrently(orphans, this.#options.workers ?? 10, async (pod) => {
        try {
          await this.#callProvider(signal, (o) => this.#pods.deletePod(pod, o));
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
    if (adopted > 0) this.#logger.info({ count: adopted }, 'adopted running provider pods');
  }

  #forget(key: string): void {
    this.#records.forget(key);
    this.#status.forget(key);
    this.#poller?.forget(key);
  }

  /** A status pushed by the provider (or its poller): remember it and let the right queue act on it. */
  #onProviderStatus(pod: Pod): void {
    const key = objectKey(pod);
    const record = this.#records.get(key);
    if (!record) return; // not (or no longer) a pod of ours
    if (pod.metadata?.uid && record.uid && pod.metadata.uid !== record.uid) return;
    if (!pod.status || !this.#records.storeProviderStatus(record, pod.status)) return;
    // A live pod only needs the status written; a terminating or departed one may now be removed
    // or forgotten, which is the sync's to decide.
    const apiPod = this.#informer.get(key);
    if (apiPod && !apiPod.metadata?.deletionTimestamp) this.#status.enqueue(key);
    else this.#queue.add(key);
  }

  /**
   * The sync of one pod: what the API shows against what the provider has. It creates, updates or
   * deletes in the provider as needed and hands the pod to the status manager; it never writes
   * the pod's status itself. The result asks for another look later (a backoff, a wait).
   */
  async #sync(key: string, signal: AbortSignal): Promise<{ requeueAfterMs?: number } | undefined> {
    const apiPod = this.#informer.get(key);
    let record = this.#records.get(key);
    if (!apiPod) {
      await this.#syncGoneFromApi(key, record, signal);
      return undefined;
    }
    if (record && record.uid !== apiPod.metadata?.uid) {
      // Deleted and created again under the same name: the old one goes first.
      const old = this.#tombstones.get(key) ?? apiPod;
      if (record.provider === 'running') await this.#deleteInProvider(old, signal);
      this.#forget(key);
      record = undefined;
    }
    this.#tombstones.delete(key);
    record ??= this.#records.ensure(key, apiPod);
    if (apiPod.metadata?.deletionTimestamp) return this.#syncTerminating(key, apiPod, record, signal);
    if (isTerminalPhase(apiPod.status?.phase)) return undefined; // finished pods stay finished

    const fingerprint = podUpdateFingerprint(apiPod);
    const backoffLeft = (record.retryNotBefore ?? 0) - this.#clock.now();
    if (backoffLeft > 0 && fingerprint === record.failedFingerprint) {
      this.#status.enqueue(key);
      return { requeueAfterMs: backoffLeft };
    }
    if (record.provider === 'absent') {
      const created = await this.#create(key, apiPod, record, signal);
      if (!created) return { requeueAfterMs: CONFIG_WAIT_REQUEUE_MS };
    } else if (fingerprint !== record.fingerprint) {
      await this.#update(key, apiPod, record, fingerprint, signal);
    }
    record.retryNotBefore = undefined;
    this.#status.enqueue(key);
    return undefined;
  }

  /** Resolves the pod's environment, waiting for the caches it needs. */
  async #resolve(
    key: string,
    apiPod: Pod,
    record: PodRecord,
    podIPs?: string[],
  ): Promise<EnvironmentResolution | undefined> {
    if (this.#skipEnvironmentResolution) return undefined;
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
    this.#records.setDependencies(
      key,
      record,
      resolution.dependencies.map((d) => `${d.kind}/${d.namespace}/${d.name}`),
    );
    for (const event of resolution.events) this.#events.record(apiPod, event.type, event.reason, event.message);
    return resolution;
  }

  /** Creates the pod in the provider; false when it cannot be configured yet. */
  async #create(key: string, apiPod: Pod, record: PodRecord, signal: AbortSignal): Promise<boolean> {
    let resolution = await this.#resolve(key, apiPod, record);
    if (resolution?.error) {
      record.syntheticStatus = configErrorStatus(
        apiPod,
        resolution.error.reason,
        resolution.error.message,
        this.#statusContext(),
      );
      this.#status.enqueue(key);
      return false;
    }
    try {
      const allocatePodIPs = this.#provider.allocatePodIPs?.bind(this.#provider);
      if (resolution?.needsPodIP && allocatePodIPs) {
        // Only a pod that reads its own IP pays for a second resolution.
        const podIPs = await this.#callProvider(signal, (o) => allocatePodIPs(apiPod, o));
        resolution = await this.#resolve(key, apiPod, record, podIPs);
      }
      await this.#callProvider(signal, (o) => this.#pods.createPod(resolution?.pod ?? apiPod, o));
    } catch (error) {
      this.#providerFailed(key, apiPod, record, PodEventReason.CreateFailed, error);
      throw error;
    }
    record.provider = 'running';
    record.fingerprint = podUpdateFingerprint(apiPod);
    record.syntheticStatus = undefined;
    this.#events.record(apiPod, 'Normal', PodEventReason.CreateSuccess, 'Create pod in provider successfully');
    return true;
  }

  async #update(key: string, apiPod: Pod, record: PodRecord, fingerprint: string, signal: AbortSignal): Promise<void> {
    const resolution = await this.#resolve(
      key,
      apiPod,
      record,
      apiPod.status?.podIPs?.map((p) => p.ip ?? ''),
    );
    try {
      await this.#callProvider(signal, (o) =>
        this.#pods.updatePod(resolution && !resolution.error ? resolution.pod : apiPod, o),
      );
    } catch (error) {
      this.#providerFailed(key, apiPod, record, PodEventReason.UpdateFailed, error);
      throw error;
    }
    record.fingerprint = fingerprint;
    this.#events.record(apiPod, 'Normal', PodEventReason.UpdateSuccess, 'Update pod in provider successfully');
    if (this.#ephemeralUnsupported) {
      const reported = new Set((apiPod.status?.ephemeralContainerStatuses ?? []).map((c) => c.name));
      for (const container of apiPod.spec?.ephemeralContainers ?? []) {
        if (reported.has(container.name)) continue;
        this.#events.record(
          apiPod,
          'Warning',
          PodEventReason.EphemeralContainerUnsupported,
          `ephemeral container ${container.name} not started: ${this.#ephemeralUnsupported}`,
        );
      }
    }
  }

  /**
   * Records a provider failure: an event every time, and once failures reach the threshold (at
   * once for invalid input) a status that says so — Failed for restartPolicy Never, otherwise
   * Pending with reason ProviderFailed. The key keeps being retried with growing backoff.
   *
   * A pod the API shows as started was created by an earlier run: when the provider cannot take
   * it now (its backend is down, so the start could not adopt it) it most likely still runs
   * there, and a synthetic status — Failed, for restartPolicy Never — would end a pod that is
   * alive and let its controller start a second copy. Only the backend's refusal of the pod
   * itself (invalid input) is reported then.
   */
  #providerFailed(key: string, apiPod: Pod, record: PodRecord, reason: string, error: unknown): void {
    const message = errorMessage(error);
    this.#events.record(apiPod, 'Warning', reason, message);
    const failures = this.#queue.failures(key) + 1;
    record.failedFingerprint = podUpdateFingerprint(apiPod);
    record.retryNotBefore = this.#clock.now() + this.#queue.backoff(failures);
    const threshold = this.#options.failureThreshold ?? DEFAULT_FAILURE_THRESHOLD;
    this.#logger.warn({ pod: key, err: message, failures }, `provider call failed (${reason})`);
    if (record.provider !== 'absent') return;
    if (!isInvalidInput(error) && (failures < threshold || wasStarted(apiPod))) return;
    record.syntheticStatus = providerFailedStatus(apiPod, message, this.#statusContext());
    this.#status.enqueue(key);
  }

  /**
   * A pod with a deletionTimestamp: ask the provider to stop it, and once it has, hand the pod to
   * the status manager to be removed from the API (as the kubelet's status manager does), so the
   * sync workers, which bound the provider calls, do not wait on the API server's deletes.
   */
  async #syncTerminating(
    key: string,
    apiPod: Pod,
    record: PodRecord,
    signal: AbortSignal,
  ): Promise<{ requeueAfterMs?: number } | undefined> {
    if (record.provider === 'absent') return this.#remove(key, record);
    if (record.provider === 'running') {
      await this.#deleteInProvider(apiPod, signal, record);
      this.#events.record(apiPod, 'Normal', PodEventReason.DeleteSuccess, 'Delete pod in provider successfully');
    }
    if (record.provider === 'gone' || isProviderTerminal(record.providerStatus)) return this.#remove(key, record);
    const deadline =
      Date.parse(apiPod.metadata?.deletionTimestamp ?? '') + (this.#options.terminationSlackMs ?? 30_000);
    const remaining = deadline - this.#clock.now();
    if (remaining <= 0) {
      this.#logger.warn(
        { pod: key },
        'the provider did not finish terminating the pod in time; removing it from the API',
      );
      return this.#remove(key, record);
    }
    // The provider's report (pushed, or polled) wakes the pod sooner.
    return { requeueAfterMs: Math.min(remaining, TERMINATING_REQUEUE_MS) };
  }

  #remove(key: string, record: PodRecord): undefined {
    this.#status.remove(key, record);
    return undefined;
  }

  /** The pod left the API (deleted, or moved off this node): make sure the provider lets it go too. */
  async #syncGoneFromApi(key: string, record: PodRecord | undefined, signal: AbortSignal): Promise<void> {
    const tombstone = this.#tombstones.get(key);
    if (record && record.provider !== 'gone') {
      const { namespace, name } = splitKey(key);
      let providerPod: Pod | undefined;
      try {
        providerPod = await this.#callProvider(signal, (o) => this.#pods.getPod(namespace, name, o));
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
      await this.#callProvider(signal, (o) => this.#pods.deletePod(pod, o));
      if (record) record.provider = 'deleting';
    } catch (error) {
      if (!isNotFound(error)) {
        this.#events.record(pod, 'Warning', PodEventReason.DeleteFailed, errorMessage(error));
        throw error;
      }
      if (record) record.provider = 'gone';
    }
  }
}

function kubeTimeAt(ms: number): string {
  return kubeTime(new Date(ms));
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
