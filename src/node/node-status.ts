/**
 * Pure decisions about the Node object: what the node should look like given the template, the
 * provider and the ping result; whether that differs from what the API has; and the patches that
 * change only what this kubelet owns, leaving other writers' labels, annotations, taints and
 * conditions alone.
 */
import type { Node, NodeCondition, NodeStatus, Taint } from 'kubernetes-types/core/v1.js';
import { parseQuantity } from '../kube/quantity.ts';

/** The node's readiness as this process sees it. */
export interface Readiness {
  ready: boolean;
  reason: string;
  message: string;
}

export const READY: Readiness = { ready: true, reason: 'KubeletReady', message: 'kubelet is posting ready status' };

/** Folds a provider's node update into the desired node: its status fields win, conditions merge by type. */
export function mergeProviderNode(desired: Node, update: Node): Node {
  const status: NodeStatus = { ...desired.status };
  const from = update.status ?? {};
  if (from.capacity) status.capacity = { ...from.capacity };
  if (from.allocatable) status.allocatable = { ...from.allocatable };
  if (from.addresses) status.addresses = from.addresses.map((a) => ({ ...a }));
  if (from.nodeInfo) status.nodeInfo = { ...status.nodeInfo, ...from.nodeInfo } as NodeStatus['nodeInfo'];
  if (from.daemonEndpoints) status.daemonEndpoints = from.daemonEndpoints;
  if (from.conditions) {
    const byType = new Map((status.conditions ?? []).map((c) => [c.type, c]));
    for (const condition of from.conditions) byType.set(condition.type, { ...condition });
    status.conditions = [...byType.values()];
  }
  const declared = (from as { declaredFeatures?: string[] }).declaredFeatures;
  if (declared) (status as { declaredFeatures?: string[] }).declaredFeatures = [...declared];
  return {
    ...desired,
    metadata: {
      ...desired.metadata,
      labels: { ...desired.metadata?.labels, ...update.metadata?.labels },
      annotations: { ...desired.metadata?.annotations, ...update.metadata?.annotations },
    },
    status,
  };
}

/** Sets the Ready condition from the readiness; other conditions are kept. */
export function withReadiness(conditions: NodeCondition[], readiness: Readiness): NodeCondition[] {
  const ready: NodeCondition = {
    type: 'Ready',
    status: readiness.ready ? 'True' : 'False',
    reason: readiness.reason,
    message: readiness.message,
  };
  const others = conditions.filter((c) => c.type !== 'Ready');
  return [...others, ready];
}

function sameQuantities(a: Record<string, string> = {}, b: Record<string, string> = {}): boolean {
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
  for (const key of keys) {
    const x = a[key];
    const y = b[key];
    if (x === y) continue;
    if (x === undefined || y === undefined) return false;
    try {
      if (parseQuantity(x) !== parseQuantity(y)) return false;
    } catch {
      return false;
    }
  }
  return true;
}

function conditionsDiffer(desired: NodeCondition[], current: NodeCondition[] = []): boolean {
  const byType = new Map(current.map((c) => [c.type, c]));
  for (const c of desired) {
    const now = byType.get(c.type);
    if (!now || now.status !== c.status || now.reason !== c.reason || now.message !== c.message) return true;
  }
  return false;
}

/** True when the API's node status differs from the desired one in anything this kubelet owns (heartbeats aside). */
export function statusDiffers(desired: NodeStatus, current: NodeStatus | undefined): boolean {
  if (!current) return true;
  if (conditionsDiffer(desired.conditions ?? [], current.conditions)) return true;
  if (!sameQuantities(desired.capacity, current.capacity)) return true;
  if (!sameQuantities(desired.allocatable, current.allocatable)) return true;
  if (JSON.stringify(desired.addresses ?? []) !== JSON.stringify(current.addresses ?? [])) return true;
  if (desired.daemonEndpoints?.kubeletEndpoint?.Port !== current.daemonEndpoints?.kubeletEndpoint?.Port) return true;
  for (const [key, value] of Object.entries(desired.nodeInfo ?? {})) {
    if ((current.nodeInfo as Record<string, unknown> | undefined)?.[key] !== value) return true;
  }
  const wantFeatures = (desired as { declaredFeatures?: string[] }).declaredFeatures;
  const haveFeatures = (current as { declaredFeatures?: string[] }).declaredFeatures;
  if (wantFeatures && JSON.stringify(wantFeatures) !== JSON.stringify(haveFeatures ?? [])) return true;
  return false;
}

/**
 * A strategic-merge patch for `nodes/<name>/status`. Conditions merge by type (others' conditions
 * survive), `lastTransitionTime` moves only when a condition's status changes, and the maps and
 * lists this kubelet owns outright are replaced whole.
 */
export function nodeStatusPatch(desired: NodeStatus, current: NodeStatus | undefined, now: string): object {
  const currentByType = new Map((current?.conditions ?? []).map((c) => [c.type, c]));
  const conditions = (desired.conditions ?? []).map((c) => {
    const previous = currentByType.get(c.type);
    const transitioned = !previous || previous.status !== c.status;
    return {
      type: c.type,
      status: c.status,
      reason: c.reason,
      message: c.message,
      lastHeartbeatTime: now,
      lastTransitionTime: transitioned ? (c.lastTransitionTime ?? now) : (previous.lastTransitionTime ?? now),
    };
  });
  const status: Record<string, unknown> = {
    conditions,
    addresses: [{ $patch: 'replace' }, ...(desired.addresses ?? [])],
    capacity: { $patch: 'replace', ...desired.capacity },
    allocatable: { $patch: 'replace', ...desired.allocatable },
    daemonEndpoints: desired.daemonEndpoints,
    nodeInfo: desired.nodeInfo,
  };
  const declared = (desired as { declaredFeatures?: string[] }).declaredFeatures;
  if (declared) status.declaredFeatures = declared;
  return { status };
}

function sameTaint(a: Taint, b: Taint): boolean {
  return a.key === b.key && a.effect === b.effect;
}

/**
 * A JSON merge patch for the node's metadata and taints, or undefined when nothing is needed.
 * Only the labels and annotations this kubelet sets are written. Taints are a list that patches
 * replace whole, so the patch carries the current list with ours added or updated — and the
 * resourceVersion it was computed from, so a concurrent change by someone else makes it fail
 * (409) instead of losing their taint.
 */
export function nodeMetadataPatch(desired: Node, current: Node): object | undefined {
  const patch: { metadata: Record<string, unknown>; spec?: Record<string, unknown> } = { metadata: {} };
  const labels: Record<string, string> = {};
  for (const [key, value] of Object.entries(desired.metadata?.labels ?? {})) {
    if (current.metadata?.labels?.[key] !== value) labels[key] = value;
  }
  const annotations: Record<string, string> = {};
  for (const [key, value] of Object.entries(desired.metadata?.annotations ?? {})) {
    if (current.metadata?.annotations?.[key] !== value) annotations[key] = value;
  }
  if (Object.keys(labels).length > 0) patch.metadata.labels = labels;
  if (Object.keys(annotations).length > 0) patch.metadata.annotations = annotations;

  const currentTaints = current.spec?.taints ?? [];
  const taints = [...currentTaints];
  let taintsChanged = false;
  for (const wanted of desired.spec?.taints ?? []) {
    const index = taints.findIndex((t) => sameTaint(t, wanted));
    if (index < 0) {
      taints.push(wanted);
      taintsChanged = true;
    } else if ((taints[index] as Taint).value !== wanted.value) {
      taints[index] = wanted;
      taintsChanged = true;
    }
  }
  if (taintsChanged) {
    patch.spec = { taints };
    patch.metadata.resourceVersion = current.metadata?.resourceVersion;
  }
  const providerID = desired.spec?.providerID;
  if (providerID && current.spec?.providerID !== providerID) patch.spec = { ...patch.spec, providerID };
  if (Object.keys(patch.metadata).length === 0 && !patch.spec) return undefined;
  return patch;
}
