/**
 * The environment of a remote pod's containers: what the remote kubelet can resolve stays a
 * reference, what it would get wrong is resolved here, from the origin.
 *
 * This provider asks the controller for unresolved pods (`resolvesEnvironment`), so that Secret
 * values are never written into the remote pod's spec:
 * - `configMapKeyRef`, `secretKeyRef` and `envFrom` stay as they are (with `optional`): they name
 *   the remote copies of the origin's objects (reflected-objects.ts), which the remote kubelet reads.
 * - `resourceFieldRef` stays: the remote kubelet knows the container's limits and the real node's size.
 * - `fieldRef` to `status.podIP(s)` stays: the remote pod's IP is the one the local pod reports.
 * - every other `fieldRef` becomes its origin value: the remote pod's namespace is the mapped one, its
 *   uid, labels and annotations are the remote object's, it has no service account and runs on
 *   another node; the local pod's host IP is the virtual node's.
 * - the origin's service-link variables (the remote pod has `enableServiceLinks: false`) come first in
 *   `env`, less the names an `envFrom` source defines: later entries override them and may read
 *   them through `$(VAR)`, as the kubelet orders them.
 *
 * Values written here are escaped (`$` → `$$`) so the remote kubelet's `$(VAR)` expansion leaves
 * them as they are, as it leaves values that come from `valueFrom`.
 */
import type { Container, EnvFromSource, EnvVar, EphemeralContainer, Pod } from 'kubernetes-types/core/v1.js';
import {
  type DownwardValues,
  podServiceEnvironment,
  type ResourceCache,
  resolveFieldRef,
} from '../../provider/index.ts';

/** Downward API paths the remote kubelet answers as the local pod would. */
const REMOTE_FIELD_PATHS: ReadonlySet<string> = new Set(['status.podIP', 'status.podIPs']);

/** What the origin-side resolution reads. */
export interface OriginEnvironmentContext {
  /** The origin's ConfigMaps, Secrets and Services (synced for the pod's namespace and `default`). */
  sources: Pick<ResourceCache, 'getConfigMap' | 'getSecret' | 'listServices'>;
  /** The virtual node's name and IPs: the local pod's `spec.nodeName` and `status.hostIP(s)`. */
  nodeName: string;
  hostIPs: readonly string[];
}

/** `value` as an env `value` whose `$(VAR)` expansion yields `value` itself. */
function literal(value: string): string {
  return value.replaceAll('$', '$$$$');
}

/** The names the container's `envFrom` sources define, as far as the origin's cache knows them. */
function envFromNames(
  envFrom: readonly EnvFromSource[],
  namespace: string,
  sources: OriginEnvironmentContext['sources'],
): Set<string> {
  const names = new Set<string>();
  for (const source of envFrom) {
    const object = source.configMapRef
      ? sources.getConfigMap(namespace, source.configMapRef.name ?? '')
      : source.secretRef
        ? sources.getSecret(namespace, source.secretRef.name ?? '')
        : undefined;
    // binaryData is not part of the environment, as in the kubelet.
    for (const key of Object.keys(object?.data ?? {})) names.add(`${source.prefix ?? ''}${key}`);
  }
  return names;
}

function withOriginValue(variable: EnvVar, pod: Pod, downward: DownwardValues): EnvVar {
  const fieldRef = variable.valueFrom?.fieldRef;
  if (!fieldRef || REMOTE_FIELD_PATHS.has(fieldRef.fieldPath)) return variable;
  try {
    return { name: variable.name, value: literal(resolveFieldRef(fieldRef, pod, downward)) };
  } catch {
    // A path the kubelet rejects: the remote kubelet rejects it too, and says so on the pod.
    return variable;
  }
}

function containerWithOriginEnvironment<T extends Container | EphemeralContainer>(
  container: T,
  pod: Pod,
  services: readonly EnvVar[],
  context: OriginEnvironmentContext,
): T {
  const namespace = pod.metadata?.namespace ?? 'default';
  const downward: DownwardValues = { nodeName: context.nodeName, hostIPs: context.hostIPs, podIPs: [] };
  const defined = envFromNames(container.envFrom ?? [], namespace, context.sources);
  const env: EnvVar[] = [];
  for (const variable of services) {
    if (!defined.has(variable.name)) env.push({ name: variable.name, value: literal(variable.value ?? '') });
  }
  for (const variable of container.env ?? []) env.push(withOriginValue(variable, pod, downward));
  if (env.length === 0 && container.env === undefined) return container;
  return { ...container, env };
}

/**
 * The pod with every container's (init, regular and ephemeral) environment as the remote pod gets
 * it. The caller has the origin's caches synced for the pod's namespace and `default`.
 */
export function withOriginEnvironment(pod: Pod, context: OriginEnvironmentContext): Pod {
  const spec = pod.spec;
  if (!spec) return pod;
  const services = podServiceEnvironment(pod, (namespace) => context.sources.listServices(namespace)).variables;
  const translated = {
    ...spec,
    containers: spec.containers.map((c) => containerWithOriginEnvironment(c, pod, services, context)),
  };
  if (spec.initContainers) {
    translated.initContainers = spec.initContainers.map((c) =>
      containerWithOriginEnvironment(c, pod, services, context),
    );
  }
  if (spec.ephemeralContainers) {
    translated.ephemeralContainers = spec.ephemeralContainers.map((c) =>
      containerWithOriginEnvironment(c, pod, services, context),
    );
  }
  return { ...pod, spec: translated };
}
