/**
 * A token bucket: `qps` tokens a second, at most `burst` saved up. Used for the Kubernetes
 * client's request rate (client-go's QPS/Burst) and for the work queue's overall limit.
 *
 * Waiters are served in order with one timer for the whole queue, so ten thousand waiting
 * requests cost ten thousand array slots and no more.
 */
export class TokenBucket {
  #qps: number;
  readonly burst: number;
  #tokens: number;
  #last: number;
  #waiters: ({ resolve: () => void; settled: boolean } | undefined)[] = [];
  #head = 0;
  /** Waiters whose signal aborted and that are still in the queue (skipped when reached). */
  #abandoned = 0;
  #timer: NodeJS.Timeout | undefined;

  /** `qps <= 0` (or Infinity) means unlimited. */
  constructor(qps: number, burst: number) {
    this.#qps = qps > 0 ? qps : Number.POSITIVE_INFINITY;
    this.burst = Math.max(1, burst);
    this.#tokens = this.burst;
    this.#last = performance.now();
  }

  /** Tokens added a second (Infinity: unlimited). */
  get qps(): number {
    return this.#qps;
  }

  /**
   * Changes the rate from now on (an adaptive limit follows the server's answers). A lower rate
   * also spends what was saved up: the server said it is full, so a saved burst must not hit it.
   */
  setRate(qps: number): void {
    if (this.unlimited || !(qps > 0) || qps === this.#qps) return;
    this.#refill(performance.now());
    if (qps < this.#qps) this.#tokens = Math.min(this.#tokens, 0);
    this.#qps = qps;
    if (this.#timer) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
      this.#schedule();
    }
  }

  get unlimited(): boolean {
    return this.#qps === Number.POSITIVE_INFINITY;
  }

  /** Requests waiting for a token (not those that gave up). */
  get waiting(): number {
    return this.#waiters.length - this.#head - this.#abandoned;
  }

  #refill(now: number): void {
    this.#tokens = Math.min(this.burst, this.#tokens + ((now - this.#last) / 1000) * this.#qps);
    this.#last = now;
  }

  /** Takes a token if one is there now, without waiting. */
  tryTake(): boolean {
    if (this.unlimited) return true;
    if (this.waiting > 0) return false;
    this.#refill(performance.now());
    if (this.#tokens >= 1) {
      this.#tokens -= 1;
      return true;
    }
    return false;
  }

  /**
   * The delay in milliseconds until a token would be available, reserving it now
   * (client-go's `Reserve`): callers that schedule work for later use this instead of waiting.
   */
  reserve(): number {
    if (this.unlimited) return 0;
    this.#refill(performance.now());
    this.#tokens -= 1;
    return this.#tokens >= 0 ? 0 : (-this.#tokens / this.#qps) * 1000;
  }

  /** Resolves when a token is taken; rejects if `signal` aborts first. */
  take(signal?: AbortSignal): Promise<void> {
    if (this.tryTake()) return Promise.resolve();
    signal?.throwIfAborted();
    return new Promise((resolve, reject) => {
      const onAbort = () => {
        waiter.settled = true;
        this.#abandoned++;
        reject(signal?.reason);
      };
      const waiter = {
        settled: false,
        resolve: () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        },
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#waiters.push(waiter);
      this.#schedule();
    });
  }

  #schedule(): void {
    if (this.#timer || this.waiting === 0) return;
    this.#refill(performance.now());
    const wait = this.#tokens >= 1 ? 0 : ((1 - this.#tokens) / this.#qps) * 1000;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#drain();
    }, wait);
  }

  #drain(): void {
    this.#refill(performance.now());
    while (this.waiting > 0 && this.#tokens >= 1) {
      const waiter = this.#waiters[this.#head];
      this.#waiters[this.#head] = undefined;
      this.#head++;
      if (!waiter) continue;
      if (waiter.settled) {
        this.#abandoned--;
        continue;
      }
      waiter.settled = true;
      this.#tokens -= 1;
      waiter.resolve();
    }
    if (this.#head > 1024 && this.#head * 2 > this.#waiters.length) {
      this.#waiters = this.#waiters.slice(this.#head);
      this.#head = 0;
    }
    this.#schedule();
  }
}
