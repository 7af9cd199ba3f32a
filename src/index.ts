/**
 * virtual-kubelet: a Kubernetes node whose pods run somewhere else.
 *
 * Implement {@link PodLifecycleHandler} (and any optional capability), hand it to
 * {@link VirtualNode}, and run it. The controllers do the Kubernetes work.
 */

// Errors, with stable codes.
export {
  ConfigError,
  errorMessage,
  InvalidInputError,
  isAlreadyExists,
  isConflict,
  isGone,
  isInvalidInput,
  isNotFound,
  isNotImplemented,
  KubeApiError,
  type KubeStatus,
  NotFoundError,
  NotImplementedError,
  VirtualKubeletError,
} from './errors.ts';
// The Kubernetes client and controller building blocks.
export { KubeClient, type KubeClientOptions, type PatchType, requestChannel, type WatchEvent } from './kube/client.ts';
export { type EventRecorder, type EventType, KubeEventRecorder } from './kube/events.ts';
export { Informer, type InformerHandlers, type InformerOptions } from './kube/informer.ts';
export { type ClusterConnection, loadKubeConfig } from './kube/kubeconfig.ts';
export { parseQuantity } from './kube/quantity.ts';
export * as resources from './kube/resources.ts';
export { kubeTime, microTime } from './kube/time.ts';
export { TokenBucket } from './kube/token-bucket.ts';
export { WorkQueue, type WorkQueueOptions } from './kube/work-queue.ts';
// Logging.
export { createLogger, type Logger, silentLogger } from './log.ts';
export { NODE_LEASE_NAMESPACE } from './node/lease.ts';
export { NodeController, type NodeControllerOptions } from './node/node-controller.ts';
export { DEFAULT_TAINT_KEY, type NodeTemplateOptions, nodeTemplate } from './node/node-template.ts';
export {
  type EnvironmentContext,
  type EnvironmentResolution,
  type EnvironmentSources,
  expandVariables,
  resolvePodEnvironment,
} from './pods/env/index.ts';
export { PodController, type PodControllerOptions, PodEventReason } from './pods/pod-controller.ts';
export { type CachedKind, ResourceCache, type ResourceChangeListener } from './pods/resource-cache.ts';
// The provider contracts.
export {
  isNodeProvider,
  isPodNotifier,
  NaiveNodeProvider,
  type NodeConfigurer,
  type NodeProvider,
  type PodIPAllocator,
  type PodLifecycleHandler,
  type PodNotifier,
  type Provider,
  type ProviderCallOptions,
} from './provider.ts';
// The reference provider.
export { MockProvider } from './providers/mock/index.ts';
export type { ProviderContext, ProviderFactory } from './providers/provider-factory.ts';
// Wiring for the common case, and the controllers for everything else.
export { VirtualNode, type VirtualNodeOptions } from './virtual-node.ts';
