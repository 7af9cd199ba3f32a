/**
 * Environment-variable resolution: what the kubelet computes before starting a container, as pure
 * functions over the pod and cached ConfigMaps, Secrets and Services.
 */
export { expandVariables } from './expansion.ts';
export { type DownwardValues, formatMap, orderPodIPs, POD_IP_FIELD_PATHS, resolveFieldRef } from './field-ref.ts';
export { quoteGoString } from './go-quote.ts';
export { isValidEnvVarName } from './names.ts';
export { CREATE_CONTAINER_CONFIG_ERROR, EnvironmentEventReason } from './reasons.ts';
export { resolvePodEnvironment } from './resolve.ts';
export { type ResourceOwner, resolveResourceFieldRef } from './resource-field-ref.ts';
export {
  hasClusterIP,
  podServiceEnvironment,
  type ServiceEnvironment,
  serviceLinkVariables,
  servicesVisibleToPod,
} from './service-links.ts';
export type {
  EnvironmentContext,
  EnvironmentDependency,
  EnvironmentError,
  EnvironmentEvent,
  EnvironmentResolution,
  EnvironmentSources,
} from './types.ts';
