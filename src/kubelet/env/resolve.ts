/**
 * Resolves the environment of every container of a pod, as the kubelet does before starting them,
 * so that a provider receives plain `name=value` lists.
 *
 * Per container (the kubelet's `makeEnvironmentVariables`):
 * 1. `envFrom` sources in order, each key with the source's prefix; later sources override earlier ones.
 * 2. `env` entries in order, overriding what came before. A non-empty `value` gets `$(VAR)` expansion
 *    against the variables defined so far, then the service-link variables; otherwise `valueFrom`
 *    is resolved (fieldRef, resourceFieldRef, configMapKeyRef, secretKeyRef).
 * 3. Service-link variables whose names are still free.
 *
 * A variable keeps the position of its first definition; service variables come last. Unlike the
 * kubelet (map order) and the Go virtual-kubelet (map order, sorted when compared), the output order
 * is deterministic, so an unchanged pod resolves to an equal environment.
 *
 * Optional references that are missing are skipped with a Warning event; missing required ones produce
 * a Warning event and an {@link EnvironmentError} (never an exception), as do references the kubelet
 * would reject (unknown field path, unknown resource…). Resolution still visits every container so that
 * all events and every dependency are reported at once.
 */
import { Buffer } from 'node:buffer';
import type {
  ConfigMap,
  Container,
  EnvFromSource,
  EnvVar,
  EnvVarSource,
  EphemeralContainer,
  Pod,
  PodSpec,
  Secret,
} from 'kubernetes-types/core/v1.js';
import { errorMessage } from '../../errors.ts';
import { expandVariables } from './expansion.ts';
import { type DownwardValues, orderPodIPs, POD_IP_FIELD_PATHS, resolveFieldRef } from './field-ref.ts';
import { quoteGoString } from './go-quote.ts';
import { isValidEnvVarName } from './names.ts';
import { CREATE_CONTAINER_CONFIG_ERROR, EnvironmentEventReason } from './reasons.ts';
import { resolveResourceFieldRef } from './resource-field-ref.ts';
import { podServiceEnvironment, type ServiceEnvironment } from './service-links.ts';
import type {
  EnvironmentContext,
  EnvironmentDependency,
  EnvironmentError,
  EnvironmentEvent,
  EnvironmentResolution,
  EnvironmentSources,
} from './types.ts';

type AnyContainer = Container | EphemeralContainer;

/** The variables one `envFrom` source contributes with one prefix, computed once per object. */
interface EnvFromEntries {
  readonly variables: readonly EnvVar[];
  /** Prefixed keys that are not valid variable names, sorted. */
  readonly invalidNames: readonly string[];
}

const NO_EVENTS: readonly EnvironmentEvent[] = Object.freeze([]);
const NO_DEPENDENCIES: readonly EnvironmentDependency[] = Object.freeze([]);

/** ConfigMap/Secret → prefix → entries. Cache objects are immutable, so this never goes stale. */
const envFromCache = new WeakMap<ConfigMap | Secret, Map<string, EnvFromEntries>>();
/** Secret → key → decoded value, for `secretKeyRef`. */
const secretValueCache = new WeakMap<Secret, Map<string, string>>();

function decodeSecretValue(encoded: string): string {
  // Go keeps invalid UTF-8 bytes as they are; a JavaScript string cannot, and gets U+FFFD instead.
  return Buffer.from(encoded, 'base64').toString('utf8');
}

/**
 * A Secret's value for `key`, decoded. `stringData` is write-only and never comes back from the API,
 * but a hand-built Secret may carry it; it wins over `data`, as it does when the API server merges them.
 */
function secretValue(secret: Secret, key: string): string | undefined {
  if (secret.stringData !== undefined && Object.hasOwn(secret.stringData, key)) return secret.stringData[key];
  const data = secret.data;
  if (data === undefined || !Object.hasOwn(data, key)) return undefined;
  let decoded = secretValueCache.get(secret);
  if (decoded === undefined) {
    decoded = new Map();
    secretValueCache.set(secret, decoded);
  }
  let value = decoded.get(key);
  if (value === undefined) {
    value = decodeSecretValue(data[key] as string);
    decoded.set(key, value);
  }
  return value;
}

function computeEnvFromEntries(source: ConfigMap | Secret, prefix: string, isSecret: boolean): EnvFromEntries {
  const variables: EnvVar[] = [];
  const invalidNames: string[] = [];
  const add = (key: string, value: string): void => {
    const name = prefix + key;
    // Shared by every container that reads the object: frozen so that a careless consumer fails loudly.
    if (isValidEnvVarName(name)) variables.push(Object.freeze({ name, value }));
    else invalidNames.push(name);
  };
  if (isSecret) {
    const secret = source as Secret;
    const plain = secret.stringData;
    for (const [key, encoded] of Object.entries(secret.data ?? {})) {
      if (plain === undefined || !Object.hasOwn(plain, key)) add(key, decodeSecretValue(encoded));
    }
    for (const [key, value] of Object.entries(plain ?? {})) add(key, value);
  } else {
    // binaryData is not part of the environment, as in the kubelet.
    for (const [key, value] of Object.entries((source as ConfigMap).data ?? {})) add(key, value);
  }
  invalidNames.sort();
  return { variables, invalidNames };
}

function envFromEntries(source: ConfigMap | Secret, prefix: string, isSecret: boolean): EnvFromEntries {
  let byPrefix = envFromCache.get(source);
  if (byPrefix === undefined) {
    byPrefix = new Map();
    envFromCache.set(source, byPrefix);
  }
  let entries = byPrefix.get(prefix);
  if (entries === undefined) {
    entries = computeEnvFromEntries(source, prefix, isSecret);
    byPrefix.set(prefix, entries);
  }
  return entries;
}

/** `container` with `env` replaced and `envFrom` gone. */
function withEnv<C extends AnyContainer>(container: C, env: EnvVar[]): C {
  const { envFrom: _envFrom, ...rest } = container;
  rest.env = env;
  return rest as C;
}

/** True when `resolved` holds exactly the objects of `original`, in order. */
function sameVariables(original: readonly EnvVar[] | undefined, resolved: readonly EnvVar[]): boolean {
  if (original === undefined) return resolved.length === 0;
  if (original.length !== resolved.length) return false;
  for (let i = 0; i < resolved.length; i++) if (original[i] !== resolved[i]) return false;
  return true;
}

/** The state of one `resolvePodEnvironment` call. */
class PodEnvironmentResolver {
  readonly #pod: Pod;
  readonly #namespace: string;
  readonly #sources: EnvironmentSources;
  readonly #context: EnvironmentContext;
  readonly #services: ServiceEnvironment;
  #downward: DownwardValues | undefined;
  #configMaps: Map<string, ConfigMap | undefined> | undefined;
  #secrets: Map<string, Secret | undefined> | undefined;
  #dependencies: EnvironmentDependency[] | undefined;
  #events: EnvironmentEvent[] | undefined;
  #eventKeys: Set<string> | undefined;
  #error: EnvironmentError | undefined;
  #needsPodIP = false;

  constructor(pod: Pod, sources: EnvironmentSources, context: EnvironmentContext) {
    this.#pod = pod;
    this.#namespace = pod.metadata?.namespace ?? '';
    this.#sources = sources;
    this.#context = context;
    this.#services = podServiceEnvironment(pod, (namespace) => sources.listServices(namespace));
  }

  resolve(): EnvironmentResolution {
    const pod = this.#pod;
    const spec = pod.spec;
    let resolvedPod = pod;
    if (spec !== undefined) {
      // Init containers first: the kubelet builds (and fails) them first, so the first error matches.
      const initContainers = this.#resolveContainers(spec.initContainers);
      const containers = this.#resolveContainers(spec.containers);
      const ephemeralContainers = this.#resolveContainers(spec.ephemeralContainers);
      if (
        initContainers !== spec.initContainers ||
        containers !== spec.containers ||
        ephemeralContainers !== spec.ephemeralContainers
      ) {
        const resolvedSpec: PodSpec = { ...spec };
        if (initContainers !== undefined) resolvedSpec.initContainers = initContainers;
        if (containers !== undefined) resolvedSpec.containers = containers;
        if (ephemeralContainers !== undefined) resolvedSpec.ephemeralContainers = ephemeralContainers;
        resolvedPod = { ...pod, spec: resolvedSpec };
      }
    }
    return {
      pod: resolvedPod,
      events: this.#events ?? NO_EVENTS,
      dependencies: this.#dependencies ?? NO_DEPENDENCIES,
      needsPodIP: this.#needsPodIP,
      error: this.#error,
    };
  }

  /** The list with resolved containers; the same array when none changed. */
  #resolveContainers<C extends AnyContainer>(containers: C[] | undefined): C[] | undefined {
    if (containers === undefined) return undefined;
    let resolved: C[] | undefined;
    for (let i = 0; i < containers.length; i++) {
      const container = containers[i] as C;
      const next = this.#resolveContainer(container);
      if (next !== container && resolved === undefined) resolved = containers.slice(0, i);
      resolved?.push(next);
    }
    return resolved ?? containers;
  }

  #resolveContainer<C extends AnyContainer>(container: C): C {
    const { env, envFrom } = container;
    const services = this.#services;
    if ((envFrom === undefined || envFrom.length === 0) && (env === undefined || env.length === 0)) {
      // Nothing of its own: the pod's service variables (a copy; the shared array must stay intact).
      if (envFrom === undefined && sameVariables(env, services.variables)) return container;
      return withEnv(container, services.variables.slice());
    }

    const defined = new Map<string, EnvVar>();
    if (envFrom !== undefined) for (const source of envFrom) this.#addEnvFrom(source, defined, container.name);
    if (env !== undefined) {
      let lookup: ((name: string) => string | undefined) | undefined;
      for (const variable of env) {
        let resolved: EnvVar | undefined;
        const value = variable.value;
        if (value) {
          lookup ??= (name) => defined.get(name)?.value ?? services.byName.get(name)?.value;
          const expanded = expandVariables(value, lookup);
          resolved =
            expanded === value && variable.valueFrom === undefined
              ? variable
              : { name: variable.name, value: expanded };
        } else if (variable.valueFrom !== undefined) {
          const sourced = this.#resolveValueFrom(variable.name, variable.valueFrom, container);
          if (sourced !== undefined) resolved = { name: variable.name, value: sourced };
        } else {
          resolved = value === '' ? variable : { name: variable.name, value: '' };
        }
        if (resolved !== undefined) defined.set(variable.name, resolved);
      }
    }

    const own = [...defined.values()];
    let shadowsService = false;
    for (const name of defined.keys()) {
      if (services.byName.has(name)) {
        shadowsService = true;
        break;
      }
    }
    let final: EnvVar[];
    if (!shadowsService) {
      final = services.variables.length === 0 ? own : own.concat(services.variables);
    } else {
      final = own;
      for (const variable of services.variables) if (!defined.has(variable.name)) final.push(variable);
    }
    if (envFrom === undefined && sameVariables(env, final)) return container;
    return withEnv(container, final);
  }

  #addEnvFrom(source: EnvFromSource, defined: Map<string, EnvVar>, containerName: string): void {
    const prefix = source.prefix ?? '';
    let object: ConfigMap | Secret | undefined;
    let isSecret: boolean;
    let name: string;
    let kind: string;
    if (source.configMapRef !== undefined) {
      isSecret = false;
      kind = 'configmap';
      name = source.configMapRef.name ?? '';
      object = this.#configMap(name);
      if (object === undefined) {
        this.#missingObject(source.configMapRef.optional === true, false, name, containerName);
        return;
      }
    } else if (source.secretRef !== undefined) {
      isSecret = true;
      kind = 'secret';
      name = source.secretRef.name ?? '';
      object = this.#secret(name);
      if (object === undefined) {
        this.#missingObject(source.secretRef.optional === true, true, name, containerName);
        return;
      }
    } else {
      return;
    }
    const entries = envFromEntries(object, prefix, isSecret);
    for (const variable of entries.variables) defined.set(variable.name, variable);
    if (entries.invalidNames.length > 0) {
      this.#event(
        EnvironmentEventReason.InvalidEnvironmentVariableNames,
        `keys [${entries.invalidNames.join(', ')}] from ${kind} ${this.#namespace}/${name} were skipped since they are invalid as environment variable names`,
      );
    }
  }

  /** Events (and the error, when required) for an `envFrom` source that does not exist. */
  #missingObject(optional: boolean, isSecret: boolean, name: string, containerName: string): void {
    const message = `${isSecret ? 'secret' : 'configmap'} ${quoteGoString(name)} not found`;
    if (optional) {
      this.#event(
        isSecret ? EnvironmentEventReason.OptionalSecretNotFound : EnvironmentEventReason.OptionalConfigMapNotFound,
        message,
      );
    } else {
      this.#event(
        isSecret ? EnvironmentEventReason.MandatorySecretNotFound : EnvironmentEventReason.MandatoryConfigMapNotFound,
        message,
      );
      this.#fail(containerName, message);
    }
  }

  /** The value of a `valueFrom`, or undefined when the variable is skipped (optional and missing, or failed). */
  #resolveValueFrom(variableName: string, source: EnvVarSource, container: AnyContainer): string | undefined {
    try {
      if (source.fieldRef !== undefined) {
        const downward = this.#downwardValues();
        if (POD_IP_FIELD_PATHS.has(source.fieldRef.fieldPath) && downward.podIPs.length === 0) this.#needsPodIP = true;
        return resolveFieldRef(source.fieldRef, this.#pod, downward);
      }
      if (source.resourceFieldRef !== undefined) {
        return resolveResourceFieldRef(source.resourceFieldRef, this.#pod, container, this.#context.nodeAllocatable);
      }
    } catch (error) {
      this.#fail(container.name, errorMessage(error));
      return undefined;
    }
    if (source.configMapKeyRef !== undefined) {
      const { name = '', key, optional } = source.configMapKeyRef;
      const configMap = this.#configMap(name);
      const data = configMap?.data;
      const value = data !== undefined && Object.hasOwn(data, key) ? data[key] : undefined;
      if (value !== undefined) return value;
      this.#missingKey(configMap !== undefined, optional === true, false, variableName, name, key, container.name);
      return undefined;
    }
    if (source.secretKeyRef !== undefined) {
      const { name = '', key, optional } = source.secretKeyRef;
      const secret = this.#secret(name);
      const value = secret === undefined ? undefined : secretValue(secret, key);
      if (value !== undefined) return value;
      this.#missingKey(secret !== undefined, optional === true, true, variableName, name, key, container.name);
      return undefined;
    }
    // A source this version does not know (fileKeyRef needs the pod's volumes): refuse rather than
    // silently set an empty value, as the kubelet without that feature would.
    const kinds = Object.keys(source).join(', ') || 'none';
    this.#fail(
      container.name,
      `environment variable ${quoteGoString(variableName)} has an unsupported source (${kinds})`,
    );
    return undefined;
  }

  /** Events (and the error, when required) for a `configMapKeyRef`/`secretKeyRef` that resolves to nothing. */
  #missingKey(
    objectExists: boolean,
    optional: boolean,
    isSecret: boolean,
    variableName: string,
    name: string,
    key: string,
    containerName: string,
  ): void {
    const kind = isSecret ? 'secret' : 'configmap';
    const quotedName = quoteGoString(name);
    if (!objectExists) {
      if (optional) {
        this.#event(
          isSecret ? EnvironmentEventReason.OptionalSecretNotFound : EnvironmentEventReason.OptionalConfigMapNotFound,
          `skipping optional envvar ${quoteGoString(variableName)}: ${kind} ${quotedName} not found`,
        );
      } else {
        const message = `${kind} ${quotedName} not found`;
        this.#event(
          isSecret ? EnvironmentEventReason.MandatorySecretNotFound : EnvironmentEventReason.MandatoryConfigMapNotFound,
          message,
        );
        this.#fail(containerName, message);
      }
      return;
    }
    const quotedKey = quoteGoString(key);
    if (optional) {
      this.#event(
        isSecret
          ? EnvironmentEventReason.OptionalSecretKeyNotFound
          : EnvironmentEventReason.OptionalConfigMapKeyNotFound,
        `skipping optional envvar ${quoteGoString(variableName)}: key ${quotedKey} does not exist in ${kind} ${quotedName}`,
      );
    } else {
      this.#event(
        isSecret
          ? EnvironmentEventReason.MandatorySecretKeyNotFound
          : EnvironmentEventReason.MandatoryConfigMapKeyNotFound,
        `key ${quotedKey} does not exist in ${kind} ${quotedName}`,
      );
      this.#fail(
        containerName,
        `couldn't find key ${key} in ${isSecret ? 'Secret' : 'ConfigMap'} ${this.#namespace}/${name}`,
      );
    }
  }

  #configMap(name: string): ConfigMap | undefined {
    this.#configMaps ??= new Map();
    if (this.#configMaps.has(name)) return this.#configMaps.get(name);
    const configMap = this.#sources.getConfigMap(this.#namespace, name);
    this.#configMaps.set(name, configMap);
    this.#depend('ConfigMap', name);
    return configMap;
  }

  #secret(name: string): Secret | undefined {
    this.#secrets ??= new Map();
    if (this.#secrets.has(name)) return this.#secrets.get(name);
    const secret = this.#sources.getSecret(this.#namespace, name);
    this.#secrets.set(name, secret);
    this.#depend('Secret', name);
    return secret;
  }

  #depend(kind: 'ConfigMap' | 'Secret', name: string): void {
    this.#dependencies ??= [];
    this.#dependencies.push({ kind, namespace: this.#namespace, name });
  }

  #downwardValues(): DownwardValues {
    if (this.#downward === undefined) {
      const context = this.#context;
      const hostIPs = context.hostIPs;
      const known = context.podIPs ?? [];
      let podIPs = known.length > 0 ? orderPodIPs(known, hostIPs) : [];
      // A host-network pod's IPs are the node's (the kubelet reports them so in its status).
      if (podIPs.length === 0 && this.#pod.spec?.hostNetwork === true) podIPs = [...hostIPs];
      this.#downward = { nodeName: context.nodeName, hostIPs, podIPs };
    }
    return this.#downward;
  }

  #event(reason: EnvironmentEventReason, message: string): void {
    const key = `${reason}\n${message}`;
    this.#eventKeys ??= new Set();
    if (this.#eventKeys.has(key)) return;
    this.#eventKeys.add(key);
    this.#events ??= [];
    this.#events.push({ type: 'Warning', reason, message });
  }

  #fail(container: string, message: string): void {
    this.#error ??= { reason: CREATE_CONTAINER_CONFIG_ERROR, message, container };
  }
}

/**
 * Resolves the environment of every init, regular and ephemeral container of `pod` (see the module
 * notes for the rules). Pure apart from reading `sources`: the input pod is never mutated, and problems
 * are reported in the result, never thrown.
 */
export function resolvePodEnvironment(
  pod: Pod,
  sources: EnvironmentSources,
  context: EnvironmentContext,
): EnvironmentResolution {
  return new PodEnvironmentResolver(pod, sources, context).resolve();
}
