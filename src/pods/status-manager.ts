/**
 * The status side of the pod controller, as the kubelet's status manager: writes to the API what
 * is known of each pod — the status computed from the provider's report (or the controller's own,
 * for a config error or a provider failure), and for a terminating pod the provider is done with,
 * its removal from the API.
 *
 * Its queue is separate from the sync queue: provider calls (a few at a time, as a provider can
 * take) never hold up API writes, which need many in flight to keep up with a busy API server, and
 * several reports for a pod that arrive while its write waits become one write. A write is made
 * only when the API's status differs from the one wanted, and never from a cache that has not yet
 * seen our previous write (that would repeat it).
 */
import type { Pod, PodStatus } from 'kubernetes-types/core/v1.js';
import type { Logger } from 'pino';
import { errorMessage, isConflict, isNotFound } from '../errors.ts';
import type { KubeApi } from '../kube/client.ts';
import { Pods, splitKey } from '../kube/resources.ts';
import { WorkQueue, type WorkQueueMetrics } from '../kube/work-queue.ts';
import { podStatusChannel, traced } from '../tracing/channels.ts';
import type { Clock } from '../util/clock.ts';
import type { PodRecord, PodRecords } from './pod-records.ts';
import { desiredPodStatus, isTerminalPhase, podStatusPatch, type StatusContext } from './pod-status.ts';

export interface PodStatusManagerOptions {
  client: KubeApi;
  records: PodRecords;
  /** The API's pod from the informer's cache. */
  apiPod: (key: string) => Pod | undefined;
  statusContext: () => StatusContext;
  logger: Logger;
  /** Concurrent writes. Default 64. */
  workers?: number;
  retryBaseDelayMs?: number;
  retryMaxDelayMs?: number;
  retryQps?: number;
  queueMetrics?: WorkQueueMetrics;
  clock?: Clock;
}

/** What a pod's status is computed from: the controller's own status, else the provider's report. */
function statusSource(record: PodRecord): PodStatus | undefined {
  return record.syntheticStatus ?? record.providerStatus;
}

/**
 * True when an API update of a live pod is exactly the echo of our last status write: from the
 * version the write replaced to the version it made, with nothing new to write from since. Such an
 * update changed only the status, to what we wrote, so it needs neither a sync nor a status look —
 * at one echo a pod, that skipped a status computation, a fingerprint and a queue round a pod.
 */
export function isOwnStatusEcho(previous: Pod, pod: Pod, record: PodRecord): boolean {
  const version = pod.metadata?.resourceVersion;
  return (
    version !== undefined &&
    version === record.writtenVersion &&
    previous.metadata?.resourceVersion === record.replacedVersion &&
    record.writtenFrom !== undefined &&
    record.writtenFrom === statusSource(record) &&
    record.uid === pod.metadata?.uid &&
    !pod.metadata?.deletionTimestamp &&
    !isTerminalPhase(pod.status?.phase)
  );
}

export class PodStatusManager {
  readonly #options: PodStatusManagerOptions;
  readonly queue: WorkQueue;

  constructor(options: PodStatusManagerOptions) {
    this.#options = options;
    this.queue = new WorkQueue({
      name: 'pod-status',
      baseDelayMs: options.retryBaseDelayMs ?? 100,
      // Status writes are retried sooner than provider calls: the API server recovers fast.
      maxDelayMs: Math.min(options.retryMaxDelayMs ?? 300_000, 60_000),
      retryQps: options.retryQps ?? 50,
      metrics: options.queueMetrics,
      clock: options.clock,
    });
  }

  /** Brings the pod's API status up to date soon. */
  enqueue(key: string): void {
    this.queue.add(key);
  }

  /** Asks for a terminating pod to be removed from the API (the provider is done with it). */
  remove(key: string, record: PodRecord): void {
    record.apiRemoval ??= 'wanted';
    this.queue.add(key);
  }

  /** Forgets the key's failures (the pod is gone). */
  forget(key: string): void {
    this.queue.forget(key);
  }

  run(signal: AbortSignal): Promise<void> {
    return this.queue.run({
      workers: this.#options.workers ?? 64,
      signal,
      handler: (key, s) =>
        traced(
          podStatusChannel,
          () => ({ key, pod: this.#options.apiPod(key) }),
          () => this.#write(key, s),
        ),
      onError: (key, error, failures) => {
        // The first failure and then every doubling at warn, so a stuck pod is visible without flooding.
        const level = (failures & (failures - 1)) === 0 ? 'warn' : 'debug';
        this.#options.logger[level](
          { pod: key, err: errorMessage(error), failures },
          'pod status write failed; retrying',
        );
        return undefined;
      },
    });
  }

  async #write(key: string, signal: AbortSignal): Promise<undefined> {
    const apiPod = this.#options.apiPod(key);
    const record = this.#options.records.get(key);
    if (!apiPod || !record || record.uid !== apiPod.metadata?.uid) return undefined;
    if (apiPod.metadata?.deletionTimestamp) {
      if (record.apiRemoval === 'wanted') {
        await this.#deleteFromApi(key, apiPod, signal);
        record.apiRemoval = 'sent';
      }
      return undefined;
    }
    if (isTerminalPhase(apiPod.status?.phase)) return undefined; // finished pods stay finished
    await this.#writeStatus(apiPod, record, signal);
    return undefined;
  }

  /** Writes the status the API should show, if it does not already. */
  async #writeStatus(apiPod: Pod, record: PodRecord, signal: AbortSignal): Promise<void> {
    const source = statusSource(record);
    let desired: PodStatus | undefined;
    if (record.syntheticStatus) desired = record.syntheticStatus;
    else if (record.providerStatus)
      desired = desiredPodStatus(apiPod, record.providerStatus, this.#options.statusContext());
    if (!desired) return;
    const version = apiPod.metadata?.resourceVersion;
    // The watch event of our last write requeues the pod; anything newer is written then.
    if (version !== undefined && version === record.replacedVersion) return;
    const patch = podStatusPatch(apiPod, desired);
    if (!patch) return;
    const { namespace = '', name = '' } = apiPod.metadata ?? {};
    try {
      const written = await this.#options.client.patch(
        Pods,
        { namespace, name, subresource: 'status' },
        patch,
        'strategic',
        { signal, answer: 'resourceVersion' },
      );
      // A write the server found to change nothing keeps the version, and brings no watch event to wait for.
      const changed = written.resourceVersion !== version;
      record.replacedVersion = changed ? version : undefined;
      record.writtenVersion = changed ? written.resourceVersion : undefined;
      record.writtenFrom = changed ? source : undefined;
    } catch (error) {
      // Gone or re-created meanwhile: the informer brings the news and the key is synced again.
      if (isNotFound(error) || isConflict(error)) return;
      throw error;
    }
  }

  /** The final removal of a terminated pod: grace 0, and only the pod we know (uid precondition). */
  async #deleteFromApi(key: string, apiPod: Pod, signal: AbortSignal): Promise<void> {
    const { namespace, name } = splitKey(key);
    try {
      await this.#options.client.delete(
        Pods,
        { namespace, name },
        { gracePeriodSeconds: 0, preconditions: { uid: apiPod.metadata?.uid ?? '' }, answer: 'metadata', signal },
      );
    } catch (error) {
      if (!isNotFound(error) && !isConflict(error)) throw error;
    }
  }
}
