/**
 * Pure decisions about pod status: what status the API should show, given what the provider
 * reports and what the API has now; and the smallest patch that gets it there.
 *
 * A kubelet owns the pod's phase, its conditions Initialized/ContainersReady/Ready/
 * PodReadyToStartContainers, the container statuses, IPs and start time. Everything else in
 * `status` (PodScheduled, DisruptionTarget, nominatedNodeName, qosClass, resize…) belongs to
 * other writers and is never touched: the patch is a strategic merge patch whose conditions
 * merge by type.
 */
import type { ContainerStatus, Pod, PodCondition, PodStatus } from 'kubernetes-types/core/v1.js';
import { semanticallyEqual } from '../kube/semantic-equal.ts';
import { kubeTime } from '../kube/time.ts';

/** The condition types this kubelet writes. */
export const KUBELET_POD_CONDITIONS = ['PodReadyToStartContainers', 'Initialized', 'ContainersReady', 'Ready'] as const;
const OWNED_CONDITIONS = new Set<string>(KUBELET_POD_CONDITIONS);

/** Top-level status fields this kubelet owns (besides conditions). */
const OWNED_FIELDS = [
  'phase',
  'reason',
  'message',
  'hostIP',
  'hostIPs',
  'podIP',
  'podIPs',
  'startTime',
  'initContainerStatuses',
  'containerStatuses',
  'ephemeralContainerStatuses',
] as const;

export function isTerminalPhase(phase: string | undefined): boolean {
  return phase === 'Succeeded' || phase === 'Failed';
}

/**
 * True when the pod's API status shows it was started (by this process or an earlier one): phase
 * Running, or a container that runs or has run.
 */
export function wasStarted(pod: Pod): boolean {
  const status = pod.status;
  if (status?.phase === 'Running') return true;
  const containers = [...(status?.initContainerStatuses ?? []), ...(status?.containerStatuses ?? [])];
  return containers.some((c) => c.state?.running || c.state?.terminated || c.lastState?.terminated);
}

/**
 * True when the provider reports the pod finished: a terminal phase, or every container it
 * reports terminated. Used to decide that a deleted pod may leave the API.
 */
export function isProviderTerminal(status: PodStatus | undefined): boolean {
  if (!status) return false;
  if (isTerminalPhase(status.phase)) return true;
  const containers = status.containerStatuses ?? [];
  return containers.length > 0 && containers.every((c) => c.state?.terminated !== undefined);
}

export interface StatusContext {
  /** The node's addresses, used when the provider reports no hostIP. */
  hostIPs: string[];
  /** "Now" in Kubernetes time format, injectable for tests. */
  now?: string;
  /**
   * Why the provider cannot run ephemeral containers, when it cannot: each one it reports no
   * status for is then shown terminated with this message.
   */
  ephemeralContainersUnsupported?: string;
}

/** The state of an ephemeral container the provider cannot run. */
export function unsupportedEphemeralState(message: string, now: string) {
  return {
    terminated: {
      exitCode: 128,
      reason: 'EphemeralContainersNotSupported',
      message,
      startedAt: now,
      finishedAt: now,
    },
  };
}

function onePerFamily(ips: string[]): string[] {
  const v4 = ips.find((ip) => ip.includes('.'));
  const v6 = ips.find((ip) => ip.includes(':'));
  return [ips[0] as string, ...[v4, v6].filter((ip): ip is string => ip !== undefined && ip !== ips[0])];
}

function condition(type: string, ok: boolean, reason?: string, message?: string): PodCondition {
  const c: PodCondition = { type, status: ok ? 'True' : 'False' };
  if (reason) c.reason = reason;
  if (message) c.message = message;
  return c;
}

/** Fills in a container status the way the API expects (name, image, ready, restartCount, a state). */
function completeContainerStatus(status: ContainerStatus, image: string | undefined): ContainerStatus {
  return {
    ...status,
    image: status.image || image || '',
    imageID: status.imageID ?? '',
    ready: status.ready ?? false,
    restartCount: status.restartCount ?? 0,
    state: status.state ?? { waiting: { reason: 'ContainerCreating' } },
  };
}

/** Orders container statuses as the spec lists the containers, completing each. */
function orderedStatuses(
  specContainers: { name: string; image?: string }[] | undefined,
  statuses: ContainerStatus[] | undefined,
): ContainerStatus[] | undefined {
  if (!statuses) return undefined;
  const byName = new Map(statuses.map((s) => [s.name, s]));
  const ordered: ContainerStatus[] = [];
  for (const container of specContainers ?? []) {
    const status = byName.get(container.name);
    if (status) {
      ordered.push(completeContainerStatus(status, container.image));
      byName.delete(container.name);
    }
  }
  for (const status of byName.values()) ordered.push(completeContainerStatus(status, undefined));
  return ordered;
}

/** Kubelet-owned conditions derived from container state, for providers that report none. */
function derivedConditions(pod: Pod, status: PodStatus): PodCondition[] {
  const phase = status.phase ?? 'Pending';
  const containers = status.containerStatuses ?? [];
  const specCount = pod.spec?.containers?.length ?? 0;
  const allReady = containers.length >= specCount && containers.length > 0 && containers.every((c) => c.ready);
  const initStatuses = status.initContainerStatuses ?? [];
  const initDone =
    (pod.spec?.initContainers?.length ?? 0) === 0 ||
    phase === 'Running' ||
    isTerminalPhase(phase) ||
    (initStatuses.length > 0 && initStatuses.every((c) => c.state?.terminated?.exitCode === 0 || c.ready));
  const terminalReason = isTerminalPhase(phase) ? 'PodCompleted' : undefined;
  const notReadyReason = terminalReason ?? 'ContainersNotReady';
  const notReadyNames = containers.filter((c) => !c.ready).map((c) => c.name);
  const notReadyMessage =
    terminalReason || notReadyNames.length === 0
      ? undefined
      : `containers with unready status: [${notReadyNames.join(' ')}]`;
  return [
    condition('PodReadyToStartContainers', phase !== 'Pending' || containers.length > 0),
    condition('Initialized', initDone, initDone ? terminalReason : 'ContainersNotInitialized'),
    condition(
      'ContainersReady',
      allReady,
      allReady ? undefined : notReadyReason,
      allReady ? undefined : notReadyMessage,
    ),
    condition('Ready', allReady, allReady ? undefined : notReadyReason, allReady ? undefined : notReadyMessage),
  ];
}

/**
 * The status the API should show: the provider's report, completed (IPs, start time, the
 * kubelet's conditions when the provider gives none) and with condition transition times that
 * only move when a condition's status changes — so an unchanged report never causes a write.
 */
export function desiredPodStatus(pod: Pod, reported: PodStatus, context: StatusContext): PodStatus {
  const now = context.now ?? kubeTime();
  const current = pod.status ?? {};
  const status: PodStatus = { ...reported };
  status.phase = reported.phase ?? current.phase ?? 'Pending';
  if (!status.hostIP && context.hostIPs[0]) {
    status.hostIP = context.hostIPs[0];
    // At most one address per IP family, as the API requires.
    if (!status.hostIPs) status.hostIPs = onePerFamily(context.hostIPs).map((ip) => ({ ip }));
  }
  if (!status.hostIPs && status.hostIP) status.hostIPs = [{ ip: status.hostIP }];
  if (status.podIP && !status.podIPs) status.podIPs = [{ ip: status.podIP }];
  if (!status.startTime) status.startTime = current.startTime ?? now;
  const containerStatuses = orderedStatuses(pod.spec?.containers, reported.containerStatuses);
  if (containerStatuses) status.containerStatuses = containerStatuses;
  const initStatuses = orderedStatuses(pod.spec?.initContainers, reported.initContainerStatuses);
  if (initStatuses) status.initContainerStatuses = initStatuses;
  const unsupported = context.ephemeralContainersUnsupported;
  if (unsupported && (pod.spec?.ephemeralContainers?.length ?? 0) > 0) {
    // Kept as first written: a later write must not move the times.
    const known = new Map(
      [...(current.ephemeralContainerStatuses ?? []), ...(reported.ephemeralContainerStatuses ?? [])].map((c) => [
        c.name,
        c,
      ]),
    );
    status.ephemeralContainerStatuses = (pod.spec?.ephemeralContainers ?? []).map(
      (c) =>
        known.get(c.name) ?? {
          name: c.name,
          image: c.image ?? '',
          imageID: '',
          ready: false,
          restartCount: 0,
          state: unsupportedEphemeralState(unsupported, now),
        },
    );
  }

  const reportedOwned = (reported.conditions ?? []).filter((c) => OWNED_CONDITIONS.has(c.type));
  const byType = new Map(derivedConditions(pod, status).map((c) => [c.type, c]));
  for (const c of reportedOwned) byType.set(c.type, { ...c });
  const currentByType = new Map((current.conditions ?? []).map((c) => [c.type, c]));
  const conditions = KUBELET_POD_CONDITIONS.map((type) => {
    const c = byType.get(type) as PodCondition;
    const previous = currentByType.get(type);
    const result: PodCondition = { type: c.type, status: c.status };
    if (c.reason) result.reason = c.reason;
    if (c.message) result.message = c.message;
    result.lastProbeTime = null as never;
    result.lastTransitionTime =
      previous && previous.status === c.status ? previous.lastTransitionTime : (c.lastTransitionTime ?? now);
    return result;
  });
  // A pod bound directly (spec.nodeName, no scheduler) has no PodScheduled condition; the kubelet adds one.
  if (!currentByType.has('PodScheduled')) {
    conditions.unshift({ type: 'PodScheduled', status: 'True', lastProbeTime: null as never, lastTransitionTime: now });
  }
  status.conditions = conditions;
  return status;
}

/** A status for a pod whose containers cannot be configured yet (missing configMap/secret). */
export function configErrorStatus(pod: Pod, reason: string, message: string, context: StatusContext): PodStatus {
  const containerStatuses = (pod.spec?.containers ?? []).map((c) => ({
    name: c.name,
    image: c.image ?? '',
    imageID: '',
    ready: false,
    restartCount: 0,
    started: false,
    state: { waiting: { reason, message } },
  }));
  return desiredPodStatus(pod, { phase: 'Pending', containerStatuses }, context);
}

/** A status for a pod the provider keeps failing to create (Go: `ProviderFailed`). */
export function providerFailedStatus(pod: Pod, message: string, context: StatusContext): PodStatus {
  const phase = pod.spec?.restartPolicy === 'Never' ? 'Failed' : 'Pending';
  const containerStatuses = (pod.spec?.containers ?? []).map((c) => ({
    name: c.name,
    image: c.image ?? '',
    imageID: '',
    ready: false,
    restartCount: 0,
    started: false,
    state: { waiting: { reason: 'ProviderFailed', message } },
  }));
  return desiredPodStatus(pod, { phase, reason: 'ProviderFailed', message, containerStatuses }, context);
}

/** What the Go implementation reports when a running pod disappears from the provider. */
export function vanishedStatus(pod: Pod, context: StatusContext): PodStatus {
  const now = context.now ?? kubeTime();
  const containerStatuses = (pod.status?.containerStatuses ?? []).map((c) => ({
    ...c,
    ready: false,
    started: false,
    state: {
      terminated: {
        exitCode: 137,
        reason: 'NotFound',
        message: 'The container could not be located when the pod was deleted. The container used to be Running',
        startedAt: c.state?.running?.startedAt ?? c.state?.terminated?.startedAt ?? now,
        finishedAt: now,
      },
    },
  }));
  return desiredPodStatus(
    pod,
    {
      ...pod.status,
      phase: 'Failed',
      reason: 'NotFound',
      message: 'The pod status was not found and may have been deleted from the provider',
      containerStatuses,
    },
    context,
  );
}

/**
 * The strategic merge patch from the API's current status to `desired`, or undefined when they
 * already agree. Only owned fields that differ are sent; a field the desired status lacks is
 * cleared with null. `metadata.uid` makes the write fail on a pod that was re-created under the
 * same name meanwhile (as the kubelet does).
 */
export function podStatusPatch(pod: Pod, desired: PodStatus): object | undefined {
  const current = (pod.status ?? {}) as Record<string, unknown>;
  const want = desired as Record<string, unknown>;
  const status: Record<string, unknown> = {};
  for (const field of OWNED_FIELDS) {
    const next = want[field];
    const previous = current[field];
    if (next === undefined) {
      if (previous !== undefined && (field === 'reason' || field === 'message')) status[field] = null;
      continue;
    }
    if (semanticallyEqual(next, previous)) continue;
    // hostIPs and podIPs merge by IP in a strategic merge patch; a changed list must replace the old one.
    status[field] =
      (field === 'hostIPs' || field === 'podIPs') && Array.isArray(next) ? [{ $patch: 'replace' }, ...next] : next;
  }
  const currentByType = new Map((pod.status?.conditions ?? []).map((c) => [c.type, c]));
  const changedConditions = (desired.conditions ?? []).filter((c) => {
    const previous = currentByType.get(c.type);
    return (
      !previous ||
      previous.status !== c.status ||
      (previous.reason ?? '') !== (c.reason ?? '') ||
      (previous.message ?? '') !== (c.message ?? '') ||
      previous.lastTransitionTime !== c.lastTransitionTime
    );
  });
  // Conditions merge by type, field by field: a reason or message that went away must be nulled.
  if (changedConditions.length > 0) {
    status.conditions = changedConditions.map((c) => ({ ...c, reason: c.reason ?? null, message: c.message ?? null }));
  }
  if (Object.keys(status).length === 0) return undefined;
  return { metadata: { uid: pod.metadata?.uid }, status };
}
