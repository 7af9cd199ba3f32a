/**
 * Small facts about a pod that every provider needs and should not work out again: its key, and
 * how long it may take to stop.
 */
import type { Pod } from 'kubernetes-types/core/v1.js';
import { namespacedKey } from '../kube/resources.ts';

/** The kubelet's default `terminationGracePeriodSeconds`. */
export const DEFAULT_TERMINATION_GRACE_PERIOD_SECONDS = 30;

/** `namespace/name`: the key the controllers, caches and queues use for a pod. */
export function podKey(namespace: string, name: string): string {
  return namespacedKey(namespace, name);
}

/**
 * How many seconds the pod's containers get between SIGTERM and SIGKILL now: the grace period of
 * the deletion in progress (`metadata.deletionGracePeriodSeconds`, which `kubectl delete
 * --grace-period` sets), else the pod's `terminationGracePeriodSeconds`, else 30.
 */
export function gracePeriodSeconds(pod: Pod): number {
  return (
    pod.metadata?.deletionGracePeriodSeconds ??
    pod.spec?.terminationGracePeriodSeconds ??
    DEFAULT_TERMINATION_GRACE_PERIOD_SECONDS
  );
}
