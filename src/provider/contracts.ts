/**
 * The contracts a provider implements. A provider runs pods somewhere; the controllers do all
 * the Kubernetes work (watching, status, events, leases, the kubelet API) and call these methods.
 *
 * Only {@link PodLifecycleHandler} is required. Everything else is an optional capability the
 * provider declares by having the method: push status ({@link PodNotifier}), report node health
 * ({@link NodeProvider}), shape the Node object ({@link NodeConfigurer}), give pods an IP before
 * their containers start ({@link PodIPAllocator}), `kubectl logs` ({@link ContainerLogsProvider}),
 * `exec` ({@link ContainerExecProvider}), `attach` ({@link ContainerAttachProvider}),
 * `port-forward` ({@link PortForwardProvider}), `top` ({@link StatsProvider}), ephemeral containers
 * for `kubectl debug` ({@link EphemeralContainerProvider}), and a last word before the process
 * stops ({@link ClosableProvider}). A capability left out answers 501 in the
 * kubelet API.
 *
 * Objects passed to a provider are shared with the controller's cache: read them, copy what you
 * keep, never mutate them.
 *
 * ## What a reported status may leave out
 *
 * The status a provider reports (from {@link PodLifecycleHandler.getPodStatus}, or pushed through
 * {@link PodNotifier}) is completed by the controller before it is written, the way a kubelet
 * completes what its runtime tells it. A provider may report only `phase`, `podIP` and the
 * container statuses it knows; the controller fills in:
 * - `hostIP`/`hostIPs`: the node's addresses, when the provider gives none;
 * - `podIPs` from `podIP`, and `startTime` (kept once set);
 * - the kubelet's conditions `PodReadyToStartContainers`, `Initialized`, `ContainersReady` and
 *   `Ready`, derived from the container statuses, unless the provider reports them itself; their
 *   `lastTransitionTime` moves only when a condition's status changes; `PodScheduled` for pods
 *   bound without a scheduler;
 * - in each container status: `image` (from the spec), `imageID` (`''`), `ready` (false),
 *   `restartCount` (0) and `state` (waiting, `ContainerCreating`); statuses are ordered as the
 *   spec lists the containers.
 * `phase` defaults to the API's current phase, else `Pending`. Everything outside the kubelet's
 * share of the status (`qosClass`, other writers' conditions, `nominatedNodeName`…) is never
 * touched, whatever the provider reports.
 */
import type { Duplex, Readable, Writable } from 'node:stream';
import type { Node, Pod, PodStatus } from 'kubernetes-types/core/v1.js';
import type { StatsSummary } from './stats-types.ts';

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

/** What `kubectl logs` asks for (the kubelet's `PodLogOptions`), validated. */
export interface ContainerLogOptions {
  /** Keep the stream open and send new lines as they are written. */
  follow: boolean;
  /** The previous (terminated) instance of the container. */
  previous: boolean;
  /** Prefix each line with its RFC 3339 time, fixed width with 9 fractional digits, and a space. */
  timestamps: boolean;
  /** Only the last N lines (before following). */
  tailLines?: number;
  /** Stop after this many bytes. */
  limitBytes?: number;
  /** Only lines from the last N seconds. */
  sinceSeconds?: number;
  /** Only lines at or after this time. */
  sinceTime?: Date;
}

/**
 * Optional: `kubectl logs`. Return a stream of the log bytes with the options applied
 * (`applyLogOptions`, exported beside these contracts, does that for lines kept in memory).
 * Throw NotFoundError for an unknown pod or container, InvalidInputError for `previous` without
 * a previous instance. The stream is destroyed when the client goes away.
 */
export interface ContainerLogsProvider {
  getContainerLogs(
    namespace: string,
    podName: string,
    containerName: string,
    logOptions: ContainerLogOptions,
    options: ProviderCallOptions,
  ): Promise<Readable>;
}

/** A terminal's size, as `kubectl exec -t` reports it. */
export interface TerminalSize {
  width: number;
  height: number;
}

/**
 * The standard streams of an exec or attach session, as plain Node streams. The kubelet API does
 * all protocol work (SPDY or WebSocket, channels, resize messages, the exit status).
 */
export interface AttachIO {
  /** The client's input, when it sends any; it ends when the client closes stdin. */
  stdin: Readable | undefined;
  /** The client's output; ended by the kubelet API after the call returns. */
  stdout: Writable | undefined;
  /** The client's error output; absent with a TTY (a terminal has one output). */
  stderr: Writable | undefined;
  /** Whether the client asked for a terminal. */
  tty: boolean;
  /** Terminal size changes (TTY only), from the first size on. */
  onResize(listener: (size: TerminalSize) => void): void;
}

/** Optional: `kubectl exec`. Resolve with the command's exit code (0..255); undefined means 0. */
export interface ContainerExecProvider {
  runInContainer(
    namespace: string,
    podName: string,
    containerName: string,
    command: string[],
    io: AttachIO,
    options: ProviderCallOptions,
  ): Promise<number | undefined>;
}

/** Optional: `kubectl attach`, to the container's main process. Resolve when the session ends. */
export interface ContainerAttachProvider {
  attachToContainer(
    namespace: string,
    podName: string,
    containerName: string,
    io: AttachIO,
    options: ProviderCallOptions,
  ): Promise<number | undefined>;
}

/**
 * Optional: `kubectl port-forward`. Connect `stream` to the pod's port: bytes written to it go to
 * the client, bytes read from it come from the client. Resolve when the connection is done.
 */
export interface PortForwardProvider {
  portForward(
    namespace: string,
    podName: string,
    port: number,
    stream: Duplex,
    options: ProviderCallOptions,
  ): Promise<void>;
}

/**
 * Optional: `/stats/summary` (stats/v1alpha1), and from it `/metrics/resource`, which
 * metrics-server reads for `kubectl top` and the HPA.
 */
export interface StatsProvider {
  getStatsSummary(options: ProviderCallOptions): Promise<StatsSummary>;
}

/**
 * Optional: the provider runs ephemeral containers (`kubectl debug`). They reach it through
 * {@link PodLifecycleHandler.updatePod} — `spec.ephemeralContainers` only grows; an ephemeral
 * container is never changed, removed or restarted — and it reports them in
 * `ephemeralContainerStatuses`. For a provider without this capability (or that answers false)
 * the controller reports each ephemeral container terminated, with reason
 * `EphemeralContainersNotSupported`, and records a Warning event: `kubectl debug` then ends at
 * once instead of waiting for a container that will never start.
 */
export interface EphemeralContainerProvider {
  /** Whether this provider runs the ephemeral containers updatePod brings (it may depend on its backend). */
  runsEphemeralContainers(): boolean;
}

/**
 * Optional: the provider resolves environment variables itself. When it answers true, the
 * controller hands it pods with `env` and `envFrom` as the API has them (references to ConfigMaps,
 * Secrets and the downward API, `$(VAR)` unexpanded, no service-link variables), and reports no
 * CreateContainerConfigError for a missing ConfigMap or Secret: the provider does all of that.
 * For a backend that is itself a kubelet (another cluster), so Secret values stay references.
 */
export interface EnvironmentResolver {
  /** Whether this provider wants pods with their environment unresolved. Asked once, at start. */
  resolvesEnvironment(): boolean;
}

/**
 * Optional: called once when the virtual kubelet stops, after the controllers have stopped calling
 * the provider. End background work (watches, polls, timers) and flush what must survive a restart;
 * the pods themselves keep running. The process waits a bounded time for it (a few seconds), so do
 * not wait on an unreachable backend. Providers made by a factory may also end their background
 * loops with `ProviderContext.signal`.
 */
export interface ClosableProvider {
  close(): void | Promise<void>;
}

/** A provider: the lifecycle handler plus whichever optional capabilities it has. */
export type Provider = PodLifecycleHandler &
  Partial<PodNotifier> &
  Partial<NodeProvider> &
  Partial<NodeConfigurer> &
  Partial<PodIPAllocator> &
  Partial<ContainerLogsProvider> &
  Partial<ContainerExecProvider> &
  Partial<ContainerAttachProvider> &
  Partial<PortForwardProvider> &
  Partial<StatsProvider> &
  Partial<EphemeralContainerProvider> &
  Partial<EnvironmentResolver> &
  Partial<ClosableProvider>;

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
