/**
 * Records Kubernetes Events (what `kubectl describe` shows) without ever slowing the caller:
 * `record()` only queues; a few background senders write to the API, at most `qps` a second
 * (the kubelet's `--event-qps`, 50 with a burst of 100), so that under a burst of pods the
 * writes that matter — pod status — are not crowded out. Like client-go's
 * correlator, a repeat of the same event (object, type, reason, message) within ten minutes
 * bumps the existing Event's `count` instead of creating a new one, and the queue is bounded:
 * under overload the oldest unsent events are dropped and counted.
 */
import type { Event, ObjectReference } from 'kubernetes-types/core/v1.js';
import type { Logger } from 'pino';
import { errorMessage, isNotFound } from '../errors.ts';
import { Wakeup } from '../util/sleep.ts';
import type { KubeClient } from './client.ts';
import { Events, type KubeObject } from './resources.ts';
import { kubeTime } from './time.ts';
import { TokenBucket } from './token-bucket.ts';

export type EventType = 'Normal' | 'Warning';

/** What components record events with; tests and library users may pass their own. */
export interface EventRecorder {
  record(object: KubeObject, type: EventType, reason: string, message: string): void;
}

/** An EventRecorder that does nothing. */
export const noEvents: EventRecorder = { record() {} };

export interface KubeEventRecorderOptions {
  client: KubeClient;
  /** `source.component` and `reportingComponent`. */
  component: string;
  /** `source.host`: the node name. */
  host: string;
  logger?: Logger;
  /** Unsent events kept at most. Default 10 000. */
  maxQueued?: number;
  /** Concurrent API writes. Default 4. */
  senders?: number;
  /** Events written per second, and in a burst; 0 for no limit. Defaults 50 and 100, as the kubelet. */
  qps?: number;
  burst?: number;
}

interface Pending {
  reference: ObjectReference;
  type: EventType;
  reason: string;
  message: string;
  at: Date;
}

interface Sent {
  namespace: string;
  name: string;
  count: number;
  firstTimestamp: string;
  sentAt: number;
}

const CORRELATION_WINDOW_MS = 10 * 60_000;
const MAX_CORRELATED = 4096;

export class KubeEventRecorder implements EventRecorder {
  readonly #options: KubeEventRecorderOptions;
  #queue: (Pending | undefined)[] = [];
  #head = 0;
  readonly #wakeup = new Wakeup();
  readonly #limiter: TokenBucket;
  readonly #sent = new Map<string, Sent>();
  #sequence = 0;
  /** Events dropped because the queue was full. */
  dropped = 0;
  /** Events written (created or bumped). */
  written = 0;

  constructor(options: KubeEventRecorderOptions) {
    this.#options = options;
    this.#limiter = new TokenBucket(options.qps ?? 50, options.burst ?? 100);
  }

  get queued(): number {
    return this.#queue.length - this.#head;
  }

  record(object: KubeObject, type: EventType, reason: string, message: string): void {
    const metadata = object.metadata ?? {};
    const reference: ObjectReference = {
      apiVersion: object.apiVersion ?? 'v1',
      kind: object.kind ?? 'Pod',
      name: metadata.name ?? '',
      ...(metadata.namespace ? { namespace: metadata.namespace } : {}),
      ...(metadata.uid ? { uid: metadata.uid } : {}),
    };
    if (this.queued >= (this.#options.maxQueued ?? 10_000)) {
      this.#queue[this.#head++] = undefined;
      this.dropped++;
    }
    this.#queue.push({ reference, type, reason, message: message.slice(0, 1024), at: new Date() });
    this.#wakeup.wake();
  }

  /** Sends queued events until `signal` aborts. */
  async run(signal: AbortSignal): Promise<void> {
    const sender = async () => {
      while (!signal.aborted) {
        const next = this.#take();
        if (!next) {
          await this.#wakeup.wait(Number.POSITIVE_INFINITY, signal);
          continue;
        }
        try {
          await this.#limiter.take(signal);
          await this.#send(next, signal);
          this.written++;
        } catch (error) {
          if (signal.aborted) return;
          this.#options.logger?.debug({ err: errorMessage(error), reason: next.reason }, 'could not record event');
        }
      }
    };
    await Promise.all(Array.from({ length: this.#options.senders ?? 4 }, sender));
  }

  #take(): Pending | undefined {
    while (this.#head < this.#queue.length) {
      const item = this.#queue[this.#head];
      this.#queue[this.#head++] = undefined;
      if (this.#head > 1024 && this.#head * 2 > this.#queue.length) {
        this.#queue = this.#queue.slice(this.#head);
        this.#head = 0;
      }
      if (item) return item;
    }
    return undefined;
  }

  async #send(pending: Pending, signal: AbortSignal): Promise<void> {
    const { reference, type, reason, message, at } = pending;
    const correlationKey = `${reference.uid ?? `${reference.namespace}/${reference.name}`}\u0000${type}\u0000${reason}\u0000${message}`;
    const previous = this.#sent.get(correlationKey);
    const now = kubeTime(at);
    if (previous && Date.now() - previous.sentAt < CORRELATION_WINDOW_MS) {
      previous.count++;
      previous.sentAt = Date.now();
      try {
        await this.#options.client.patch(
          Events,
          { namespace: previous.namespace, name: previous.name },
          { count: previous.count, lastTimestamp: now },
          'merge',
          // The recorder's own limit (--event-qps) is the events' budget; status writes keep the client's.
          { signal, ownBudget: true, answer: 'resourceVersion' },
        );
        return;
      } catch (error) {
        if (!isNotFound(error)) throw error;
        this.#sent.delete(correlationKey); // expired or deleted: create a fresh one
      }
    }
    const namespace = reference.namespace ?? 'default';
    const name = `${reference.name}.${(BigInt(at.getTime()) * 1_000_000n + BigInt(this.#sequence++ % 1_000_000)).toString(16)}`;
    const event: Event = {
      metadata: { name, namespace },
      involvedObject: reference,
      reason,
      message,
      type,
      source: { component: this.#options.component, host: this.#options.host },
      firstTimestamp: now,
      lastTimestamp: now,
      count: 1,
      reportingComponent: this.#options.component,
      reportingInstance: this.#options.host,
    };
    await this.#options.client.create(Events, event, { signal, ownBudget: true, answer: 'resourceVersion' });
    this.#sent.set(correlationKey, { namespace, name, count: 1, firstTimestamp: now, sentAt: Date.now() });
    if (this.#sent.size > MAX_CORRELATED) {
      const oldest = this.#sent.keys().next().value;
      if (oldest !== undefined) this.#sent.delete(oldest);
    }
  }
}
