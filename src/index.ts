/**
 * virtual-kubelet: a Kubernetes node whose pods run somewhere else.
 *
 * Implement {@link PodLifecycleHandler} (and any optional capability), hand it to
 * {@link VirtualNode}, and run it. The controllers do the Kubernetes work.
 *
 * The provider kit (contracts, capability types, log and stats helpers, config reading) is
 * re-exported here whole, and is also importable alone as `virtual-kubelet/provider`.
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
export { KubeEventRecorder } from './kube/events.ts';
export { Informer, type InformerHandlers, type InformerOptions, type ListWatchClient } from './kube/informer.ts';
export { type ClusterConnection, loadKubeConfig } from './kube/kubeconfig.ts';
export { type LeaderElectionOptions, LeaderElector, type LeadershipEnd } from './kube/leader-election.ts';
export { ResourceCache, type ResourceCacheOptions } from './kube/resource-cache.ts';
export * as resourceTypes from './kube/resources.ts';
export { TokenBucket } from './kube/token-bucket.ts';
export { WorkQueue, type WorkQueueOptions } from './kube/work-queue.ts';
// Environment resolution as the kubelet does it (the controllers run it before createPod).
export {
  type EnvironmentContext,
  type EnvironmentResolution,
  type EnvironmentSources,
  expandVariables,
  resolvePodEnvironment,
} from './kubelet/env/index.ts';
// Logging.
export { createLogger, type Logger, silentLogger } from './log.ts';
export { NODE_LEASE_NAMESPACE } from './node/lease.ts';
export { NodeController, type NodeControllerOptions } from './node/node-controller.ts';
export { DEFAULT_TAINT_KEY, type NodeTemplateOptions, nodeTemplate } from './node/node-template.ts';
export { PodController, type PodControllerOptions, PodEventReason } from './pods/pod-controller.ts';
// The provider kit.
export * from './provider/index.ts';
// The reference provider.
export { MockProvider } from './providers/mock/index.ts';
// Wiring for the common case, and the controllers for everything else.
export {
  type CertificateSigningOptions,
  type KubeletApiOptions,
  type LeaderElectionSettings,
  LeadershipLostError,
  leaderLeaseName,
  VirtualNode,
  type VirtualNodeOptions,
} from './virtual-node.ts';
