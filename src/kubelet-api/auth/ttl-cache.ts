/**
 * A small cache whose entries expire: one lifetime for positive answers, another (shorter) for
 * negative ones, as the kubelet caches TokenReviews and SubjectAccessReviews. Bounded: the oldest
 * entries go first when it is full.
 */
export class TtlCache<V> {
  readonly #positiveTtlMs: number;
  readonly #negativeTtlMs: number;
  readonly #maxEntries: number;
  readonly #entries = new Map<string, { value: V; expiresAt: number }>();

  constructor(positiveTtlMs: number, negativeTtlMs: number, maxEntries = 10_000) {
    this.#positiveTtlMs = positiveTtlMs;
    this.#negativeTtlMs = negativeTtlMs;
    this.#maxEntries = maxEntries;
  }

  get size(): number {
    return this.#entries.size;
  }

  /** The cached value, or undefined when absent or expired. */
  get(key: string): V | undefined {
    const entry = this.#entries.get(key);
    if (!entry) return undefined;
    if (Date.now() >= entry.expiresAt) {
      this.#entries.delete(key);
      return undefined;
    }
    return entry.value;
  }

  set(key: string, value: V, positive: boolean): void {
    this.#entries.delete(key);
    if (this.#entries.size >= this.#maxEntries) {
      const oldest = this.#entries.keys().next().value;
      if (oldest !== undefined) this.#entries.delete(oldest);
    }
    this.#entries.set(key, { value, expiresAt: Date.now() + (positive ? this.#positiveTtlMs : this.#negativeTtlMs) });
  }
}
