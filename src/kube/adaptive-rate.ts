/**
 * The client's request rate as the API server would have it: additive increase, multiplicative
 * decrease (AIMD, as TCP's congestion window), driven by the server's own flow control. The
 * Kubernetes API server protects itself with API Priority and Fairness, which answers 429 with
 * `Retry-After` when this client's priority level is full; a fixed client limit below what the
 * server accepts throws throughput away, one above it is load the server must refuse. So the rate
 * starts at the cap (`--kube-api-qps`), halves on a 429, and climbs back linearly while the server
 * accepts. The cap is never exceeded: the flag keeps working as a cap.
 *
 * Pure: the caller passes the time, so the decisions are unit-tested without timers.
 */
export interface AdaptiveRateOptions {
  /** The cap, requests a second (`--kube-api-qps`). */
  maxQps: number;
  /** The rate never goes below this. Default: a twentieth of the cap, at least 1. */
  minQps?: number;
  /** Requests a second added for each second without a 429. Default: a tenth of the cap (floor to cap in about ten seconds). */
  increasePerSecond?: number;
  /** What a 429 multiplies the rate by. Default 0.5. */
  decreaseFactor?: number;
}

/** A 429 arriving within this long of a decrease answers the same overload (a full window of requests was in flight). */
const MIN_CALM_MS = 1000;

export class AdaptiveRate {
  readonly maxQps: number;
  readonly minQps: number;
  readonly increasePerSecond: number;
  readonly decreaseFactor: number;
  #qps: number;
  /** Since when the rate has been growing (the last change, or the end of the calm after a decrease). */
  #since = 0;
  /** Until then, no second decrease and no increase: the requests already in flight answer the old rate. */
  #calmUntil = Number.NEGATIVE_INFINITY;

  constructor(options: AdaptiveRateOptions) {
    if (!(options.maxQps > 0) || !Number.isFinite(options.maxQps)) {
      throw new RangeError(`an adaptive rate needs a finite cap above 0, got ${options.maxQps}`);
    }
    this.maxQps = options.maxQps;
    this.minQps = Math.min(this.maxQps, options.minQps ?? Math.max(1, this.maxQps / 20));
    this.increasePerSecond = options.increasePerSecond ?? this.maxQps / 10;
    this.decreaseFactor = options.decreaseFactor ?? 0.5;
    this.#qps = this.maxQps;
  }

  /** The rate now, requests a second. */
  get qps(): number {
    return this.#qps;
  }

  /**
   * The server answered 429 (or 5xx with `Retry-After`): decrease, once per calm window (the
   * longer of one second and `Retry-After`), so a window of concurrent refusals halves the rate
   * once, not once per refusal. Returns the new rate.
   */
  throttled(now: number, retryAfterMs: number): number {
    if (now < this.#calmUntil) return this.#qps;
    this.#qps = Math.max(this.minQps, this.#qps * this.decreaseFactor);
    this.#calmUntil = now + Math.max(MIN_CALM_MS, retryAfterMs);
    this.#since = this.#calmUntil;
    return this.#qps;
  }

  /** The server accepted a request: grow by `increasePerSecond` for the time since the last change, up to the cap. Returns the new rate. */
  accepted(now: number): number {
    if (this.#qps >= this.maxQps || now <= this.#since) return this.#qps;
    this.#qps = Math.min(this.maxQps, this.#qps + (this.increasePerSecond * (now - this.#since)) / 1000);
    this.#since = now;
    return this.#qps;
  }
}
