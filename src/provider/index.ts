/**
 * The provider kit: everything a provider needs, and nothing it must not touch. Import it as
 * `virtual-kubelet/provider` (it is also part of the package's root export).
 *
 * - the contracts and every optional capability with its types (`contracts.ts`);
 * - how a provider is made from the CLI's context (`factory.ts`) and reads its config file
 *   (`config-file.ts`);
 * - the Summary API types for `kubectl top` (`stats-types.ts`);
 * - log helpers that answer every `kubectl logs` option alike (`logs.ts`);
 * - pod facts (`podKey`, `gracePeriodSeconds`) and Kubernetes time formats;
 * - the downward API, for providers that write `downwardAPI` and `projected` volumes;
 * - the service-link variables a pod sees, for providers that resolve environments themselves;
 * - the ConfigMap/Secret/Service cache and the event recorder a provider is handed.
 */

export type { EventRecorder, EventType } from '../kube/events.ts';
export { parseQuantity } from '../kube/quantity.ts';
export type { CachedKind, ResourceCache, ResourceChangeListener } from '../kube/resource-cache.ts';
export { kubeTime, microTime } from '../kube/time.ts';
export { type DownwardValues, formatMap, resolveFieldRef } from '../kubelet/env/field-ref.ts';
export { type ResourceOwner, resolveResourceFieldRef } from '../kubelet/env/resource-field-ref.ts';
export { podServiceEnvironment, type ServiceEnvironment } from '../kubelet/env/service-links.ts';
export { ConfigSection, readConfigFile } from './config-file.ts';
export {
  type AttachIO,
  type ClosableProvider,
  type ContainerAttachProvider,
  type ContainerExecProvider,
  type ContainerLogOptions,
  type ContainerLogsProvider,
  type EnvironmentResolver,
  type EphemeralContainerProvider,
  isNodeProvider,
  isPodNotifier,
  NaiveNodeProvider,
  type NodeConfigurer,
  type NodeProvider,
  type PodIPAllocator,
  type PodLifecycleHandler,
  type PodNotifier,
  type PortForwardProvider,
  type Provider,
  type ProviderCallOptions,
  type StatsProvider,
  type TerminalSize,
} from './contracts.ts';
export type { ProviderContext, ProviderFactory } from './factory.ts';
export { applyLogOptions, formatLogLine, formatLogTimestamp, type LogEntry, logsSince } from './logs.ts';
export { DEFAULT_TERMINATION_GRACE_PERIOD_SECONDS, gracePeriodSeconds, podKey } from './pod-helpers.ts';
export type * from './stats-types.ts';
