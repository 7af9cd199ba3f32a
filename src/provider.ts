/**
 * The contracts a provider implements. A provider runs pods somewhere; the controllers do all
 * the Kubernetes work (watching, status, events, leases) and call these methods.
 *
 * Only {@link PodLifecycleHandler} is required. Everything else is an optional capability the
 * provider declares by having the method: push status ({@link PodNotifier}), report node health
 * ({@link NodeProvider}), shape the Node object ({@link NodeConfigurer}), give pods an IP before
 * their containers start ({@link PodIPAllocator}).
 *
 * Objects passed to a provider are shared with the controller's cache: read them, copy what you
 * keep, never mutate them.
 */
import type { Node, Pod, PodStatus } from 'kubernetes-types/core/v1.js';

/** Every provider call gets a signal that aborts when the call is no longer wanted (shutdown, timeout). */
export interface ProviderCallOptions {
  signal: AbortSignal;
}

/**
 * The pod lifecycle: the one interface every provider implements.
 *
 * Errors: throw `NotFoundError` (from this package) when the pod is unknown, `InvalidInputError`
 * when it can never run as specified; anything else is retried with backoff. Wrapping an error
 * (`new Error('…', { cause })`) keeps its meaning.
 */
export interface PodLifecycleHandler {
  /**
   * Starts the pod. Environment variables arrive resolved (configMap/secret/field/resource
   * references and `$(VAR)` already expanded; `envFrom` folded into `env`).
   */
  createPod(pod: Pod, options: ProviderCallOptions): Promise<void>;
  /** Applies a change to a running pod: container images, labels, annotations, activeDeadlineSeconds, tolerations. */
  updatePod(pod: Pod, options: ProviderCallOptions): Promise<void>;
  /**
   * Starts terminating the pod, honouring `metadata.deletionGracePeriodSeconds` (SIGTERM, wait,
   * SIGKILL). It may return before the containers have stopped; the controller removes the pod
   * from the API once {@link getPodStatus} reports it terminal or {@link getPod} no longer finds it.
   * May be called more than once for the same pod.
   */
  deletePod(pod: Pod, options: ProviderCallOptions): Promise<void>;
  /** The pod as the provider knows it (spec as created, current status), or undefined. */
  getPod(namespace: string, name: string, options: ProviderCallOptions): Promise<Pod | undefined>;
  /** The pod's current status, or undefined when the provider does not have it. */
  getPodStatus(namespace: string, name: string, options: ProviderCallOptions): Promise<PodStatus | undefined>;
  /** Every pod the provider runs for this node (used to adopt pods and clean up leftovers at start). */
  getPods(options: ProviderCallOptions): Promise<Pod[]>;
}

/**
 * Optional: the provider pushes pod status changes instead of being polled. Register the callback
 * and return at once; call it with the whole pod (metadata and status) whenever its status changes.
 */
export interface PodNotifier {
  notifyPods(callback: (pod: Pod) => void): void;
}

/** Optional: node health and node status changes. */
export interface NodeProvider {
  /** A cheap liveness check of the backend. A rejection marks the node NotReady with its message. */
  ping(options: ProviderCallOptions): Promise<void>;
  /**
   * Register a callback and return at once; call it with a Node whose status (conditions,
   * capacity, allocatable, addresses, nodeInfo) and labels/annotations should be published.
   */
  notifyNodeStatus(callback: (node: Node) => void): void;
}

/** Optional: adjust the Node before it is registered (capacity, allocatable, labels, providerID…). */
export interface NodeConfigurer {
  configureNode(node: Node): void;
}

/**
 * Optional: reserve the pod's IP addresses before its containers are created, so that
 * `fieldRef: status.podIP` can be resolved (the kubelet knows the IP from the sandbox; a virtual
 * kubelet only knows it if the provider tells). Called only for pods that need it.
 */
export interface PodIPAllocator {
  allocatePodIPs(pod: Pod, options: ProviderCallOptions): Promise<string[]>;
}

/** A provider: the lifecycle handler plus whichever optional capabilities it has. */
export type Provider = PodLifecycleHandler &
  Partial<PodNotifier> &
  Partial<NodeProvider> &
  Partial<NodeConfigurer> &
  Partial<PodIPAllocator>;

/** A NodeProvider that is always healthy and never changes the node: for providers without node-level state. */
export class NaiveNodeProvider implements NodeProvider {
  async ping(options: ProviderCallOptions): Promise<void> {
    options.signal.throwIfAborted();
  }

  notifyNodeStatus(_callback: (node: Node) => void): void {}
}

export function isPodNotifier(provider: object): provider is PodNotifier {
  return typeof (provider as Partial<PodNotifier>).notifyPods === 'function';
}

export function isNodeProvider(provider: object): provider is NodeProvider {
  const candidate = provider as Partial<NodeProvider>;
  return typeof candidate.ping === 'function' && typeof candidate.notifyNodeStatus === 'function';
}
