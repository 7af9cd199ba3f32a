/**
 * An informer: list, then watch from the list's resourceVersion, keeping a local cache and
 * telling handlers what changed — client-go's `Reflector` + `Store` in one class.
 *
 * What it does that @kubernetes/client-node's informer does not:
 * - asks for watch bookmarks, so a quiet watch still advances its resourceVersion;
 * - re-lists on 410 Gone (and emits deletes for objects that vanished meanwhile);
 * - reconnects any other failure with jittered exponential backoff, never gives up;
 * - notices a watch that silently stopped (no event and no bookmark for `stallTimeoutMs`)
 *   and replaces it;
 * - optionally re-delivers every cached object periodically (resync), for level-triggered
 *   controllers;
 * - strips `managedFields`, which are large and never needed here, and keeps one copy of the short
 *   strings cached objects repeat (string-pool.ts).
 */
import type { Logger } from 'pino';
import { errorMessage, isAbort, isGone } from '../errors.ts';
import { backoffDelay } from '../util/backoff.ts';
import { sleep } from '../util/sleep.ts';
import type { ListOptions, WatchEvent, WatchOptions } from './client.ts';
import { type KubeList, type KubeObject, objectKey, type ResourceType } from './resources.ts';
import { StringPool } from './string-pool.ts';

/** The two calls an informer needs; `KubeClient` has them, tests pass fakes. */
export interface ListWatchClient {
  list<T extends KubeObject>(type: ResourceType<T>, options?: ListOptions): Promise<KubeList<T>>;
  watch<T extends KubeObject>(type: ResourceType<T>, options?: WatchOptions): AsyncIterable<WatchEvent<T>>;
}

export interface InformerHandlers<T> {
  onAdd?(object: T): void;
  /** Also called with `previous === current` on a resync. */
  onUpdate?(previous: T, current: T): void;
  onDelete?(object: T): void;
}

export interface InformerOptions<T extends KubeObject> {
  client: ListWatchClient;
  type: ResourceType<T>;
  namespace?: string;
  fieldSelector?: string;
  labelSelector?: string;
  /** Objects per list page. Default 500. */
  pageSize?: number;
  /** Re-deliver every object to `onUpdate` this often; 0 (default) for never. */
  resyncPeriodMs?: number;
  /** Replace a watch that delivered nothing, not even a bookmark, for this long. Default 3 minutes. */
  stallTimeoutMs?: number;
  /** Backoff bounds for reconnects (before jitter). Defaults 500 ms and 30 s. */
  minBackoffMs?: number;
  maxBackoffMs?: number;
  /** Rewrites each object before it is cached (the default drops managedFields and pools short strings). */
  transform?: (object: T) => T;
  logger?: Logger;
}

/** The default transform: without managedFields, its short strings shared with the other cached objects. */
function compactObject<T extends KubeObject>(object: T, strings: StringPool): T {
  if (object.metadata?.managedFields) {
    // A copy without the field, not `delete`: deleting turns the metadata into a dictionary-mode
    // object (a hash table of its properties, ≈ 400 bytes more a cached pod, and slower to read).
    const { managedFields: _, ...metadata } = object.metadata;
    object.metadata = metadata;
  }
  strings.internAll(object);
  return object;
}

/** Random duration in [min, max), as client-go picks watch timeouts, so watches do not all end together. */
function jitter(min: number, max: number): number {
  return min + Math.random() * (max - min);
}

export class Informer<T extends KubeObject> {
  readonly #options: InformerOptions<T>;
  readonly #store = new Map<string, T>();
  readonly #handlers: InformerHandlers<T>[] = [];
  readonly #transform: (object: T) => T;
  #resourceVersion = '';
  #synced = false;
  #resolveSynced: () => void = () => {};
  /** Resolves once the first list has filled the cache. */
  readonly synced: Promise<void>;
  /** Counters for tests and metrics. */
  readonly stats = { lists: 0, watches: 0, stalls: 0, errors: 0 };

  constructor(options: InformerOptions<T>) {
    this.#options = options;
    const strings = new StringPool();
    this.#transform = options.transform ?? ((object) => compactObject(object, strings));
    this.synced = new Promise((resolve) => {
      this.#resolveSynced = resolve;
    });
  }

  /** The resourceVersion the cache is at. */
  get resourceVersion(): string {
    return this.#resourceVersion;
  }

  get size(): number {
    return this.#store.size;
  }

  /** The cached object with key `namespace/name` (or `name`). Treat it as read-only. */
  get(key: string): T | undefined {
    return this.#store.get(key);
  }

  /** All cached objects. Treat them as read-only. */
  list(): IterableIterator<T> {
    return this.#store.values();
  }

  keys(): IterableIterator<string> {
    return this.#store.keys();
  }

  addHandlers(handlers: InformerHandlers<T>): void {
    this.#handlers.push(handlers);
  }

  /** Starts listing and watching in the background until `signal` aborts. */
  start(shutdown: AbortSignal): void {
    // A signal of its own: the informer's loops listen to it, not to the one every component shares.
    const signal = AbortSignal.any([shutdown]);
    void this.#run(signal);
    const period = this.#options.resyncPeriodMs ?? 0;
    if (period > 0) {
      const timer = setInterval(() => this.#resync(), period);
      timer.unref();
      signal.addEventListener('abort', () => clearInterval(timer), { once: true });
    }
  }

  #emit(kind: 'add' | 'update' | 'delete', previous: T | undefined, current: T): void {
    for (const handlers of this.#handlers) {
      try {
        if (kind === 'add') handlers.onAdd?.(current);
        else if (kind === 'update') handlers.onUpdate?.(previous as T, current);
        else handlers.onDelete?.(current);
      } catch (error) {
        this.#options.logger?.error({ err: error }, `informer handler for ${this.#options.type.plural} threw`);
      }
    }
  }

  #resync(): void {
    if (!this.#synced) return;
    for (const object of this.#store.values()) this.#emit('update', object, object);
  }

  async #run(signal: AbortSignal): Promise<void> {
    const minBackoff = this.#options.minBackoffMs ?? 500;
    const maxBackoff = this.#options.maxBackoffMs ?? 30_000;
    let needList = true;
    let failures = 0;
    while (!signal.aborted) {
      try {
        if (needList) {
          await this.#list(signal);
          needList = false;
        }
        const started = performance.now();
        const delivered = await this.#watch(signal);
        // A watch the server closed after its timeout is normal: watch again at once. One that
        // ends at once with nothing in it (a confused proxy) counts as a failure, or we would spin.
        if (delivered || performance.now() - started > 5000) {
          failures = 0;
          continue;
        }
        throw new Error(`watch of ${this.#options.type.plural} ended at once without events`);
      } catch (error) {
        if (signal.aborted || (isAbort(error) && signal.aborted)) return;
        this.stats.errors++;
        if (isGone(error)) {
          this.#options.logger?.info(`watch of ${this.#options.type.plural} expired; listing again`);
          needList = true;
          this.#resourceVersion = '';
          continue;
        }
        failures++;
        // Jittered (up to twice the delay, as client-go's reflector), so many informers that lost
        // the same API server do not come back in step.
        const delay = backoffDelay(Math.min(failures - 1, 16), { initialMs: minBackoff, maxMs: maxBackoff, jitter: 1 });
        this.#options.logger?.warn(
          { err: errorMessage(error), retryInMs: Math.round(delay) },
          `${needList ? 'list' : 'watch'} of ${this.#options.type.plural} failed`,
        );
        await sleep(delay, signal);
      }
    }
  }

  async #list(signal: AbortSignal): Promise<void> {
    this.stats.lists++;
    const fresh = new Map<string, T>();
    let continueToken: string | undefined;
    let resourceVersion = '';
    do {
      const page = await this.#options.client.list(this.#options.type, {
        namespace: this.#options.namespace,
        fieldSelector: this.#options.fieldSelector,
        labelSelector: this.#options.labelSelector,
        limit: this.#options.pageSize ?? 500,
        continue: continueToken,
        signal,
      } as ListOptions);
      for (const item of page.items) {
        const object = this.#transform(item);
        fresh.set(objectKey(object), object);
      }
      continueToken = page.metadata?.continue || undefined;
      resourceVersion = page.metadata?.resourceVersion ?? resourceVersion;
    } while (continueToken);
    // Replace the cache, telling handlers the difference (a relist after 410 catches up this way).
    for (const [key, previous] of this.#store) {
      if (!fresh.has(key)) {
        this.#store.delete(key);
        this.#emit('delete', undefined, previous);
      }
    }
    for (const [key, object] of fresh) {
      const previous = this.#store.get(key);
      this.#store.set(key, object);
      if (!previous) this.#emit('add', undefined, object);
      else if (previous.metadata?.resourceVersion !== object.metadata?.resourceVersion) {
        this.#emit('update', previous, object);
      }
    }
    this.#resourceVersion = resourceVersion;
    if (!this.#synced) {
      this.#synced = true;
      this.#resolveSynced();
    }
  }

  /** One watch; returns whether it delivered anything. Throws on errors, returns when the server ends it. */
  async #watch(signal: AbortSignal): Promise<boolean> {
    this.stats.watches++;
    const stallTimeout = this.#options.stallTimeoutMs ?? 180_000;
    const watchController = new AbortController();
    let stalled = false;
    // One timer, restarted by each event: `refresh()` moves it in place, where a clear and a new
    // timer per event cost a timer-list removal and insertion thousands of times a second.
    const stallTimer = setTimeout(() => {
      stalled = true;
      watchController.abort(new Error('watch stalled'));
    }, stallTimeout);
    stallTimer.unref();
    const onAbort = () => watchController.abort(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    let delivered = false;
    try {
      const events = this.#options.client.watch(this.#options.type, {
        namespace: this.#options.namespace,
        fieldSelector: this.#options.fieldSelector,
        labelSelector: this.#options.labelSelector,
        resourceVersion: this.#resourceVersion,
        allowWatchBookmarks: true,
        timeoutSeconds: Math.floor(jitter(300, 600)),
        signal: watchController.signal,
      } as WatchOptions);
      for await (const event of events) {
        stallTimer.refresh();
        delivered = true;
        this.#apply(event);
      }
      if (stalled) {
        this.stats.stalls++;
        throw new Error(`watch of ${this.#options.type.plural} delivered nothing for ${stallTimeout} ms`);
      }
      return delivered;
    } catch (error) {
      if (stalled) {
        this.stats.stalls++;
        throw new Error(`watch of ${this.#options.type.plural} delivered nothing for ${stallTimeout} ms`, {
          cause: error,
        });
      }
      throw error;
    } finally {
      clearTimeout(stallTimer);
      signal.removeEventListener('abort', onAbort);
      watchController.abort();
    }
  }

  #apply(event: WatchEvent<T>): void {
    const rv = event.object?.metadata?.resourceVersion;
    if (event.type === 'BOOKMARK') {
      if (rv) this.#resourceVersion = rv;
      return;
    }
    const object = this.#transform(event.object);
    const key = objectKey(object);
    const previous = this.#store.get(key);
    if (event.type === 'DELETED') {
      this.#store.delete(key);
      this.#emit('delete', undefined, previous ?? object);
    } else {
      this.#store.set(key, object);
      if (previous) this.#emit('update', previous, object);
      else this.#emit('add', undefined, object);
    }
    if (rv) this.#resourceVersion = rv;
  }
}
