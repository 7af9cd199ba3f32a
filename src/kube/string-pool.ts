/**
 * One copy of each short string that many cached objects repeat. `JSON.parse` makes a new string
 * for every value, so 10 000 cached pods hold 10 000 copies of `"IfNotPresent"`, of their image,
 * namespace, node name, condition types and timestamps — a third of the strings a cached pod keeps.
 * Pooling them as objects enter a cache keeps one copy, and the copies from the parse die young in
 * the garbage collector's cheapest generation instead of being carried in the old one.
 *
 * The pool is bounded: values unique to one object (uids, resource versions) only pass through it.
 * When it is full it starts over, which costs one more copy of each common value, not a leak.
 */
export class StringPool {
  readonly #pool = new Map<string, string>();
  readonly #maxEntries: number;
  readonly #maxLength: number;

  constructor(options: { maxEntries?: number; maxLength?: number } = {}) {
    this.#maxEntries = options.maxEntries ?? 8192;
    this.#maxLength = options.maxLength ?? 64;
  }

  get size(): number {
    return this.#pool.size;
  }

  /** The pooled copy of `value`, or `value` itself (now pooled, unless it is too long). */
  intern(value: string): string {
    if (value.length > this.#maxLength) return value;
    const pooled = this.#pool.get(value);
    if (pooled !== undefined) return pooled;
    if (this.#pool.size >= this.#maxEntries) this.#pool.clear();
    this.#pool.set(value, value);
    return value;
  }

  /** Replaces, in place, every string in `value`'s objects and arrays by its pooled copy. */
  internAll(value: unknown): void {
    if (Array.isArray(value)) {
      for (let i = 0; i < value.length; i++) {
        const item: unknown = value[i];
        // Always assigned: `!==` compares strings by value, so it cannot tell the copy from the pooled one.
        if (typeof item === 'string') value[i] = this.intern(item);
        else if (typeof item === 'object' && item !== null) this.internAll(item);
      }
      return;
    }
    if (typeof value !== 'object' || value === null) return;
    const record = value as Record<string, unknown>;
    for (const key in record) {
      const item = record[key];
      if (typeof item === 'string') record[key] = this.intern(item);
      else if (typeof item === 'object' && item !== null) this.internAll(item);
    }
  }
}
