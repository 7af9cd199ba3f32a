/**
 * Service-link environment variables: `<NAME>_SERVICE_HOST`, `<NAME>_SERVICE_PORT`,
 * `<NAME>_SERVICE_PORT_<PORT_NAME>` and the Docker-link style `<NAME>_PORT`,
 * `<NAME>_PORT_<port>_<PROTO>{,_PROTO,_PORT,_ADDR}`, for the services a pod can see.
 *
 * A pod sees the `kubernetes` service of the `default` namespace always (in-cluster clients find the API
 * server through `KUBERNETES_SERVICE_HOST`), and the services of its own namespace unless
 * `spec.enableServiceLinks` is false. Services without a cluster IP (`None` or unset) have no variables.
 *
 * Objects from the caller are treated as immutable: each Service's variables are computed once and
 * shared by every pod and container that sees it. The EnvVar objects are frozen; the arrays are read-only
 * by type only (see `computeServiceLinkVariables`), so callers must copy before changing them.
 */
import type { EnvVar, Pod, Service } from 'kubernetes-types/core/v1.js';

/** The namespace and name of the service every pod sees. */
const MASTER_NAMESPACE = 'default';
const MASTER_SERVICE = 'kubernetes';

/** The variables of a pod's visible services, in a fixed order, and an index by name. */
export interface ServiceEnvironment {
  /** Every variable, services sorted by name, each service's variables in the kubelet's order. */
  readonly variables: readonly EnvVar[];
  /** The same variables by name. */
  readonly byName: ReadonlyMap<string, EnvVar>;
}

const EMPTY_SERVICE_ENVIRONMENT: ServiceEnvironment = Object.freeze({ variables: [], byName: new Map() });

const variablesByService = new WeakMap<Service, readonly EnvVar[]>();

/** True when the service has a cluster IP, i.e. it is neither headless nor without one yet. */
export function hasClusterIP(service: Service): boolean {
  const clusterIP = service.spec?.clusterIP;
  return clusterIP !== undefined && clusterIP !== '' && clusterIP !== 'None';
}

function envVariableName(name: string): string {
  return name.replaceAll('-', '_').toUpperCase();
}

function joinHostPort(host: string, port: string): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

function computeServiceLinkVariables(service: Service): readonly EnvVar[] {
  if (!hasClusterIP(service)) return [];
  const clusterIP = service.spec?.clusterIP as string;
  const prefix = envVariableName(service.metadata?.name ?? '');
  const ports = service.spec?.ports ?? [];
  const variables: EnvVar[] = [{ name: `${prefix}_SERVICE_HOST`, value: clusterIP }];
  // A service with a cluster IP always has a port; the guard only protects against hand-built objects.
  if (ports.length > 0) {
    variables.push({ name: `${prefix}_SERVICE_PORT`, value: String(ports[0]?.port) });
  }
  for (const port of ports) {
    if (port.name)
      variables.push({ name: `${prefix}_SERVICE_PORT_${envVariableName(port.name)}`, value: String(port.port) });
  }
  for (let i = 0; i < ports.length; i++) {
    const port = ports[i] as NonNullable<typeof ports>[number];
    const protocol = port.protocol || 'TCP';
    const lowerProtocol = protocol.toLowerCase();
    const portNumber = String(port.port);
    const url = `${lowerProtocol}://${joinHostPort(clusterIP, portNumber)}`;
    // Docker special-cases the first port.
    if (i === 0) variables.push({ name: `${prefix}_PORT`, value: url });
    const portPrefix = `${prefix}_PORT_${portNumber}_${protocol.toUpperCase()}`;
    variables.push(
      { name: portPrefix, value: url },
      { name: `${portPrefix}_PROTO`, value: lowerProtocol },
      { name: `${portPrefix}_PORT`, value: portNumber },
      { name: `${portPrefix}_ADDR`, value: clusterIP },
    );
  }
  // Shared by every pod that sees the service: frozen so that a careless consumer fails loudly. The
  // array is not frozen (only typed read-only): V8's fast Array.prototype.concat refuses frozen arrays.
  for (const variable of variables) Object.freeze(variable);
  return variables;
}

/**
 * The service-link variables of one service, in the kubelet's order; empty for a service without a
 * cluster IP. Computed once per Service object.
 */
export function serviceLinkVariables(service: Service): readonly EnvVar[] {
  let variables = variablesByService.get(service);
  if (variables === undefined) {
    variables = computeServiceLinkVariables(service);
    variablesByService.set(service, variables);
  }
  return variables;
}

/**
 * The services a pod in `namespace` sees, in listing order: `default/kubernetes`, and when
 * `enableServiceLinks` is true every service of `namespace` with a cluster IP. A service of the pod's own
 * namespace that is also called `kubernetes` hides the default one, as in the kubelet.
 */
function visibleServices(
  namespace: string,
  enableServiceLinks: boolean,
  listServices: (namespace: string) => readonly Service[],
): Service[] {
  const visible: Service[] = [];
  let master: Service | undefined;
  for (const service of listServices(MASTER_NAMESPACE)) {
    if (!hasClusterIP(service)) continue;
    if (service.metadata?.name === MASTER_SERVICE) master = service;
    else if (enableServiceLinks && namespace === MASTER_NAMESPACE) visible.push(service);
  }
  if (enableServiceLinks && namespace !== MASTER_NAMESPACE) {
    for (const service of listServices(namespace)) {
      if (!hasClusterIP(service)) continue;
      // Names are unique within a namespace, so `kubernetes` is the only possible clash.
      if (service.metadata?.name === MASTER_SERVICE) master = service;
      else visible.push(service);
    }
  }
  if (master !== undefined) visible.push(master);
  return visible;
}

function byName(a: Service, b: Service): number {
  const left = a.metadata?.name ?? '';
  const right = b.metadata?.name ?? '';
  return left < right ? -1 : left > right ? 1 : 0;
}

/**
 * The services a pod in `namespace` sees, sorted by name: `default/kubernetes`, and when
 * `enableServiceLinks` is true every service of `namespace` with a cluster IP. A service of the pod's own
 * namespace that is also called `kubernetes` hides the default one, as in the kubelet.
 */
export function servicesVisibleToPod(
  namespace: string,
  enableServiceLinks: boolean,
  listServices: (namespace: string) => readonly Service[],
): Service[] {
  return visibleServices(namespace, enableServiceLinks, listServices).sort(byName);
}

function buildEnvironment(services: readonly Service[]): ServiceEnvironment {
  if (services.length === 0) return EMPTY_SERVICE_ENVIRONMENT;
  const variables: EnvVar[] = [];
  const index = new Map<string, EnvVar>();
  for (const service of services) {
    for (const variable of serviceLinkVariables(service)) {
      // Names collide only for contrived service and port names (service `a-service-port-x` and port
      // `x-service-host` of service `a`); the kubelet's pick is random, ours is the first service by name.
      if (index.has(variable.name)) continue;
      index.set(variable.name, variable);
      variables.push(variable);
    }
  }
  return { variables, byName: index };
}

/** The last environment built per namespace and `enableServiceLinks`, with the services it was built from. */
interface CachedEnvironment {
  readonly services: readonly Service[];
  readonly environment: ServiceEnvironment;
}

/**
 * Every pod of a namespace sees the same services, so the environment is built once and reused for as
 * long as the listing holds the very same Service objects (informer caches replace an object when it
 * changes). Bounded, oldest first out, so deleted namespaces do not accumulate.
 */
const environmentCache = new Map<string, CachedEnvironment>();
const ENVIRONMENT_CACHE_LIMIT = 1024;

function sameServices(a: readonly Service[], b: readonly Service[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * The service-link variables of every service `pod` sees (see {@link servicesVisibleToPod}). The result
 * is shared between pods of a namespace: treat it as read-only.
 */
export function podServiceEnvironment(
  pod: Pod,
  listServices: (namespace: string) => readonly Service[],
): ServiceEnvironment {
  const namespace = pod.metadata?.namespace ?? '';
  const enableServiceLinks = pod.spec?.enableServiceLinks !== false;
  const services = visibleServices(namespace, enableServiceLinks, listServices);
  // Without links every namespace sees the same services: one entry (namespaces cannot contain a newline).
  const key = enableServiceLinks ? namespace : '\n';
  const cached = environmentCache.get(key);
  if (cached !== undefined && sameServices(cached.services, services)) return cached.environment;
  const environment = buildEnvironment([...services].sort(byName));
  environmentCache.delete(key);
  if (environmentCache.size >= ENVIRONMENT_CACHE_LIMIT) {
    environmentCache.delete(environmentCache.keys().next().value as string);
  }
  environmentCache.set(key, { services, environment });
  return environment;
}
