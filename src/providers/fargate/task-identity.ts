/**
 * How a task says which pod it runs: tags with the pod's namespace, name and UID and the node,
 * and `startedBy` naming the node, so that a restarted virtual kubelet lists its own tasks
 * (ListTasks filters by startedBy) and adopts them instead of running the pods again.
 */
import { createHash } from 'node:crypto';
import type { Tag } from '@aws-sdk/client-ecs';

export const TAG_NAMESPACE = 'virtual-kubelet.io/namespace';
export const TAG_NAME = 'virtual-kubelet.io/name';
export const TAG_UID = 'virtual-kubelet.io/uid';
export const TAG_NODE = 'virtual-kubelet.io/node';

/** Docker label on each container definition: what the Kubernetes container was (init, sidecar or app). */
export const LABEL_CONTAINER_KIND = 'io.virtual-kubelet.container-kind';

/**
 * ECS's `startedBy` for this node: up to 36 letters, digits, `-`, `_` and `/`. A node name that
 * fits is used as it is (readable in the console); a longer one, or one with dots, by digest.
 */
export function startedByForNode(nodeName: string): string {
  if (/^[A-Za-z0-9_-]{1,36}$/.test(nodeName)) return nodeName;
  return `vk-${createHash('sha256').update(nodeName).digest('hex').slice(0, 33)}`;
}

/** The pod's identity tags, then the configured ones. */
export function podTags(
  pod: { namespace: string; name: string; uid: string },
  nodeName: string,
  configured: Record<string, string>,
): Tag[] {
  return [
    { key: TAG_NAMESPACE, value: pod.namespace },
    { key: TAG_NAME, value: pod.name },
    { key: TAG_UID, value: pod.uid },
    { key: TAG_NODE, value: nodeName },
    ...Object.entries(configured).map(([key, value]) => ({ key, value })),
  ];
}

/** The pod a task runs for this node, from its tags; undefined for a task that is not ours. */
export function podOfTask(
  tags: readonly Tag[] | undefined,
  nodeName: string,
): { namespace: string; name: string; uid: string } | undefined {
  const value = (key: string) => tags?.find((t) => t.key === key)?.value;
  const namespace = value(TAG_NAMESPACE);
  const name = value(TAG_NAME);
  const uid = value(TAG_UID);
  if (!namespace || !name || !uid || value(TAG_NODE) !== nodeName) return undefined;
  return { namespace, name, uid };
}

/** The task's ID: the last part of its ARN (both ARN formats). */
export function taskId(taskArn: string): string {
  return taskArn.slice(taskArn.lastIndexOf('/') + 1);
}
