/**
 * Exponential backoff, the one formula every retry loop here uses (client-go calls it
 * `wait.Backoff`): the first delay, multiplied by `factor` after each failure up to `maxMs`, with
 * optional jitter so that many clients retrying the same failure do not retry in step.
 */
export interface BackoffOptions {
  /** The first delay. */
  initialMs: number;
  /** The longest delay. */
  maxMs: number;
  /** Growth per failure. Default 2. */
  factor?: number;
  /** Up to this fraction is added at random (0.1 = up to +10 %). Default 0. */
  jitter?: number;
}

/** The delay before retry number `attempt` (0 for the first retry). */
export function backoffDelay(attempt: number, options: BackoffOptions): number {
  const { initialMs, maxMs, factor = 2, jitter = 0 } = options;
  const base = Math.min(maxMs, initialMs * factor ** Math.max(0, attempt));
  return jitter > 0 ? base * (1 + Math.random() * jitter) : base;
}

/** A loop's backoff state: `next()` after a failure, `reset()` after a success. */
export class Backoff {
  readonly #options: BackoffOptions;
  #attempt = 0;

  constructor(options: BackoffOptions) {
    this.#options = options;
  }

  /** Consecutive failures so far. */
  get failures(): number {
    return this.#attempt;
  }

  /** The delay to wait after one more failure. */
  next(): number {
    return backoffDelay(this.#attempt++, this.#options);
  }

  reset(): void {
    this.#attempt = 0;
  }
}
