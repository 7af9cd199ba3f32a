/**
 * Labels on Podman objects: which node, namespace, pod (name and uid) and container each belongs
 * to. A restarted virtual kubelet finds its pods by them and adopts the running containers.
 */
import type { Pod } from 'kubernetes-types/core/v1.js';

export const LABEL_NODE = 'io.virtual-kubelet.node';
export const LABEL_NAMESPACE = 'io.kubernetes.pod.namespace';
export const LABEL_POD = 'io.kubernetes.pod.name';
export const LABEL_UID = 'io.kubernetes.pod.uid';
export const LABEL_CONTAINER = 'io.kubernetes.container.name';
/** `init` or `app`. */
export const LABEL_KIND = 'io.virtual-kubelet.container.kind';

export function podLabels(nodeName: string, pod: Pod): Record<string, string> {
  return {
    [LABEL_NODE]: nodeName,
    [LABEL_NAMESPACE]: pod.metadata?.namespace ?? '',
    [LABEL_POD]: pod.metadata?.name ?? '',
    [LABEL_UID]: pod.metadata?.uid ?? '',
  };
}

/** The Podman pod's name: unique per Kubernetes pod, readable, within Podman's name rules. */
export function podmanPodName(pod: Pod): string {
  const uid = (pod.metadata?.uid ?? '').replace(/-/g, '').slice(0, 8);
  return `k8s_${pod.metadata?.namespace}_${pod.metadata?.name}_${uid}`.replace(/[^a-zA-Z0-9_.-]/g, '-');
}

/**
 * The Podman name of one run of a container: the first run (`attempt` 0) has the plain name,
 * later runs a number after it, as the kubelet numbers its containers' attempts.
 */
export function podmanContainerName(pod: Pod, container: string, attempt = 0): string {
  const name = `${podmanPodName(pod)}_${container}${attempt > 0 ? `_${attempt}` : ''}`;
  return name.replace(/[^a-zA-Z0-9_.-]/g, '-');
}
