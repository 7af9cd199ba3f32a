/**
 * The contract of `resolvePodEnvironment`: what it reads and what it returns.
 */
import type { ConfigMap, Pod, Secret, Service } from 'kubernetes-types/core/v1.js';
import type { CREATE_CONTAINER_CONFIG_ERROR, EnvironmentEventReason } from './reasons.ts';

/**
 * Synchronous cache lookups the caller provides (informer caches, typically). The returned objects are
 * treated as immutable: results are memoized per object, and shared with the resolved pods.
 */
export interface EnvironmentSources {
  /** The ConfigMap, or undefined when it does not exist (yet). */
  getConfigMap(namespace: string, name: string): ConfigMap | undefined;
  /** The Secret, or undefined when it does not exist (yet). */
  getSecret(namespace: string, name: string): Secret | undefined;
  /** Every Service of the namespace. */
  listServices(namespace: string): readonly Service[];
}

/** Facts about the node and the pod that the downward API exposes. */
export interface EnvironmentContext {
  /** The node's name; `spec.nodeName` falls back to it. */
  nodeName: string;
  /** The node's IPs, primary first (`status.hostIP`, `status.hostIPs`). */
  hostIPs: readonly string[];
  /**
   * The pod's IPs, when known (`status.podIP`, `status.podIPs`). When empty and a container reads them,
   * the variables are set to `""` and {@link EnvironmentResolution.needsPodIP} is true.
   */
  podIPs?: readonly string[] | undefined;
  /** The node's allocatable resources: the limit of a container that sets none (kubelet semantics). */
  nodeAllocatable: Readonly<Record<string, string>>;
}

/** An Event to record on the pod. */
export interface EnvironmentEvent {
  type: 'Normal' | 'Warning';
  reason: EnvironmentEventReason;
  message: string;
}

/** A ConfigMap or Secret the pod's environment reads, found or not. */
export interface EnvironmentDependency {
  kind: 'ConfigMap' | 'Secret';
  namespace: string;
  name: string;
}

/** Why the pod cannot start: the kubelet reports this as the container's waiting state. */
export interface EnvironmentError {
  reason: typeof CREATE_CONTAINER_CONFIG_ERROR;
  /** A kubelet-like message: `configmap "x" not found`, `couldn't find key y in ConfigMap ns/x`. */
  message: string;
  /** The name of the (first) container whose environment could not be built. */
  container: string;
}

/** The outcome of `resolvePodEnvironment`. */
export interface EnvironmentResolution {
  /**
   * The pod with every init, regular and ephemeral container's final `env` (name and value only) and no
   * `envFrom`. A new object that shares unchanged parts with the input; the input itself when nothing
   * changed. Treat it as read-only: EnvVar objects are shared between pods.
   *
   * When {@link error} is set this is a best-effort resolution (failed variables left out) that must
   * not be started.
   */
  pod: Pod;
  /** Events to record on the pod, each distinct event once. */
  events: readonly EnvironmentEvent[];
  /** The ConfigMaps and Secrets the environment reads, in first-reference order, each once. */
  dependencies: readonly EnvironmentDependency[];
  /** True when a container reads `status.podIP`/`status.podIPs` and no pod IP is known yet. */
  needsPodIP: boolean;
  /** Set when a required ConfigMap, Secret or key is missing, or a reference cannot be resolved. */
  error: EnvironmentError | undefined;
}
