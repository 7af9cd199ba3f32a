/**
 * An API server in the test process, for unit tests of the controllers: objects in memory with
 * resourceVersions, list and watch (from a resourceVersion, with field selectors), create, get,
 * replace with optimistic concurrency, merge and strategic-merge patches (the shapes our
 * controllers send: conditions merged by type, `$patch: replace`, null removes, `metadata.uid`
 * as a precondition), and deletion with a pod's grace period, as the API server does it.
 *
 * It is a fake for speed, not a judge: the e2e suite proves the same behaviour against the real
 * control plane. Tests can break it on purpose (`failNext`) to drive error paths.
 */
import { KubeApiError } from '../../src/errors.ts';
import type {
  AnswerForm,
  CreateOptions,
  DeleteOptions,
  KubeApi,
  ListOptions,
  PatchType,
  WatchEvent,
  WatchOptions,
  WrittenVersion,
} from '../../src/kube/client.ts';
import type { KubeList, KubeObject, ObjectLocation, ResourceType } from '../../src/kube/resources.ts';

interface StoredEvent {
  version: number;
  type: WatchEvent<KubeObject>['type'];
  object: KubeObject;
}

/** A request the fake records, for assertions (`patch pods/status default/web`). */
export interface RecordedRequest {
  verb: 'get' | 'list' | 'watch' | 'create' | 'update' | 'patch' | 'delete';
  resource: string;
  key: string;
  body?: unknown;
}

type Listener = (event: StoredEvent) => void;

/** Lists the API merges by key in a strategic merge patch (container statuses are replaced whole). */
const MERGE_KEYS: Record<string, string> = {
  conditions: 'type',
  hostIPs: 'ip',
  podIPs: 'ip',
  addresses: 'type',
};

function clone<T>(value: T): T {
  return structuredClone(value);
}

function apiError(code: number, reason: string, message: string): KubeApiError {
  return new KubeApiError(code, reason, message, { kind: 'Status', status: 'Failure', reason, message, code });
}

/** Field selectors as the API server evaluates them for the fields our controllers select on. */
function matchesFields(object: KubeObject, selector: string | undefined): boolean {
  if (!selector) return true;
  return selector.split(',').every((term) => {
    const [path = '', wanted = ''] = term.split('=');
    let value: unknown = object;
    for (const part of path.split('.')) value = (value as Record<string, unknown> | undefined)?.[part];
    return (value ?? '') === wanted;
  });
}

function matchesLabels(object: KubeObject, selector: string | undefined): boolean {
  if (!selector) return true;
  return selector.split(',').every((term) => {
    const [key = '', wanted] = term.split('=');
    const value = object.metadata?.labels?.[key];
    return wanted === undefined ? value !== undefined : value === wanted;
  });
}

/** RFC 7386 merge patch. */
export function mergePatch(target: unknown, patch: unknown): unknown {
  if (typeof patch !== 'object' || patch === null || Array.isArray(patch)) return clone(patch);
  const result: Record<string, unknown> =
    typeof target === 'object' && target !== null && !Array.isArray(target) ? { ...(target as object) } : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete result[key];
    else result[key] = mergePatch(result[key], value);
  }
  return result;
}

/** The strategic merge patch, for the directives and list merge keys our controllers use. */
export function strategicMergePatch(target: unknown, patch: unknown, field = ''): unknown {
  if (Array.isArray(patch)) {
    const items = patch.filter((item) => !(typeof item === 'object' && item !== null && '$patch' in item));
    const replace = items.length !== patch.length;
    const mergeKey = MERGE_KEYS[field];
    if (replace || !mergeKey || !Array.isArray(target)) return clone(items);
    const merged = [...(target as Record<string, unknown>[])];
    for (const item of items as Record<string, unknown>[]) {
      const index = merged.findIndex((existing) => existing[mergeKey] === item[mergeKey]);
      if (index < 0) merged.push(strategicMergePatch(undefined, item) as Record<string, unknown>);
      else merged[index] = strategicMergePatch(merged[index], item) as Record<string, unknown>;
    }
    return merged;
  }
  if (typeof patch !== 'object' || patch === null) return clone(patch);
  const { $patch: directive, ...rest } = patch as Record<string, unknown>;
  const base: Record<string, unknown> =
    directive !== 'replace' && typeof target === 'object' && target !== null && !Array.isArray(target)
      ? { ...(target as object) }
      : {};
  for (const [key, value] of Object.entries(rest)) {
    if (value === null) delete base[key];
    else base[key] = strategicMergePatch(base[key], value, key);
  }
  return base;
}

export class FakeKubeApi implements KubeApi {
  #version = 100;
  readonly #objects = new Map<string, Map<string, KubeObject>>();
  readonly #events = new Map<string, StoredEvent[]>();
  readonly #listeners = new Map<string, Set<Listener>>();
  readonly #failures: { match: (request: RecordedRequest) => boolean; error: Error }[] = [];
  /** Every request, in order. */
  readonly requests: RecordedRequest[] = [];
  /** `now` for deletion timestamps; tests move it with their clock. */
  now: () => number = () => Date.now();
  #held: (() => void)[] | undefined;

  /**
   * Holds back watch events until {@link resumeWatches}: what a client sees when the watch lags
   * behind its own writes.
   */
  pauseWatches(): void {
    this.#held ??= [];
  }

  resumeWatches(): void {
    const held = this.#held ?? [];
    this.#held = undefined;
    for (const deliver of held) deliver();
  }

  /** The current resourceVersion counter. */
  get resourceVersion(): string {
    return String(this.#version);
  }

  /** Makes the next request that matches fail with `error` (a KubeApiError by default: 500). */
  failNext(match: (request: RecordedRequest) => boolean, error?: Error): void {
    this.#failures.push({ match, error: error ?? apiError(500, 'InternalError', 'injected failure') });
  }

  /** Requests of one verb and resource, e.g. `count('patch', 'pods/status')`. */
  count(verb: RecordedRequest['verb'], resource: string): number {
    return this.requests.filter((r) => r.verb === verb && r.resource === resource).length;
  }

  #record(request: RecordedRequest): void {
    this.requests.push(request);
    const failure = this.#failures.findIndex((f) => f.match(request));
    if (failure >= 0) {
      const [injected] = this.#failures.splice(failure, 1);
      throw injected?.error;
    }
  }

  #store(type: ResourceType): Map<string, KubeObject> {
    let store = this.#objects.get(type.plural);
    if (!store) {
      store = new Map();
      this.#objects.set(type.plural, store);
    }
    return store;
  }

  #key(type: ResourceType, namespace: string | undefined, name: string): string {
    return type.namespaced ? `${namespace ?? ''}/${name}` : name;
  }

  #emit(type: ResourceType, eventType: StoredEvent['type'], object: KubeObject): void {
    const event: StoredEvent = { version: Number(object.metadata?.resourceVersion), type: eventType, object };
    let events = this.#events.get(type.plural);
    if (!events) {
      events = [];
      this.#events.set(type.plural, events);
    }
    events.push(event);
    const deliver = () => {
      for (const listener of this.#listeners.get(type.plural) ?? []) listener(event);
    };
    if (this.#held) this.#held.push(deliver);
    else deliver();
  }

  #write<T extends KubeObject>(type: ResourceType<T>, object: T, eventType: 'ADDED' | 'MODIFIED'): T {
    const stored = clone(object);
    stored.metadata = { ...stored.metadata, resourceVersion: String(++this.#version) };
    this.#store(type).set(this.#key(type, stored.metadata.namespace, stored.metadata.name ?? ''), stored);
    this.#emit(type, eventType, stored);
    return clone(stored);
  }

  #remove(type: ResourceType, object: KubeObject): void {
    const removed = clone(object);
    removed.metadata = { ...removed.metadata, resourceVersion: String(++this.#version) };
    this.#store(type).delete(this.#key(type, removed.metadata.namespace, removed.metadata.name ?? ''));
    this.#emit(type, 'DELETED', removed);
  }

  #existing<T extends KubeObject>(type: ResourceType<T>, location: ObjectLocation & { name?: string }): T {
    const key = this.#key(type, location.namespace, location.name ?? '');
    const object = this.#store(type).get(key);
    if (!object) throw apiError(404, 'NotFound', `${type.plural} "${location.name}" not found`);
    return object as T;
  }

  /** Puts an object in place as if someone else created it (no request recorded). */
  seed<T extends KubeObject>(type: ResourceType<T>, object: T): T {
    const stored = clone(object);
    stored.metadata = {
      uid: `uid-${this.#version + 1}`,
      creationTimestamp: new Date(this.now()).toISOString().replace(/\.\d+Z$/, 'Z'),
      ...stored.metadata,
    };
    return this.#write(
      type,
      stored,
      this.#store(type).has(this.#key(type, stored.metadata?.namespace, stored.metadata?.name ?? ''))
        ? 'MODIFIED'
        : 'ADDED',
    );
  }

  /** The stored object, or undefined (no request recorded). */
  peek<T extends KubeObject>(type: ResourceType<T>, location: ObjectLocation & { name: string }): T | undefined {
    const object = this.#store(type).get(this.#key(type, location.namespace, location.name));
    return object && (clone(object) as T);
  }

  /** Every stored object of a type (no request recorded). */
  all<T extends KubeObject>(type: ResourceType<T>): T[] {
    return [...this.#store(type).values()].map((o) => clone(o) as T);
  }

  /** Removes an object as another client would (no request recorded), e.g. `kubectl delete node`. */
  drop(type: ResourceType, location: ObjectLocation & { name: string }): void {
    const object = this.#store(type).get(this.#key(type, location.namespace, location.name));
    if (object) this.#remove(type, object);
  }

  async get<T extends KubeObject>(type: ResourceType<T>, location: ObjectLocation, _signal?: AbortSignal): Promise<T> {
    this.#record({ verb: 'get', resource: type.plural, key: this.#key(type, location.namespace, location.name ?? '') });
    return clone(this.#existing(type, location));
  }

  async list<T extends KubeObject>(type: ResourceType<T>, options: ListOptions = {}): Promise<KubeList<T>> {
    this.#record({ verb: 'list', resource: type.plural, key: options.namespace ?? '' });
    const items = [...this.#store(type).values()].filter(
      (o) =>
        (!options.namespace || o.metadata?.namespace === options.namespace) &&
        matchesFields(o, options.fieldSelector) &&
        matchesLabels(o, options.labelSelector),
    );
    return { metadata: { resourceVersion: this.resourceVersion }, items: items.map((o) => clone(o) as T) };
  }

  async *watch<T extends KubeObject>(type: ResourceType<T>, options: WatchOptions = {}): AsyncGenerator<WatchEvent<T>> {
    this.#record({ verb: 'watch', resource: type.plural, key: options.namespace ?? '' });
    const from = Number(options.resourceVersion ?? this.resourceVersion);
    const pending: StoredEvent[] = (this.#events.get(type.plural) ?? []).filter((e) => e.version > from);
    let wake: (() => void) | undefined;
    const listener: Listener = (event) => {
      pending.push(event);
      wake?.();
    };
    let listeners = this.#listeners.get(type.plural);
    if (!listeners) {
      listeners = new Set();
      this.#listeners.set(type.plural, listeners);
    }
    listeners.add(listener);
    const signal = options.signal;
    const onAbort = () => wake?.();
    signal?.addEventListener('abort', onAbort);
    try {
      while (!signal?.aborted) {
        const event = pending.shift();
        if (!event) {
          await new Promise<void>((resolve) => {
            wake = resolve;
          });
          wake = undefined;
          continue;
        }
        const object = event.object;
        if (options.namespace && object.metadata?.namespace !== options.namespace) continue;
        if (!matchesFields(object, options.fieldSelector) || !matchesLabels(object, options.labelSelector)) continue;
        yield { type: event.type, object: clone(object) as T };
      }
    } finally {
      listeners.delete(listener);
      signal?.removeEventListener('abort', onAbort);
    }
  }

  create<T extends KubeObject>(
    type: ResourceType<T>,
    object: T,
    options: CreateOptions & { answer: 'resourceVersion' },
  ): Promise<WrittenVersion>;
  create<T extends KubeObject>(type: ResourceType<T>, object: T, options?: CreateOptions): Promise<T>;
  async create<T extends KubeObject>(
    type: ResourceType<T>,
    object: T,
    options: CreateOptions = {},
  ): Promise<T | WrittenVersion> {
    const created = await this.#create(type, object, options);
    return options.answer === 'resourceVersion' ? { resourceVersion: created.metadata?.resourceVersion } : created;
  }

  async #create<T extends KubeObject>(type: ResourceType<T>, object: T, options: CreateOptions): Promise<T> {
    const namespace = options.namespace ?? object.metadata?.namespace;
    const name = object.metadata?.name ?? '';
    this.#record({ verb: 'create', resource: type.plural, key: this.#key(type, namespace, name), body: object });
    if (this.#store(type).has(this.#key(type, namespace, name))) {
      throw apiError(409, 'AlreadyExists', `${type.plural} "${name}" already exists`);
    }
    const created = clone(object);
    created.metadata = {
      ...created.metadata,
      ...(namespace ? { namespace } : {}),
      uid: `uid-${this.#version + 1}`,
      creationTimestamp: new Date(this.now()).toISOString().replace(/\.\d+Z$/, 'Z'),
    };
    return this.#write(type, created, 'ADDED');
  }

  async replace<T extends KubeObject>(
    type: ResourceType<T>,
    object: T,
    options: { subresource?: string; signal?: AbortSignal } = {},
  ): Promise<T> {
    const location = { namespace: object.metadata?.namespace, name: object.metadata?.name ?? '' };
    const resource = options.subresource ? `${type.plural}/${options.subresource}` : type.plural;
    this.#record({ verb: 'update', resource, key: this.#key(type, location.namespace, location.name), body: object });
    const current = this.#existing(type, location);
    if (object.metadata?.resourceVersion && object.metadata.resourceVersion !== current.metadata?.resourceVersion) {
      throw apiError(409, 'Conflict', `the object has been modified; please apply your changes to the latest version`);
    }
    const updated = { ...clone(object), metadata: { ...clone(object).metadata, uid: current.metadata?.uid } } as T;
    return this.#write(type, updated, 'MODIFIED');
  }

  patch<T extends KubeObject>(
    type: ResourceType<T>,
    location: ObjectLocation & { name: string },
    patch: unknown,
    patchType: PatchType,
    options: { answer: 'resourceVersion'; signal?: AbortSignal },
  ): Promise<WrittenVersion>;
  patch<T extends KubeObject>(
    type: ResourceType<T>,
    location: ObjectLocation & { name: string },
    patch: unknown,
    patchType: PatchType,
    options: { answer: 'metadata'; signal?: AbortSignal },
  ): Promise<KubeObject>;
  patch<T extends KubeObject>(
    type: ResourceType<T>,
    location: ObjectLocation & { name: string },
    patch: unknown,
    patchType: PatchType,
    options?: { signal?: AbortSignal },
  ): Promise<T>;
  async patch<T extends KubeObject>(
    type: ResourceType<T>,
    location: ObjectLocation & { name: string },
    patch: unknown,
    patchType: PatchType,
    options: { answer?: AnswerForm; signal?: AbortSignal } = {},
  ): Promise<T | KubeObject | WrittenVersion> {
    const written = await this.#patch(type, location, patch, patchType);
    return options.answer === 'resourceVersion' ? { resourceVersion: written.metadata?.resourceVersion } : written;
  }

  async #patch<T extends KubeObject>(
    type: ResourceType<T>,
    location: ObjectLocation & { name: string },
    patch: unknown,
    patchType: PatchType,
  ): Promise<T> {
    const resource = location.subresource ? `${type.plural}/${location.subresource}` : type.plural;
    this.#record({ verb: 'patch', resource, key: this.#key(type, location.namespace, location.name), body: patch });
    const current = this.#existing(type, location);
    const metadata = (patch as { metadata?: { uid?: string; resourceVersion?: string } }).metadata;
    if (metadata?.uid && metadata.uid !== current.metadata?.uid) {
      throw apiError(
        409,
        'Conflict',
        `Precondition failed: UID in precondition: ${metadata.uid}, UID in object meta: ${current.metadata?.uid}`,
      );
    }
    if (metadata?.resourceVersion && metadata.resourceVersion !== current.metadata?.resourceVersion) {
      throw apiError(409, 'Conflict', 'the object has been modified; please apply your changes to the latest version');
    }
    const merge = patchType === 'strategic' ? strategicMergePatch : mergePatch;
    let next = merge(current, patch) as T & { status?: unknown };
    // The status subresource writes only status; the main resource never writes it.
    if (location.subresource === 'status') next = { ...clone(current), status: next.status } as T;
    else if ('status' in current) next = { ...next, status: clone((current as { status?: unknown }).status) };
    next.metadata = {
      ...next.metadata,
      uid: current.metadata?.uid,
      resourceVersion: current.metadata?.resourceVersion,
    };
    if (JSON.stringify(next) === JSON.stringify(current)) return clone(current);
    return this.#write(type, next, 'MODIFIED');
  }

  async delete<T extends KubeObject>(
    type: ResourceType<T>,
    location: ObjectLocation & { name: string },
    options: DeleteOptions = {},
  ): Promise<T | KubeObject> {
    this.#record({
      verb: 'delete',
      resource: type.plural,
      key: this.#key(type, location.namespace, location.name),
      body: options,
    });
    const current = this.#existing(type, location) as KubeObject & {
      spec?: { nodeName?: string; terminationGracePeriodSeconds?: number };
    };
    if (options.preconditions?.uid && options.preconditions.uid !== current.metadata?.uid) {
      throw apiError(409, 'Conflict', 'Precondition failed: UID in precondition does not match');
    }
    const grace = options.gracePeriodSeconds ?? current.spec?.terminationGracePeriodSeconds ?? 30;
    // A pod on a node is deleted gracefully: the kubelet removes it once its containers have stopped.
    if (type.plural === 'pods' && current.spec?.nodeName && grace > 0) {
      if (current.metadata?.deletionTimestamp) return clone(current);
      const deleting = clone(current);
      deleting.metadata = {
        ...deleting.metadata,
        deletionTimestamp: new Date(this.now() + grace * 1000).toISOString().replace(/\.\d+Z$/, 'Z'),
        deletionGracePeriodSeconds: grace,
      };
      return this.#write(type, deleting as T, 'MODIFIED');
    }
    this.#remove(type, current);
    return clone(current);
  }
}
