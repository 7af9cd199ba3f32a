/**
 * The virtual node's size from the remote cluster: the allocatable of the remote nodes that take
 * pods (Ready, not cordoned) summed as capacity, and allocatable less what the remote's other pods
 * request. Our own remote pods are not subtracted: the origin's scheduler already counts them
 * against this node. Fixed values from the config win, resource by resource.
 */
import type { Node, Pod } from 'kubernetes-types/core/v1.js';
import { parseQuantity } from '../../provider/index.ts';

export interface NodeSize {
  capacity: Record<string, string>;
  allocatable: Record<string, string>;
}

const RESOURCES = ['cpu', 'memory', 'pods', 'ephemeral-storage'] as const;

/** Whether the remote scheduler may place pods on the node. */
export function takesPods(node: Node): boolean {
  if (node.spec?.unschedulable) return false;
  return node.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
}

/** What a pod holds on its node, as the scheduler counts it: max(sum of containers, largest init container) + overhead. */
export function podRequests(pod: Pod): Record<string, number> {
  const total: Record<string, number> = { pods: 1 };
  for (const name of ['cpu', 'memory', 'ephemeral-storage']) {
    let containers = 0;
    for (const container of pod.spec?.containers ?? []) {
      const value = container.resources?.requests?.[name];
      if (value !== undefined) containers += parseQuantity(String(value));
    }
    let init = 0;
    for (const container of pod.spec?.initContainers ?? []) {
      const value = container.resources?.requests?.[name];
      if (value !== undefined) init = Math.max(init, parseQuantity(String(value)));
    }
    const overhead = pod.spec?.overhead?.[name];
    total[name] = Math.max(containers, init) + (overhead === undefined ? 0 : parseQuantity(String(overhead)));
  }
  return total;
}

function format(name: string, value: number): string {
  const clamped = Math.max(0, value);
  if (name === 'cpu') return `${Math.round(clamped * 1000)}m`;
  return String(Math.floor(clamped));
}

/**
 * The node's capacity and allocatable. `others` are the remote's non-terminal pods that are not
 * ours; `fixed` the config's `capacity` (used as both capacity and allocatable).
 */
export function remoteNodeSize(
  nodes: readonly Node[],
  others: readonly Pod[],
  fixed: Readonly<Record<string, string>>,
): NodeSize {
  const summed: Record<string, number> = {};
  const used: Record<string, number> = {};
  for (const node of nodes) {
    if (!takesPods(node)) continue;
    for (const name of RESOURCES) {
      const value = node.status?.allocatable?.[name];
      if (value !== undefined) summed[name] = (summed[name] ?? 0) + parseQuantity(String(value));
    }
  }
  for (const pod of others) {
    for (const [name, value] of Object.entries(podRequests(pod))) used[name] = (used[name] ?? 0) + value;
  }
  const capacity: Record<string, string> = {};
  const allocatable: Record<string, string> = {};
  for (const name of RESOURCES) {
    const fixedValue = fixed[name];
    if (fixedValue !== undefined) {
      capacity[name] = fixedValue;
      allocatable[name] = fixedValue;
      continue;
    }
    const total = summed[name] ?? 0;
    if (total === 0 && name === 'ephemeral-storage') continue;
    capacity[name] = format(name, total);
    allocatable[name] = format(name, total - (used[name] ?? 0));
  }
  return { capacity, allocatable };
}
