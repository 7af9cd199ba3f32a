/**
 * An ECS task as a pod status (pure).
 *
 * Phase: PROVISIONING, PENDING and ACTIVATING are Pending; RUNNING up to DEPROVISIONING is
 * Running; STOPPED is Succeeded when every app container exited 0, else Failed, with the stop
 * code and reason as the message (Fargate restarts no container, so a stopped task is the end of
 * the pod; its Deployment or Job makes a new one).
 *
 * Containers: what ECS reports for each (`lastStatus`, `exitCode`, `reason`, `healthStatus`).
 * Where ECS reports nothing for a container yet (and moto only ever reports the first one, with
 * `lastStatus` PENDING), the task's state says it: ECS moves a task to RUNNING only once its
 * essential containers run and its init containers have finished with SUCCESS, so in a running
 * task those are running and completed. A container with a health check is ready when ECS says
 * HEALTHY, one without when it runs.
 *
 * The pod IP is the private IPv4 address of the task's ENI attachment.
 */
import type { Container as EcsContainer, Task } from '@aws-sdk/client-ecs';
import type { ContainerState, ContainerStatus, Pod, PodStatus } from 'kubernetes-types/core/v1.js';
import type { ContainerKind } from './task-definition.ts';

/** Times the provider saw itself, for an ECS that leaves the task's own out (moto does). */
export interface ObservedTimes {
  createdAt: Date;
  runningAt?: Date | undefined;
  stoppedAt?: Date | undefined;
}

const PENDING_STATES = new Set(['PROVISIONING', 'PENDING', 'ACTIVATING']);

export function isTaskStopped(task: Task): boolean {
  return task.lastStatus === 'STOPPED';
}

/** The task's private IPv4 address (its ENI's). */
export function taskIP(task: Task): string | undefined {
  for (const attachment of task.attachments ?? []) {
    if (attachment.type !== 'ElasticNetworkInterface') continue;
    const ip = attachment.details?.find((d) => d.name === 'privateIPv4Address')?.value;
    if (ip) return ip;
  }
  return undefined;
}

function iso(date: Date | undefined): string | undefined {
  return date ? new Date(Math.floor(date.getTime() / 1000) * 1000).toISOString().replace('.000Z', 'Z') : undefined;
}

/** Why the task stopped, in one line: `EssentialContainerExited: Essential container in task exited`. */
export function stopMessage(task: Task): string {
  const parts = [task.stopCode, task.stoppedReason].filter((p) => p);
  return parts.length > 0 ? `task stopped: ${parts.join(': ')}` : 'task stopped';
}

function containerState(
  kind: ContainerKind,
  reported: EcsContainer | undefined,
  task: Task,
  times: ObservedTimes,
): { state: ContainerState; running: boolean } {
  const startedAt = iso(task.startedAt ?? times.runningAt);
  const finishedAt = iso(task.stoppedAt ?? task.executionStoppedAt ?? times.stoppedAt);
  const terminated = (exitCode: number, reason: string, message?: string): ContainerState => ({
    terminated: {
      exitCode,
      reason,
      ...(message ? { message } : {}),
      ...(startedAt ? { startedAt } : {}),
      ...(finishedAt ? { finishedAt } : {}),
    },
  });
  const exitState = (exitCode: number): ContainerState =>
    terminated(exitCode, exitCode === 0 ? 'Completed' : 'Error', reported?.reason);
  if (reported?.exitCode !== undefined && (reported.lastStatus === 'STOPPED' || isTaskStopped(task))) {
    return { state: exitState(reported.exitCode), running: false };
  }
  if (isTaskStopped(task)) {
    // No exit code: the container never ran (the task failed to start), or ECS lost it.
    const neverRan = task.stopCode === 'TaskFailedToStart' || (!task.startedAt && !times.runningAt);
    return {
      state: neverRan
        ? terminated(128, 'StartError', reported?.reason ?? task.stoppedReason)
        : terminated(137, 'ContainerStatusUnknown', 'ECS reported no exit code for the container'),
      running: false,
    };
  }
  if (reported?.lastStatus === 'RUNNING') return { state: { running: startedAt ? { startedAt } : {} }, running: true };
  if (!PENDING_STATES.has(task.lastStatus ?? 'PROVISIONING')) {
    // RUNNING … DEPROVISIONING: ECS started the essential containers after the init ones succeeded.
    if (kind === 'init') return { state: terminated(0, 'Completed'), running: false };
    return { state: { running: startedAt ? { startedAt } : {} }, running: true };
  }
  return { state: { waiting: { reason: 'ContainerCreating' } }, running: false };
}

/**
 * The pod status for a task. `kinds` says which spec containers are init containers, sidecars
 * and app containers; `probed` names those whose probe became an ECS health check.
 */
export function taskPodStatus(
  pod: Pod,
  task: Task,
  kinds: Record<string, ContainerKind>,
  probed: ReadonlySet<string>,
  times: ObservedTimes,
): PodStatus {
  const byName = new Map((task.containers ?? []).map((c) => [c.name ?? '', c]));
  const status = (container: { name: string; image: string | undefined }): ContainerStatus => {
    const kind = kinds[container.name] ?? 'app';
    const reported = byName.get(container.name);
    const { state, running } = containerState(kind, reported, task, times);
    const health = reported?.healthStatus;
    const ready = running && (probed.has(container.name) ? health === 'HEALTHY' : health !== 'UNHEALTHY');
    return {
      name: container.name,
      image: container.image ?? reported?.image ?? '',
      imageID: reported?.imageDigest ?? '',
      ...(reported?.runtimeId ? { containerID: `ecs://${reported.runtimeId}` } : {}),
      ready,
      restartCount: 0,
      started: running,
      state,
    };
  };
  const spec = pod.spec;
  const containerStatuses = (spec?.containers ?? []).map((c) => status({ name: c.name, image: c.image }));
  const initContainerStatuses = (spec?.initContainers ?? []).map((c) => status({ name: c.name, image: c.image }));
  let phase: PodStatus['phase'] = 'Pending';
  let message: string | undefined;
  if (isTaskStopped(task)) {
    const allSucceeded = containerStatuses.every((c) => c.state?.terminated?.exitCode === 0);
    phase = allSucceeded ? 'Succeeded' : 'Failed';
    message = stopMessage(task);
  } else if (!PENDING_STATES.has(task.lastStatus ?? 'PROVISIONING')) {
    phase = 'Running';
  }
  const podIP = taskIP(task);
  const startTime = iso(task.createdAt ?? times.createdAt);
  return {
    phase,
    ...(message ? { message } : {}),
    ...(podIP ? { podIP, podIPs: [{ ip: podIP }] } : {}),
    ...(startTime ? { startTime } : {}),
    containerStatuses,
    ...(initContainerStatuses.length > 0 ? { initContainerStatuses } : {}),
  };
}
