/**
 * The status of a pod run by a {@link PodRuntime}, derived purely from what the runtime knows of
 * its containers: the phase (as the kubelet's `getPhase` decides it from the restart policy), the
 * kubelet's four conditions, and one status per container — init, app and ephemeral.
 */
import type { Container, ContainerState, ContainerStatus, PodStatus } from 'kubernetes-types/core/v1.js';

/**
 * Where the pod is in its life: supervised; failed for good (nothing more will run, the phase is
 * Failed whatever comes after); being stopped after a delete; stopped.
 */
export type PodLifecycle = 'running' | 'failed' | 'terminating' | 'terminated';

export type ContainerKind = 'init' | 'app' | 'ephemeral';

/** What the status needs to know of one container. */
export interface ContainerView {
  spec: Container;
  kind: ContainerKind;
  /** The Podman container of the current run. */
  id: string | undefined;
  imageID: string;
  state: ContainerState;
  lastState: ContainerState | undefined;
  restartCount: number;
  ready: boolean;
  started: boolean;
}

export interface PodRuntimeFacts {
  restartPolicy: string;
  lifecycle: PodLifecycle;
  containers: readonly ContainerView[];
  podIPs: readonly string[];
  startTime: string;
  reason: string | undefined;
  message: string | undefined;
}

/** Init containers are done when each exited 0, or (a sidecar, restartPolicy Always) has started. */
function initsDone(inits: readonly ContainerView[]): boolean {
  return inits.every((c) => c.state.terminated?.exitCode === 0 || (c.spec.restartPolicy === 'Always' && c.started));
}

export function podPhase(facts: PodRuntimeFacts): PodStatus['phase'] {
  if (facts.lifecycle === 'failed') return 'Failed';
  const apps = facts.containers.filter((c) => c.kind === 'app');
  if (!initsDone(facts.containers.filter((c) => c.kind === 'init'))) return 'Pending';
  if (apps.some((c) => c.state.running)) return 'Running';
  const allTerminated = apps.length > 0 && apps.every((c) => c.state.terminated);
  if (!allTerminated) {
    return apps.some((c) => c.restartCount > 0 || c.state.waiting?.reason === 'CrashLoopBackOff')
      ? 'Running'
      : 'Pending';
  }
  const failed = apps.some((c) => (c.state.terminated?.exitCode ?? 0) !== 0);
  const stopping = facts.lifecycle === 'terminating' || facts.lifecycle === 'terminated';
  if (stopping || facts.restartPolicy === 'Never') return failed ? 'Failed' : 'Succeeded';
  if (facts.restartPolicy === 'OnFailure') return failed ? 'Running' : 'Succeeded';
  return 'Running';
}

function containerStatus(c: ContainerView): ContainerStatus {
  return {
    name: c.spec.name,
    image: c.spec.image ?? '',
    imageID: c.imageID,
    ...(c.id ? { containerID: `podman://${c.id}` } : {}),
    ready: c.ready,
    started: c.started,
    restartCount: c.restartCount,
    state: c.state,
    lastState: c.lastState ?? {},
  };
}

/** The pod's status as a kubelet would report it. */
export function podRuntimeStatus(facts: PodRuntimeFacts): PodStatus {
  const of = (kind: ContainerKind) => facts.containers.filter((c) => c.kind === kind);
  const apps = of('app');
  const inits = of('init');
  const ephemeral = of('ephemeral');
  const phase = podPhase(facts);
  const allReady = apps.length > 0 && apps.every((c) => c.ready);
  const unready = apps.filter((c) => !c.ready).map((c) => c.spec.name);
  const notReady = phase === 'Succeeded' || phase === 'Failed' ? 'PodCompleted' : 'ContainersNotReady';
  const message =
    unready.length > 0 && notReady === 'ContainersNotReady'
      ? `containers with unready status: [${unready.join(' ')}]`
      : undefined;
  const readyCondition = (type: string) =>
    allReady ? { type, status: 'True' } : { type, status: 'False', reason: notReady, ...(message ? { message } : {}) };
  return {
    phase,
    ...(facts.reason ? { reason: facts.reason } : {}),
    ...(facts.message ? { message: facts.message } : {}),
    ...(facts.podIPs.length > 0 ? { podIP: facts.podIPs[0], podIPs: facts.podIPs.map((ip) => ({ ip })) } : {}),
    startTime: facts.startTime,
    conditions: [
      { type: 'PodReadyToStartContainers', status: facts.podIPs.length > 0 ? 'True' : 'False' },
      initsDone(inits)
        ? { type: 'Initialized', status: 'True' }
        : { type: 'Initialized', status: 'False', reason: 'ContainersNotInitialized' },
      readyCondition('ContainersReady'),
      readyCondition('Ready'),
    ],
    ...(inits.length > 0 ? { initContainerStatuses: inits.map(containerStatus) } : {}),
    containerStatuses: apps.map(containerStatus),
    ...(ephemeral.length > 0 ? { ephemeralContainerStatuses: ephemeral.map(containerStatus) } : {}),
  };
}
