/**
 * A Nomad allocation's state as a pod's status: the allocation's client status gives the phase,
 * each task's state and events give a container status (running, terminated with its exit code
 * and times, waiting as ContainerCreating, PodInitializing or CrashLoopBackOff with the last
 * termination in lastState), restarts count as restartCount, and the allocation's network
 * address is the pod IP. The controller completes the rest (conditions, hostIP, defaults).
 */
import type { ContainerState, ContainerStatus, Pod, PodStatus } from 'kubernetes-types/core/v1.js';
import { kubeTime } from '../../provider/index.ts';
import type { NomadAllocation, NomadTaskEvent, NomadTaskState } from './api/types.ts';

/** `nomad://<allocation>/<task>`: where a container runs, for containerID. */
export function containerId(allocId: string, task: string): string {
  return `nomad://${allocId}/${task}`;
}

function eventTime(event: NomadTaskEvent): string {
  return kubeTime(new Date(Math.floor(event.Time / 1e6)));
}

function nomadTime(value: string | null | undefined): string | undefined {
  if (!value || value.startsWith('0001-')) return undefined;
  return kubeTime(new Date(value));
}

function lastEvent(state: NomadTaskState, types: readonly string[]): NomadTaskEvent | undefined {
  const events = state.Events ?? [];
  for (let i = events.length - 1; i >= 0; i--) {
    const event = events[i] as NomadTaskEvent;
    if (types.includes(event.Type)) return event;
  }
  return undefined;
}

/** The message of the latest event that failed the task or its start (driver errors, setup failures). */
function failureMessage(state: NomadTaskState): string | undefined {
  const event = lastEvent(state, ['Driver Failure', 'Setup Failure', 'Failed Validation', 'Failed Artifact Download']);
  return event ? event.DriverError || event.DisplayMessage || event.Message : undefined;
}

function terminated(state: NomadTaskState, fallbackStart: string | undefined): ContainerState['terminated'] {
  const exit = lastEvent(state, ['Terminated']);
  const started = lastEvent(state, ['Started']);
  const exitCode = exit?.ExitCode ?? (state.Failed ? 128 : 0);
  const message = exit ? exit.DisplayMessage : failureMessage(state);
  const oom = exit?.Details?.oom_killed === 'true';
  const reason = exit
    ? oom
      ? 'OOMKilled'
      : exitCode === 0
        ? 'Completed'
        : 'Error'
    : state.Failed
      ? 'StartError'
      : 'Completed';
  const finishedAt = nomadTime(state.FinishedAt) ?? (exit ? eventTime(exit) : undefined);
  const startedAt = started ? eventTime(started) : (nomadTime(state.StartedAt) ?? fallbackStart);
  return {
    exitCode,
    reason,
    ...(exit?.Signal ? { signal: exit.Signal } : {}),
    ...(message ? { message } : {}),
    ...(startedAt ? { startedAt } : {}),
    ...(finishedAt ? { finishedAt } : {}),
  };
}

/** The termination before the current run, for lastState; only once the task has restarted. */
function previousTermination(state: NomadTaskState): ContainerState['terminated'] | undefined {
  if (state.Restarts === 0) return undefined;
  const events = state.Events ?? [];
  let exitIndex = -1;
  for (let i = events.length - 1; i >= 0; i--) {
    if (events[i]?.Type === 'Terminated') {
      exitIndex = i;
      break;
    }
  }
  if (exitIndex < 0) return undefined;
  const exit = events[exitIndex] as NomadTaskEvent;
  const started = events.slice(0, exitIndex).findLast((e) => e.Type === 'Started');
  return {
    exitCode: exit.ExitCode ?? 0,
    reason: (exit.ExitCode ?? 0) === 0 ? 'Completed' : 'Error',
    ...(exit.Signal ? { signal: exit.Signal } : {}),
    ...(started ? { startedAt: eventTime(started) } : {}),
    finishedAt: eventTime(exit),
  };
}

function waitingReason(state: NomadTaskState, initializing: boolean): { reason: string; message?: string } {
  const failure = failureMessage(state);
  const latest = (state.Events ?? []).at(-1);
  if (latest?.Type === 'Restarting' || (state.Restarts > 0 && latest?.Type !== 'Started')) {
    const message = failure ?? latest?.DisplayMessage;
    return {
      reason: failure && !lastEvent(state, ['Terminated']) ? 'RunContainerError' : 'CrashLoopBackOff',
      ...(message ? { message } : {}),
    };
  }
  if (failure) {
    return { reason: /image|pull|manifest/i.test(failure) ? 'ErrImagePull' : 'CreateContainerError', message: failure };
  }
  return { reason: initializing ? 'PodInitializing' : 'ContainerCreating' };
}

/** One container's status from its task's state (undefined: the task has no state yet). */
export function containerStatus(
  name: string,
  image: string,
  allocId: string,
  state: NomadTaskState | undefined,
  initializing: boolean,
): ContainerStatus {
  const base = {
    name,
    image,
    imageID: '',
    containerID: containerId(allocId, name),
    restartCount: state?.Restarts ?? 0,
  };
  if (!state)
    return {
      ...base,
      ready: false,
      state: { waiting: { reason: initializing ? 'PodInitializing' : 'ContainerCreating' } },
    };
  const last = previousTermination(state);
  const lastState = last ? { lastState: { terminated: last } } : {};
  if (state.State === 'running') {
    const started = lastEvent(state, ['Started']);
    const startedAt = started ? eventTime(started) : nomadTime(state.StartedAt);
    return { ...base, ready: true, started: true, state: { running: startedAt ? { startedAt } : {} }, ...lastState };
  }
  if (state.State === 'dead') {
    return { ...base, ready: false, started: false, state: { terminated: terminated(state, undefined) }, ...lastState };
  }
  return {
    ...base,
    ready: false,
    started: false,
    state: { waiting: waitingReason(state, initializing) },
    ...lastState,
  };
}

export interface PodShape {
  /** Init containers in order (`sidecar`: restartPolicy Always). */
  init: { name: string; image: string; sidecar: boolean }[];
  containers: { name: string; image: string }[];
}

export function podShape(pod: Pod): PodShape {
  return {
    init: (pod.spec?.initContainers ?? []).map((c) => ({
      name: c.name,
      image: c.image ?? '',
      sidecar: c.restartPolicy === 'Always',
    })),
    containers: (pod.spec?.containers ?? []).map((c) => ({ name: c.name, image: c.image ?? '' })),
  };
}

/**
 * The pod status for an allocation (undefined: the job is registered but Nomad has not placed it
 * yet; `pending` says why when Nomad reported it).
 */
export function podStatusFromAllocation(
  shape: PodShape,
  alloc: NomadAllocation | undefined,
  pending?: string,
): PodStatus {
  if (!alloc) {
    return {
      phase: 'Pending',
      ...(pending ? { reason: 'Unschedulable', message: pending } : {}),
      containerStatuses: shape.containers.map((c) => ({
        name: c.name,
        image: c.image,
        imageID: '',
        ready: false,
        restartCount: 0,
        state: { waiting: { reason: 'ContainerCreating', ...(pending ? { message: pending } : {}) } },
      })),
    };
  }
  const states = alloc.TaskStates ?? {};
  const initDone = shape.init.every((c) => c.sidecar || (states[c.name]?.State === 'dead' && !states[c.name]?.Failed));
  const initStatuses = shape.init.map((c) => containerStatus(c.name, c.image, alloc.ID, states[c.name], false));
  const containerStatuses = shape.containers.map((c) =>
    containerStatus(c.name, c.image, alloc.ID, states[c.name], !initDone),
  );
  const status: PodStatus = {
    phase: phase(alloc, initDone),
    containerStatuses,
    ...(initStatuses.length ? { initContainerStatuses: initStatuses } : {}),
    startTime: kubeTime(new Date(Math.floor(alloc.CreateTime / 1e6))),
  };
  const ip = alloc.NetworkStatus?.Address;
  if (ip) {
    status.podIP = ip;
    status.podIPs = [{ ip }];
  }
  if (alloc.ClientStatus === 'lost') {
    status.reason = 'NodeLost';
    status.message = `the Nomad client ${alloc.NodeName ?? alloc.NodeID} running this pod was lost`;
  } else if (alloc.ClientStatus === 'failed' && alloc.ClientDescription) {
    status.message = alloc.ClientDescription;
  }
  return status;
}

function phase(alloc: NomadAllocation, initDone: boolean): NonNullable<PodStatus['phase']> {
  switch (alloc.ClientStatus) {
    case 'running':
      return initDone ? 'Running' : 'Pending';
    case 'pending':
      // Nomad puts an allocation back to pending while a task waits to restart; on a kubelet a
      // pod whose containers have run stays Running through its restarts.
      return initDone && started(alloc) ? 'Running' : 'Pending';
    case 'complete':
      return 'Succeeded';
    case 'failed':
    case 'lost':
      return 'Failed';
    case 'unknown':
      return 'Running';
    default:
      return 'Pending';
  }
}

function started(alloc: NomadAllocation): boolean {
  return Object.values(alloc.TaskStates ?? {}).some(
    (state) => state.Restarts > 0 || Boolean(lastEvent(state, ['Started'])),
  );
}

/** Whether the allocation has finished for good (Nomad will not run it again). */
export function allocationTerminal(alloc: NomadAllocation): boolean {
  return ['complete', 'failed', 'lost'].includes(alloc.ClientStatus);
}

/** The allocation a pod shows: the newest one still running or pending, else the newest. */
export function currentAllocation(allocs: readonly NomadAllocation[]): NomadAllocation | undefined {
  const sorted = [...allocs].sort((a, b) => b.CreateIndex - a.CreateIndex);
  return sorted.find((a) => !allocationTerminal(a)) ?? sorted[0];
}
