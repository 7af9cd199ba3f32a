/**
 * A work queue keyed by object, with client-go's semantics:
 *
 * - a key is queued at most once however often it is added ("dirty" set);
 * - a key is never processed by two workers at once: adding it while it is being processed
 *   marks it dirty, and it is queued again when the worker is done;
 * - `addAfter` schedules a key for later (the earliest of several requests wins);
 * - `addRateLimited` retries a failed key with per-key exponential backoff, and all retries
 *   together are held to an overall token bucket.
 *
 * Unlike the Go virtual-kubelet's queue, first adds are never rate limited: a burst of new pods
 * starts at once, and only retries are slowed down.
 */
import { backoffDelay } from '../util/backoff.ts';
import { type Clock, type ClockTimer, systemClock } from '../util/clock.ts';
import { Fifo } from '../util/fifo.ts';
import { TokenBucket } from './token-bucket.ts';

export interface WorkQueueOptions {
  /** For metrics and logs. */
  name: string;
  /** First retry delay. Default 5 ms. */
  baseDelayMs?: number;
  /** Longest retry delay. Default 5 minutes. */
  maxDelayMs?: number;
  /** Overall retries per second across all keys; 0 for no limit. Default 50. */
  retryQps?: number;
  /** Retries allowed in a burst. Default 100. */
  retryBurst?: number;
  metrics?: WorkQueueMetrics;
  /** Time for delays and backoff; default the real one. */
  clock?: Clock;
}

/** Callbacks the metrics module implements; each is optional. */
export interface WorkQueueMetrics {
  added?(queue: string): void;
  retried?(queue: string): void;
  /** Seconds between a key becoming ready and a worker taking it. */
  waited?(queue: string, seconds: number): void;
  /** Seconds a worker spent on a key. */
  worked?(queue: string, seconds: number): void;
}

/** What a handler may return to ask for its key again. */
export interface SyncResult {
  /** Process the key again after this many milliseconds (without counting a failure). */
  requeueAfterMs?: number;
}

export type SyncHandler = (key: string, signal: AbortSignal) => Promise<SyncResult | undefined>;

/** Called when a handler throws; return false to stop retrying the key. Default: log nothing, retry. */
export type SyncErrorHandler = (key: string, error: unknown, failures: number) => boolean | undefined;

interface Delayed {
  key: string;
  readyAt: number;
}

export class WorkQueue {
  readonly name: string;
  readonly #baseDelayMs: number;
  readonly #maxDelayMs: number;
  readonly #retryBucket: TokenBucket;
  readonly #metrics: WorkQueueMetrics | undefined;
  readonly #clock: Clock;

  readonly #queue = new Fifo<string>();
  /** Keys waiting to be processed, with the time they became ready (for the wait metric). */
  readonly #dirty = new Map<string, number>();
  readonly #processing = new Set<string>();
  readonly #failures = new Map<string, number>();

  /** Min-heap of delayed keys; `#delayedAt` holds each key's earliest time (stale heap entries are skipped). */
  #heap: Delayed[] = [];
  readonly #delayedAt = new Map<string, number>();
  #timer: ClockTimer | undefined;
  #timerAt = Number.POSITIVE_INFINITY;

  #waiters: ((key: string | undefined) => void)[] = [];
  #shutDown = false;

  constructor(options: WorkQueueOptions) {
    this.name = options.name;
    this.#baseDelayMs = options.baseDelayMs ?? 5;
    this.#maxDelayMs = options.maxDelayMs ?? 300_000;
    this.#retryBucket = new TokenBucket(options.retryQps ?? 50, options.retryBurst ?? 100);
    this.#metrics = options.metrics;
    this.#clock = options.clock ?? systemClock;
  }

  /** Keys ready to be processed and not yet taken. */
  get length(): number {
    return this.#queue.length;
  }

  /** Keys scheduled for later. */
  get delayed(): number {
    return this.#delayedAt.size;
  }

  /** Keys a worker is processing now. */
  get processing(): number {
    return this.#processing.size;
  }

  /** Queues `key` now. */
  add(key: string): void {
    if (this.#shutDown) return;
    this.#delayedAt.delete(key);
    if (this.#dirty.has(key)) return;
    this.#metrics?.added?.(this.name);
    this.#dirty.set(key, performance.now());
    if (this.#processing.has(key)) return; // queued again when its worker is done
    this.#push(key);
  }

  /** Queues `key` after `delayMs`, unless it is already due earlier. */
  addAfter(key: string, delayMs: number): void {
    if (this.#shutDown) return;
    if (delayMs <= 0) {
      this.add(key);
      return;
    }
    if (this.#dirty.has(key) && !this.#processing.has(key)) return; // already queued to run now
    const readyAt = this.#clock.now() + delayMs;
    const existing = this.#delayedAt.get(key);
    if (existing !== undefined && existing <= readyAt) return;
    this.#delayedAt.set(key, readyAt);
    this.#heapPush({ key, readyAt });
    this.#armTimer();
  }

  /** The backoff after the `failures`-th consecutive failure: the base delay, doubling, capped. */
  backoff(failures: number): number {
    return backoffDelay(Math.min(failures - 1, 40), { initialMs: this.#baseDelayMs, maxMs: this.#maxDelayMs });
  }

  /** Queues `key` again after its backoff (doubling per failure) or the overall retry limit, whichever is later. */
  addRateLimited(key: string): void {
    const failures = (this.#failures.get(key) ?? 0) + 1;
    this.#failures.set(key, failures);
    const backoff = this.backoff(failures);
    const bucketDelay = this.#retryBucket.reserve();
    this.#metrics?.retried?.(this.name);
    this.addAfter(key, Math.max(backoff, bucketDelay));
  }

  /** Clears the failure count of `key` (after a success). */
  forget(key: string): void {
    this.#failures.delete(key);
  }

  /** How many times in a row `key` has failed. */
  failures(key: string): number {
    return this.#failures.get(key) ?? 0;
  }

  #push(key: string): void {
    const waiter = this.#waiters.shift();
    if (waiter) {
      this.#take(key);
      waiter(key);
      return;
    }
    this.#queue.push(key);
  }

  #take(key: string): void {
    const readySince = this.#dirty.get(key);
    this.#dirty.delete(key);
    this.#processing.add(key);
    if (readySince !== undefined) this.#metrics?.waited?.(this.name, (performance.now() - readySince) / 1000);
  }

  /** The next key, waiting for one if the queue is empty; undefined once the queue is shut down. */
  #next(): Promise<string | undefined> {
    const key = this.#queue.shift();
    if (key !== undefined) {
      this.#take(key);
      return Promise.resolve(key);
    }
    if (this.#shutDown) return Promise.resolve(undefined);
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  #done(key: string): void {
    this.#processing.delete(key);
    if (this.#dirty.has(key)) this.#push(key);
  }

  #heapPush(item: Delayed): void {
    const heap = this.#heap;
    heap.push(item);
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if ((heap[parent] as Delayed).readyAt <= item.readyAt) break;
      heap[i] = heap[parent] as Delayed;
      i = parent;
    }
    heap[i] = item;
  }

  #heapPop(): Delayed | undefined {
    const heap = this.#heap;
    const top = heap[0];
    const last = heap.pop();
    if (heap.length > 0 && last) {
      let i = 0;
      for (;;) {
        const left = 2 * i + 1;
        const right = left + 1;
        let smallest = i;
        let smallestAt = last.readyAt;
        if (left < heap.length && (heap[left] as Delayed).readyAt < smallestAt) {
          smallest = left;
          smallestAt = (heap[left] as Delayed).readyAt;
        }
        if (right < heap.length && (heap[right] as Delayed).readyAt < smallestAt) smallest = right;
        if (smallest === i) break;
        heap[i] = heap[smallest] as Delayed;
        i = smallest;
      }
      heap[i] = last;
    }
    return top;
  }

  #armTimer(): void {
    const top = this.#heap[0];
    if (!top || this.#shutDown) return;
    if (this.#timer && this.#timerAt <= top.readyAt) return;
    if (this.#timer) this.#clock.clearTimeout(this.#timer);
    this.#timerAt = top.readyAt;
    this.#timer = this.#clock.setTimeout(() => this.#releaseDue(), Math.max(0, top.readyAt - this.#clock.now()));
  }

  #releaseDue(): void {
    this.#timer = undefined;
    this.#timerAt = Number.POSITIVE_INFINITY;
    const now = this.#clock.now();
    for (let top = this.#heap[0]; top && top.readyAt <= now + 1; top = this.#heap[0]) {
      this.#heapPop();
      if (this.#delayedAt.get(top.key) === top.readyAt) {
        this.#delayedAt.delete(top.key);
        this.add(top.key);
      }
    }
    this.#armTimer();
  }

  /**
   * Runs `workers` concurrent workers until `signal` aborts. Each key is handed to `handler`;
   * a throw retries the key with backoff (unless `onError` returns false), a `requeueAfterMs`
   * result schedules it again, and a plain success clears its failure count.
   */
  async run(options: {
    workers: number;
    handler: SyncHandler;
    onError?: SyncErrorHandler;
    signal: AbortSignal;
  }): Promise<void> {
    const { signal } = options;
    const stop = () => this.shutDown();
    // A signal aborted before the run began (a stop during start-up) fires no event any more.
    if (signal.aborted) stop();
    else signal.addEventListener('abort', stop, { once: true });
    const worker = async () => {
      for (let key = await this.#next(); key !== undefined; key = await this.#next()) {
        const started = performance.now();
        try {
          const result = await options.handler(key, signal);
          if (result?.requeueAfterMs !== undefined) {
            this.addAfter(key, result.requeueAfterMs);
          } else {
            this.forget(key);
          }
        } catch (error) {
          if (signal.aborted) break;
          const retry = options.onError?.(key, error, this.failures(key) + 1);
          if (retry === false) this.forget(key);
          else this.addRateLimited(key);
        } finally {
          this.#metrics?.worked?.(this.name, (performance.now() - started) / 1000);
          this.#done(key);
        }
      }
    };
    try {
      await Promise.all(Array.from({ length: Math.max(1, options.workers) }, worker));
    } finally {
      signal.removeEventListener('abort', stop);
    }
  }

  /** Stops handing out keys; workers finish their current key and return. */
  shutDown(): void {
    this.#shutDown = true;
    if (this.#timer) this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    for (const waiter of this.#waiters.splice(0)) waiter(undefined);
  }
}
