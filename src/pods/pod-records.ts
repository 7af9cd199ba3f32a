/**
 * What the pod controller remembers about each pod of its node, beside the API's copy in the
 * informer: where the pod stands with the provider, what the provider was last told and last
 * reported, and which ConfigMaps and Secrets its environment reads (so that their changes reach
 * it). Shared by the sync side and the status manager; one record per `namespace/name`.
 */
import type { Pod, PodStatus } from 'kubernetes-types/core/v1.js';
import type { ResourceCache } from '../kube/resource-cache.ts';
import { splitKey } from '../kube/resources.ts';
import { contentDigest } from './pod-fingerprint.ts';

/**
 * Where a pod stands with the provider — one state instead of flags whose combinations could
 * contradict each other:
 * - `absent`: not created there (new, waiting for a ConfigMap, or its creation failing);
 * - `running`: created by us, or adopted at start;
 * - `deleting`: the provider accepted `deletePod` and is terminating it;
 * - `gone`: the provider no longer has it.
 */
export type ProviderState = 'absent' | 'running' | 'deleting' | 'gone';

export interface PodRecord {
  /** The API pod's uid: a pod re-created under the same name is a different pod. */
  uid: string;
  provider: ProviderState;
  /** Fingerprint of what the provider was last given (see pod-fingerprint.ts). */
  fingerprint?: string;
  /**
   * A terminating pod the provider is done with: `wanted` until the status manager has removed it
   * from the API, then `sent` (the cache shows the pod until the watch brings the deletion).
   */
  apiRemoval?: 'wanted' | 'sent';
  /** The provider's latest status report, and a digest of it to tell a new report from a repeat. */
  providerStatus?: PodStatus;
  providerStatusDigest?: string;
  /**
   * The API version our last status write replaced. While the cache still shows it, the watch
   * has not brought our write back, and a status computed from the cache would repeat it.
   */
  replacedVersion?: string;
  /**
   * The API version our last status write made, and the status it was computed from (the
   * provider's report or the synthetic one): while the source is unchanged, an update from
   * `replacedVersion` to `writtenVersion` is only the echo of that write (see isOwnStatusEcho).
   */
  writtenVersion?: string;
  writtenFrom?: PodStatus;
  /** A status made by the controller (config error, provider failure) instead of the provider's. */
  syntheticStatus?: PodStatus;
  /**
   * After a provider failure: not before this time (clock ms) and only while the pod is unchanged
   * is the provider called again, so the pod's own updates (our status write among them) do not
   * cut the backoff short.
   */
  retryNotBefore?: number;
  failedFingerprint?: string;
  /** ConfigMaps/Secrets this pod's environment reads, as `Kind/namespace/name`. */
  dependencies: string[];
}

export class PodRecords {
  readonly #records = new Map<string, PodRecord>();
  /** `Kind/namespace/name` → pods whose environment depends on that object. */
  readonly #dependents = new Map<string, Set<string>>();
  readonly #resources: ResourceCache;

  /** The cache a pod's namespace is retained in while the pod has a record. */
  constructor(resources: ResourceCache) {
    this.#resources = resources;
  }

  get size(): number {
    return this.#records.size;
  }

  get(key: string): PodRecord | undefined {
    return this.#records.get(key);
  }

  entries(): IterableIterator<[string, PodRecord]> {
    return this.#records.entries();
  }

  /**
   * The pod's record, made when missing. A new record retains the pod's namespace in the resource
   * cache (its ConfigMaps, Secrets and Services are watched while a pod there needs them).
   */
  ensure(key: string, apiPod: Pod): PodRecord {
    let record = this.#records.get(key);
    if (!record) {
      record = { uid: apiPod.metadata?.uid ?? '', provider: 'absent', dependencies: [] };
      this.#records.set(key, record);
      this.#resources.retain(splitKey(key).namespace);
    }
    return record;
  }

  /** Drops the record, its dependencies and its hold on the namespace's cache. */
  forget(key: string): void {
    const record = this.#records.get(key);
    if (!record) return;
    this.setDependencies(key, record, []);
    this.#records.delete(key);
    this.#resources.release(splitKey(key).namespace);
  }

  setDependencies(key: string, record: PodRecord, dependencies: string[]): void {
    for (const dependency of record.dependencies) {
      const set = this.#dependents.get(dependency);
      set?.delete(key);
      if (set?.size === 0) this.#dependents.delete(dependency);
    }
    record.dependencies = dependencies;
    for (const dependency of dependencies) {
      let set = this.#dependents.get(dependency);
      if (!set) {
        set = new Set();
        this.#dependents.set(dependency, set);
      }
      set.add(key);
    }
  }

  /** The pods whose environment reads `Kind/namespace/name`. */
  dependents(dependency: string): ReadonlySet<string> {
    return this.#dependents.get(dependency) ?? EMPTY;
  }

  /** Keeps a provider report; false when it repeats the last one. */
  storeProviderStatus(record: PodRecord, status: PodStatus): boolean {
    const digest = contentDigest(status);
    if (digest === record.providerStatusDigest) return false;
    record.providerStatus = status;
    record.providerStatusDigest = digest;
    return true;
  }
}

const EMPTY: ReadonlySet<string> = new Set();
