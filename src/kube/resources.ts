/**
 * The Kubernetes resource types this package reads and writes, and how their URL paths are built.
 *
 * Objects travel as plain JSON typed with `kubernetes-types` (the wire format exactly: times are
 * RFC 3339 strings), never through model classes, so a list of ten thousand pods costs one
 * `JSON.parse` and no conversion.
 */
import type { CertificateSigningRequest } from 'kubernetes-types/certificates/v1.js';
import type { Lease } from 'kubernetes-types/coordination/v1.js';
import type {
  ConfigMap,
  Event,
  Namespace,
  Node,
  Pod,
  Secret,
  Service,
  ServiceAccount,
} from 'kubernetes-types/core/v1.js';
import type { ListMeta, ObjectMeta } from 'kubernetes-types/meta/v1.js';

/** Any Kubernetes object: what the generic client functions need to know about one. */
export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata?: ObjectMeta;
}

/** A `…List` response. */
export interface KubeList<T> {
  apiVersion?: string;
  kind?: string;
  metadata?: ListMeta;
  items: T[];
}

/** Describes one resource type; the type parameter carries the object type to callers. */
export interface ResourceType<T extends KubeObject = KubeObject> {
  /** API group; `''` for the core group. */
  readonly group: string;
  readonly version: string;
  /** Plural resource name, as in the URL: `pods`. */
  readonly plural: string;
  readonly kind: string;
  readonly namespaced: boolean;
  /** Phantom field that carries `T`; never set. */
  readonly _object?: T;
}

/** Declares a resource type. */
export function resourceType<T extends KubeObject>(
  group: string,
  version: string,
  plural: string,
  kind: string,
  namespaced: boolean,
): ResourceType<T> {
  return { group, version, plural, kind, namespaced };
}

export const Pods = resourceType<Pod>('', 'v1', 'pods', 'Pod', true);
export const Nodes = resourceType<Node>('', 'v1', 'nodes', 'Node', false);
export const Namespaces = resourceType<Namespace>('', 'v1', 'namespaces', 'Namespace', false);
export const ConfigMaps = resourceType<ConfigMap>('', 'v1', 'configmaps', 'ConfigMap', true);
export const Secrets = resourceType<Secret>('', 'v1', 'secrets', 'Secret', true);
export const Services = resourceType<Service>('', 'v1', 'services', 'Service', true);
export const ServiceAccounts = resourceType<ServiceAccount>('', 'v1', 'serviceaccounts', 'ServiceAccount', true);
export const Events = resourceType<Event>('', 'v1', 'events', 'Event', true);
export const Leases = resourceType<Lease>('coordination.k8s.io', 'v1', 'leases', 'Lease', true);
export const CertificateSigningRequests = resourceType<CertificateSigningRequest>(
  'certificates.k8s.io',
  'v1',
  'certificatesigningrequests',
  'CertificateSigningRequest',
  false,
);

/** Where one object, or a collection, lives. */
export interface ObjectLocation {
  namespace?: string | undefined;
  name?: string | undefined;
  subresource?: string | undefined;
}

/** The URL path of a collection or an object: `/api/v1/namespaces/ns/pods/name/status`. */
export function resourcePath(type: ResourceType, location: ObjectLocation = {}): string {
  let path = type.group ? `/apis/${type.group}/${type.version}` : `/api/${type.version}`;
  if (type.namespaced && location.namespace) path += `/namespaces/${encodeURIComponent(location.namespace)}`;
  path += `/${type.plural}`;
  if (location.name !== undefined) {
    path += `/${encodeURIComponent(location.name)}`;
    if (location.subresource) path += `/${location.subresource}`;
  }
  return path;
}

/** `namespace/name`, or `name` for cluster-scoped objects: the key caches and queues use. */
export function objectKey(object: KubeObject): string {
  return namespacedKey(object.metadata?.namespace, object.metadata?.name ?? '');
}

/** The {@link objectKey} of the object `name` in `namespace` (cluster-scoped without one). */
export function namespacedKey(namespace: string | undefined, name: string): string {
  return namespace ? `${namespace}/${name}` : name;
}

/** Splits an {@link objectKey} back into namespace and name. */
export function splitKey(key: string): { namespace: string; name: string } {
  const slash = key.indexOf('/');
  return slash < 0 ? { namespace: '', name: key } : { namespace: key.slice(0, slash), name: key.slice(slash + 1) };
}
