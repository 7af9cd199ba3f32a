/**
 * ConfigMaps, Secrets and Services, cached per namespace and only where pods of this node need
 * them. The Go implementation watches these three kinds across the whole cluster, which costs
 * memory proportional to the cluster (and reads every Secret); here an informer for a kind in a
 * namespace starts the first time a pod needs it, and stops some minutes after the last pod of
 * that namespace left the node.
 */
import type { ConfigMap, Secret, Service } from 'kubernetes-types/core/v1.js';
import type { Logger } from 'pino';
import { Informer, type ListWatchClient } from './informer.ts';
import { ConfigMaps, type KubeObject, namespacedKey, type ResourceType, Secrets, Services } from './resources.ts';

export type CachedKind = 'ConfigMap' | 'Secret' | 'Service';

const TYPES: Record<CachedKind, ResourceType> = { ConfigMap: ConfigMaps, Secret: Secrets, Service: Services };

/** Called when an object of a cached kind is added, changed or deleted. */
export type ResourceChangeListener = (kind: CachedKind, namespace: string, name: string) => void;

interface Entry {
  informer: Informer<KubeObject>;
  controller: AbortController;
}

export interface ResourceCacheOptions {
  client: ListWatchClient;
  logger?: Logger;
  /** Stop a namespace's informers this long after its last pod left. Default 10 minutes. */
  idleTimeoutMs?: number;
  /** Namespaces kept watched regardless of pods (the `default` namespace's Services: KUBERNETES_SERVICE_*). */
  pinned?: { kind: CachedKind; namespace: string }[];
}

export class ResourceCache {
  readonly #options: ResourceCacheOptions;
  readonly #entries = new Map<string, Entry>();
  readonly #listeners = new Set<ResourceChangeListener>();
  readonly #users = new Map<string, number>();
  readonly #idleSince = new Map<string, number>();
  #signal: AbortSignal | undefined;

  constructor(options: ResourceCacheOptions) {
    this.#options = options;
  }

  /** Enables the cache until `signal` aborts; informers start on demand after this. */
  start(signal: AbortSignal): void {
    this.#signal = signal;
    const sweep = setInterval(() => this.#sweep(), 60_000);
    sweep.unref();
    signal.addEventListener('abort', () => clearInterval(sweep), { once: true });
    for (const { kind, namespace } of this.#options.pinned ?? []) void this.ready(kind, namespace);
  }

  /** Informers currently running, for tests and metrics. */
  get informers(): number {
    return this.#entries.size;
  }

  /** Starts the informer for `kind` in `namespace` if needed and waits until it has synced. */
  async ready(kind: CachedKind, namespace: string): Promise<void> {
    const key = `${kind}/${namespace}`;
    let entry = this.#entries.get(key);
    if (!entry) {
      const signal = this.#signal;
      if (!signal) throw new Error('ResourceCache.start() was not called');
      const controller = new AbortController();
      const informer = new Informer<KubeObject>({
        client: this.#options.client,
        type: TYPES[kind],
        namespace,
        logger: this.#options.logger,
      });
      const notify = (object: KubeObject) => {
        for (const listener of this.#listeners) listener(kind, namespace, object.metadata?.name ?? '');
      };
      informer.addHandlers({
        onAdd: notify,
        onUpdate: (previous, current) => previous !== current && notify(current),
        onDelete: notify,
      });
      informer.start(AbortSignal.any([signal, controller.signal]));
      entry = { informer, controller };
      this.#entries.set(key, entry);
    }
    await entry.informer.synced;
  }

  #get<T>(kind: CachedKind, namespace: string, name: string): T | undefined {
    return this.#entries.get(`${kind}/${namespace}`)?.informer.get(namespacedKey(namespace, name)) as T | undefined;
  }

  getConfigMap(namespace: string, name: string): ConfigMap | undefined {
    return this.#get<ConfigMap>('ConfigMap', namespace, name);
  }

  getSecret(namespace: string, name: string): Secret | undefined {
    return this.#get<Secret>('Secret', namespace, name);
  }

  listServices(namespace: string): Service[] {
    const entry = this.#entries.get(`Service/${namespace}`);
    return entry ? ([...entry.informer.list()] as Service[]) : [];
  }

  /** Subscribes to changes; returns the unsubscribe function. */
  onChange(listener: ResourceChangeListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** A pod in `namespace` arrived on the node. */
  retain(namespace: string): void {
    this.#users.set(namespace, (this.#users.get(namespace) ?? 0) + 1);
    this.#idleSince.delete(namespace);
  }

  /** A pod in `namespace` left the node. */
  release(namespace: string): void {
    const count = (this.#users.get(namespace) ?? 1) - 1;
    if (count > 0) {
      this.#users.set(namespace, count);
      return;
    }
    this.#users.delete(namespace);
    this.#idleSince.set(namespace, Date.now());
  }

  #sweep(): void {
    const idleTimeout = this.#options.idleTimeoutMs ?? 600_000;
    const pinned = new Set((this.#options.pinned ?? []).map((p) => `${p.kind}/${p.namespace}`));
    for (const [namespace, since] of this.#idleSince) {
      if (Date.now() - since < idleTimeout) continue;
      this.#idleSince.delete(namespace);
      for (const kind of Object.keys(TYPES) as CachedKind[]) {
        const key = `${kind}/${namespace}`;
        if (pinned.has(key)) continue;
        this.#entries.get(key)?.controller.abort();
        this.#entries.delete(key);
      }
    }
  }
}
