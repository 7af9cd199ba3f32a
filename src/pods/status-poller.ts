/**
 * Makes a provider without `notifyPods` a {@link PodNotifier}, so that the pod controller has one
 * status path for every provider (the Go implementation's `syncProviderWrapper` has the same job).
 *
 * It stands between the controller and the provider's lifecycle calls and keeps the pods the
 * provider has (created, adopted, being deleted). Each is polled on its own schedule through a
 * work queue (bounded concurrency, never two polls of one pod at once): every `intervalMs` while
 * it runs, every `terminatingIntervalMs` while it is being deleted, and at once after a create or
 * a delete. A report that differs from the last one is pushed to the controller.
 *
 * A pod the provider no longer finds is reported terminated when it was being deleted, and failed
 * with reason `NotFound` when it had been running (as the Go implementation reports it); one the
 * provider has not yet shown is asked again. Unlike Go's wrapper, a delete is not reported
 * finished until the provider says so.
 */
import type { Pod, PodStatus } from 'kubernetes-types/core/v1.js';
import type { Logger } from 'pino';
import { errorMessage, isNotFound } from '../errors.ts';
import { objectKey, splitKey } from '../kube/resources.ts';
import { kubeTime } from '../kube/time.ts';
import { WorkQueue } from '../kube/work-queue.ts';
import type { PodLifecycleHandler, PodNotifier, ProviderCallOptions } from '../provider/contracts.ts';
import type { Clock } from '../util/clock.ts';
import { contentDigest } from './pod-fingerprint.ts';
import { isProviderTerminal, isTerminalPhase } from './pod-status.ts';
import { callProvider } from './provider-call.ts';

export interface StatusPollerOptions {
  /** A running pod is asked this often. Default 5 s. */
  intervalMs?: number;
  /** A pod being deleted is asked this often. Default 1 s. */
  terminatingIntervalMs?: number;
  /** Polls in flight. Default 32. */
  concurrency?: number;
  /** Limit of one getPodStatus call. */
  timeoutMs: number;
  logger: Logger;
  clock?: Clock;
}

interface Polled {
  pod: Pod;
  deleting: boolean;
  /** The last report pushed, and its digest, to push only changes. */
  status?: PodStatus;
  digest?: string;
}

export class StatusPoller implements PodLifecycleHandler, PodNotifier {
  readonly #provider: PodLifecycleHandler;
  readonly #options: StatusPollerOptions;
  readonly #polled = new Map<string, Polled>();
  readonly #queue: WorkQueue;
  #notify: (pod: Pod) => void = () => {};

  constructor(provider: PodLifecycleHandler, options: StatusPollerOptions) {
    this.#provider = provider;
    this.#options = options;
    this.#queue = new WorkQueue({ name: 'pod-status-poll', clock: options.clock });
  }

  /** Pods being polled. */
  get size(): number {
    return this.#polled.size;
  }

  notifyPods(callback: (pod: Pod) => void): void {
    this.#notify = callback;
  }

  /** Polls until `signal` aborts. */
  run(signal: AbortSignal): Promise<void> {
    return this.#queue.run({
      workers: this.#options.concurrency ?? 32,
      signal,
      handler: (key, s) => this.#poll(key, s),
    });
  }

  /** Stops polling a pod the controller no longer tracks. */
  forget(key: string): void {
    this.#polled.delete(key);
  }

  async createPod(pod: Pod, options: ProviderCallOptions): Promise<void> {
    await this.#provider.createPod(pod, options);
    const key = objectKey(pod);
    this.#polled.set(key, { pod, deleting: false });
    this.#queue.add(key);
  }

  async updatePod(pod: Pod, options: ProviderCallOptions): Promise<void> {
    await this.#provider.updatePod(pod, options);
    const polled = this.#polled.get(objectKey(pod));
    if (polled) polled.pod = pod;
  }

  async deletePod(pod: Pod, options: ProviderCallOptions): Promise<void> {
    const key = objectKey(pod);
    try {
      await this.#provider.deletePod(pod, options);
    } catch (error) {
      if (isNotFound(error)) this.#polled.delete(key);
      throw error;
    }
    const polled = this.#polled.get(key) ?? { pod };
    this.#polled.set(key, { ...polled, pod, deleting: true });
    this.#queue.add(key);
  }

  getPod(namespace: string, name: string, options: ProviderCallOptions): Promise<Pod | undefined> {
    return this.#provider.getPod(namespace, name, options);
  }

  getPodStatus(namespace: string, name: string, options: ProviderCallOptions): Promise<PodStatus | undefined> {
    return this.#provider.getPodStatus(namespace, name, options);
  }

  /** The provider's pods, which are polled from now on (adopted at start). */
  async getPods(options: ProviderCallOptions): Promise<Pod[]> {
    const pods = await this.#provider.getPods(options);
    for (const pod of pods) {
      const key = objectKey(pod);
      if (this.#polled.has(key)) continue;
      this.#polled.set(key, {
        pod,
        deleting: false,
        ...(pod.status ? { status: pod.status, digest: contentDigest(pod.status) } : {}),
      });
      this.#queue.addAfter(key, this.#options.intervalMs ?? 5_000);
    }
    return pods;
  }

  async #poll(key: string, signal: AbortSignal): Promise<{ requeueAfterMs?: number } | undefined> {
    const polled = this.#polled.get(key);
    if (!polled) return undefined;
    const { namespace, name } = splitKey(key);
    const again = {
      requeueAfterMs: polled.deleting
        ? (this.#options.terminatingIntervalMs ?? 1_000)
        : (this.#options.intervalMs ?? 5_000),
    };
    let status: PodStatus | undefined;
    try {
      status = await callProvider(signal, this.#options.timeoutMs, (o) =>
        this.#provider.getPodStatus(namespace, name, o),
      );
    } catch (error) {
      if (!isNotFound(error)) {
        if (signal.aborted) return undefined;
        this.#options.logger.debug({ pod: key, err: errorMessage(error) }, 'getPodStatus failed');
        return again;
      }
    }
    if (this.#polled.get(key) !== polled) return undefined; // forgotten or replaced meanwhile
    if (!status) {
      if (polled.deleting) {
        this.#polled.delete(key);
        this.#push(polled, terminatedReport(polled.pod, polled.status));
        return undefined;
      }
      if (polled.status?.phase === 'Running') {
        this.#polled.delete(key);
        this.#push(polled, vanishedReport(polled.pod, polled.status));
        return undefined;
      }
      return again; // not shown yet (an asynchronous create): ask again
    }
    this.#push(polled, status);
    if (polled.deleting && isProviderTerminal(status)) {
      this.#polled.delete(key);
      return undefined;
    }
    // A finished pod's status does not change until it is deleted, which polls it again.
    if (!polled.deleting && isTerminalPhase(status.phase)) return undefined;
    return again;
  }

  #push(polled: Polled, status: PodStatus): void {
    const digest = contentDigest(status);
    if (digest === polled.digest) return;
    polled.digest = digest;
    polled.status = status;
    this.#notify({ ...polled.pod, status });
  }
}

/** A deleted pod the provider has let go of: every container terminated. */
function terminatedReport(pod: Pod, last: PodStatus | undefined): PodStatus {
  const now = kubeTime();
  const known = new Map((last?.containerStatuses ?? []).map((c) => [c.name, c]));
  return {
    phase: 'Succeeded',
    reason: 'Terminated',
    containerStatuses: (pod.spec?.containers ?? []).map((c) => {
      const status = known.get(c.name);
      return {
        name: c.name,
        image: c.image ?? '',
        imageID: status?.imageID ?? '',
        ready: false,
        restartCount: status?.restartCount ?? 0,
        state: status?.state?.terminated
          ? { terminated: status.state.terminated }
          : {
              terminated: {
                exitCode: 0,
                reason: 'Terminated',
                message: 'Container was terminated. The exit code may not reflect the real exit code',
                startedAt: status?.state?.running?.startedAt ?? now,
                finishedAt: now,
              },
            },
      };
    }),
  };
}

/** A running pod the provider lost: what the Go implementation reports. */
function vanishedReport(pod: Pod, last: PodStatus): PodStatus {
  const now = kubeTime();
  const known = new Map((last.containerStatuses ?? []).map((c) => [c.name, c]));
  return {
    phase: 'Failed',
    reason: 'NotFound',
    message: 'The pod status was not found and may have been deleted from the provider',
    containerStatuses: (pod.spec?.containers ?? []).map((c) => ({
      name: c.name,
      image: c.image ?? '',
      imageID: '',
      ready: false,
      restartCount: known.get(c.name)?.restartCount ?? 0,
      state: {
        terminated: {
          exitCode: 137,
          reason: 'NotFound',
          message: 'The container could not be located when the pod was deleted. The container used to be Running',
          startedAt: known.get(c.name)?.state?.running?.startedAt ?? now,
          finishedAt: now,
        },
      },
    })),
  };
}
