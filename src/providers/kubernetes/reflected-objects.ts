/**
 * The ConfigMaps and Secrets a pod's volumes, environment (`env[].valueFrom`, `envFrom`) and image
 * pull secrets name, copied into the remote
 * namespace and kept in sync: created before the remote pod, updated when the origin's object
 * changes (the remote kubelet then refreshes the volume, as a kubelet does), deleted when no pod
 * of this node needs them any more.
 *
 * Only objects we created are ever updated or deleted (they carry this node's owner labels); a
 * remote object of the same name that is not ours is left alone, and the pod uses it. The remote
 * pod's `env` and `envFrom` keep naming these objects (remote-env.ts), so their values are read by
 * the remote kubelet from the copies and never written into the remote pod's spec.
 */
import type { ConfigMap, Pod, Secret } from 'kubernetes-types/core/v1.js';
import type { Logger } from 'pino';
import { errorMessage, isAlreadyExists, isNotFound } from '../../errors.ts';
import type { KubeClient } from '../../kube/client.ts';
import { ConfigMaps, type ResourceType, Secrets } from '../../kube/resources.ts';
import type { ResourceCache } from '../../provider/index.ts';
import {
  LABEL_MANAGED_BY,
  LABEL_ORIGIN_CLUSTER,
  LABEL_ORIGIN_NAMESPACE,
  LABEL_ORIGIN_NODE,
  labelSafe,
  MANAGED_BY,
  type Ownership,
} from './remote-pod.ts';

export type ReflectedKind = 'ConfigMap' | 'Secret';
type Reflected = ConfigMap | Secret;

function typeOf(kind: ReflectedKind): ResourceType<Reflected> {
  return (kind === 'ConfigMap' ? ConfigMaps : Secrets) as unknown as ResourceType<Reflected>;
}

export interface Dependency {
  kind: ReflectedKind;
  name: string;
}

/**
 * The ConfigMaps and Secrets a pod's volumes (plain and projected), its containers' environment
 * (init, regular and ephemeral: `configMapKeyRef`, `secretKeyRef`, `envFrom`) and its image pull
 * secrets name. Optional references are included: the copy is written when the object exists.
 */
export function podDependencies(pod: Pod): Dependency[] {
  const found = new Map<string, Dependency>();
  const add = (kind: ReflectedKind, name: string | undefined) => {
    if (name) found.set(`${kind}/${name}`, { kind, name });
  };
  for (const volume of pod.spec?.volumes ?? []) {
    add('ConfigMap', volume.configMap?.name);
    add('Secret', volume.secret?.secretName);
    for (const source of volume.projected?.sources ?? []) {
      add('ConfigMap', source.configMap?.name);
      add('Secret', source.secret?.name);
    }
  }
  const spec = pod.spec;
  for (const container of [
    ...(spec?.initContainers ?? []),
    ...(spec?.containers ?? []),
    ...(spec?.ephemeralContainers ?? []),
  ]) {
    for (const source of container.envFrom ?? []) {
      add('ConfigMap', source.configMapRef?.name);
      add('Secret', source.secretRef?.name);
    }
    for (const variable of container.env ?? []) {
      add('ConfigMap', variable.valueFrom?.configMapKeyRef?.name);
      add('Secret', variable.valueFrom?.secretKeyRef?.name);
    }
  }
  for (const reference of pod.spec?.imagePullSecrets ?? []) add('Secret', reference.name);
  return [...found.values()];
}

/** The remote copy of a local ConfigMap or Secret: its data, our stamps, nothing of the origin's metadata. */
export function remoteCopy(
  kind: ReflectedKind,
  source: ConfigMap | Secret,
  remoteNamespace: string,
  owner: Ownership,
  stamps: { labels: Readonly<Record<string, string>>; annotations: Readonly<Record<string, string>> },
): ConfigMap | Secret {
  const metadata = {
    name: source.metadata?.name ?? '',
    namespace: remoteNamespace,
    labels: {
      ...stamps.labels,
      [LABEL_MANAGED_BY]: MANAGED_BY,
      [LABEL_ORIGIN_CLUSTER]: owner.originCluster,
      [LABEL_ORIGIN_NODE]: labelSafe(owner.nodeName),
      [LABEL_ORIGIN_NAMESPACE]: source.metadata?.namespace ?? 'default',
    },
    ...(Object.keys(stamps.annotations).length > 0 ? { annotations: { ...stamps.annotations } } : {}),
  };
  const copy: Record<string, unknown> = { apiVersion: 'v1', kind, metadata };
  if (source.data) copy.data = { ...source.data };
  const binaryData = (source as ConfigMap).binaryData;
  if (binaryData) copy.binaryData = { ...binaryData };
  if (kind === 'Secret' && (source as Secret).type) copy.type = (source as Secret).type;
  if (source.immutable) copy.immutable = true;
  return copy as Reflected;
}

/** Secret types the remote API will not take from us (the token controller owns them). */
const UNCOPYABLE_SECRET_TYPES = new Set(['kubernetes.io/service-account-token']);

export interface ReflectorOptions {
  remote: KubeClient;
  resources: ResourceCache;
  owner: Ownership;
  labels: Readonly<Record<string, string>>;
  annotations: Readonly<Record<string, string>>;
  logger: Logger;
  signal: AbortSignal;
}

/** Keeps the remote copies of what this node's pods reference. */
export class ObjectReflector {
  readonly #options: ReflectorOptions;
  /** `kind/localNamespace/name` → the remote namespace and the local pods (keys) that need it. */
  readonly #users = new Map<string, { remoteNamespace: string; pods: Set<string> }>();
  /** Last data written per object, to skip writes that change nothing. */
  readonly #written = new Map<string, string>();

  constructor(options: ReflectorOptions) {
    this.#options = options;
    options.resources.onChange((kind, namespace, name) => {
      if (kind === 'Service') return;
      const key = `${kind}/${namespace}/${name}`;
      const users = this.#users.get(key);
      if (!users || users.pods.size === 0) return;
      void this.#sync(kind, namespace, name, users.remoteNamespace, options.signal).catch((error: unknown) => {
        options.logger.warn({ object: key, err: errorMessage(error) }, 'could not update the remote copy');
      });
    });
  }

  /**
   * Records that the pod needs its dependencies and writes their remote copies (before the remote
   * pod is created, so it starts with them). An object missing locally is skipped: the remote
   * kubelet waits for it, as ours would, and its arrival here writes the copy.
   */
  async ensure(pod: Pod, podKeyValue: string, remoteNamespace: string, signal: AbortSignal): Promise<void> {
    const namespace = pod.metadata?.namespace ?? 'default';
    const dependencies = podDependencies(pod);
    const kinds = new Set(dependencies.map((d) => d.kind));
    await Promise.all([...kinds].map((kind) => this.#options.resources.ready(kind, namespace)));
    await Promise.all(
      dependencies.map(async ({ kind, name }) => {
        this.#use(kind, namespace, name, remoteNamespace, podKeyValue);
        await this.#sync(kind, namespace, name, remoteNamespace, signal);
      }),
    );
  }

  /** Records, without writing, what an adopted remote pod uses (a restart), and starts the caches that keep them in sync. */
  adopt(pod: Pod, localNamespace: string, podKeyValue: string): void {
    const remoteNamespace = pod.metadata?.namespace ?? '';
    for (const { kind, name } of podDependencies(pod)) {
      const key = `${kind}/${localNamespace}/${name}`;
      if (this.#users.get(key)?.pods.has(podKeyValue)) continue;
      this.#use(kind, localNamespace, name, remoteNamespace, podKeyValue);
      // What changed while we were away is written once the cache has it.
      void this.#options.resources
        .ready(kind, localNamespace)
        .then(() => this.#sync(kind, localNamespace, name, remoteNamespace, this.#options.signal))
        .catch((error: unknown) => {
          this.#options.logger.debug({ object: key, err: errorMessage(error) }, 'could not refresh an adopted copy');
        });
    }
  }

  /** The pod is gone: remote copies no pod needs any more are deleted. */
  async release(podKeyValue: string, localNamespace: string, signal: AbortSignal): Promise<void> {
    for (const [key, users] of this.#users) {
      if (!key.slice(key.indexOf('/') + 1).startsWith(`${localNamespace}/`) || !users.pods.delete(podKeyValue)) {
        continue;
      }
      if (users.pods.size > 0) continue;
      this.#users.delete(key);
      this.#written.delete(key);
      const [kind, , name] = key.split('/') as [ReflectedKind, string, string];
      try {
        await this.#options.remote.delete(
          typeOf(kind),
          { namespace: users.remoteNamespace, name },
          { signal, answer: 'metadata' },
        );
      } catch (error) {
        if (!isNotFound(error)) {
          this.#options.logger.warn({ object: key, err: errorMessage(error) }, 'could not delete the remote copy');
        }
      }
    }
  }

  #use(kind: ReflectedKind, namespace: string, name: string, remoteNamespace: string, podKeyValue: string): void {
    const key = `${kind}/${namespace}/${name}`;
    let users = this.#users.get(key);
    if (!users) {
      users = { remoteNamespace, pods: new Set() };
      this.#users.set(key, users);
    }
    users.pods.add(podKeyValue);
  }

  async #sync(kind: ReflectedKind, namespace: string, name: string, remoteNamespace: string, signal: AbortSignal) {
    const { resources, remote, owner } = this.#options;
    const source =
      kind === 'ConfigMap' ? resources.getConfigMap(namespace, name) : resources.getSecret(namespace, name);
    if (!source) return;
    if (kind === 'Secret' && UNCOPYABLE_SECRET_TYPES.has((source as Secret).type ?? '')) return;
    const type = typeOf(kind);
    const copy = remoteCopy(kind, source, remoteNamespace, owner, this.#options);
    const key = `${kind}/${namespace}/${name}`;
    const content = JSON.stringify(copy);
    if (this.#written.get(key) === content) return;
    try {
      await remote.create(type, copy, { signal });
    } catch (error) {
      if (!isAlreadyExists(error)) throw error;
      const existing = await remote.get(type, { namespace: remoteNamespace, name }, signal);
      const labels = existing.metadata?.labels ?? {};
      if (
        labels[LABEL_ORIGIN_CLUSTER] !== owner.originCluster ||
        labels[LABEL_ORIGIN_NODE] !== labelSafe(owner.nodeName)
      ) {
        this.#options.logger.warn(
          { object: `${remoteNamespace}/${name}`, kind },
          'a remote object of that name exists and is not ours: the pod uses it as it is',
        );
        this.#written.set(key, content);
        return;
      }
      if (existing.immutable || (kind === 'Secret' && (existing as Secret).type !== (copy as Secret).type)) {
        // Neither can change in place: replace the object.
        await remote.delete(
          type,
          { namespace: remoteNamespace, name },
          { signal, preconditions: { uid: existing.metadata?.uid ?? '' } },
        );
        await remote.create(type, copy, { signal });
      } else {
        await remote.replace(
          type,
          {
            ...copy,
            metadata: { ...copy.metadata, resourceVersion: existing.metadata?.resourceVersion ?? '' },
          },
          { signal },
        );
      }
    }
    this.#written.set(key, content);
    this.#options.logger.debug({ object: `${remoteNamespace}/${name}`, kind }, 'wrote the remote copy');
  }
}
