import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { NomadAllocation, NomadTaskEvent, NomadTaskState } from './api/types.ts';
import { currentAllocation, type PodShape, podStatusFromAllocation } from './pod-status.ts';

const shape: PodShape = {
  init: [{ name: 'setup', image: 'busybox', sidecar: false }],
  containers: [{ name: 'app', image: 'busybox' }],
};
const t = (seconds: number) => Date.UTC(2026, 0, 1, 0, 0, seconds) * 1e6;
const event = (Type: string, seconds: number, extra: Partial<NomadTaskEvent> = {}): NomadTaskEvent => ({
  Type,
  Time: t(seconds),
  ...extra,
});

function alloc(ClientStatus: string, TaskStates: Record<string, NomadTaskState>, extra: Partial<NomadAllocation> = {}) {
  return {
    ID: 'a1',
    Namespace: 'default',
    Name: 'job.pod[0]',
    NodeID: 'n1',
    JobID: 'job',
    TaskGroup: 'pod',
    DesiredStatus: 'run',
    ClientStatus,
    TaskStates,
    CreateIndex: 10,
    ModifyIndex: 12,
    CreateTime: t(0),
    ModifyTime: t(5),
    ...extra,
  } satisfies NomadAllocation;
}

const doneInit: NomadTaskState = {
  State: 'dead',
  Failed: false,
  Restarts: 0,
  StartedAt: '2026-01-01T00:00:01Z',
  FinishedAt: '2026-01-01T00:00:02Z',
  Events: [event('Started', 1), event('Terminated', 2, { ExitCode: 0 })],
};

test('no allocation yet: Pending, ContainerCreating, with Nomad’s placement failure when there is one', () => {
  const status = podStatusFromAllocation(shape, undefined, 'Nomad could not place the allocation (2 nodes evaluated)');
  assert.equal(status.phase, 'Pending');
  assert.equal(status.reason, 'Unschedulable');
  assert.equal(status.containerStatuses?.[0]?.state?.waiting?.reason, 'ContainerCreating');
});

test('running with init done: Running, the pod IP from the network status, init terminated Completed', () => {
  const status = podStatusFromAllocation(
    shape,
    alloc(
      'running',
      {
        setup: doneInit,
        app: {
          State: 'running',
          Failed: false,
          Restarts: 0,
          StartedAt: '2026-01-01T00:00:03Z',
          Events: [event('Started', 3)],
        },
      },
      { NetworkStatus: { Address: '172.26.64.5' } },
    ),
  );
  assert.equal(status.phase, 'Running');
  assert.equal(status.podIP, '172.26.64.5');
  assert.deepEqual(status.podIPs, [{ ip: '172.26.64.5' }]);
  assert.equal(status.startTime, '2026-01-01T00:00:00Z');
  assert.deepEqual(status.initContainerStatuses?.[0]?.state?.terminated, {
    exitCode: 0,
    reason: 'Completed',
    startedAt: '2026-01-01T00:00:01Z',
    finishedAt: '2026-01-01T00:00:02Z',
  });
  const app = status.containerStatuses?.[0];
  assert.equal(app?.ready, true);
  assert.equal(app?.containerID, 'nomad://a1/app');
  assert.deepEqual(app?.state, { running: { startedAt: '2026-01-01T00:00:03Z' } });
});

test('an init task still running keeps the pod Pending and the main container PodInitializing', () => {
  const status = podStatusFromAllocation(
    shape,
    alloc('running', { setup: { State: 'running', Failed: false, Restarts: 0, Events: [event('Started', 1)] } }),
  );
  assert.equal(status.phase, 'Pending');
  assert.equal(status.containerStatuses?.[0]?.state?.waiting?.reason, 'PodInitializing');
});

test('a crashing task: CrashLoopBackOff, the restart count and the last termination', () => {
  const status = podStatusFromAllocation(
    shape,
    alloc('pending', {
      setup: doneInit,
      app: {
        State: 'pending',
        Failed: false,
        Restarts: 2,
        Events: [
          event('Started', 3),
          event('Terminated', 4, { ExitCode: 1 }),
          event('Restarting', 4, { DisplayMessage: 'Task restarting in 2s' }),
          event('Started', 6),
          event('Terminated', 7, { ExitCode: 2 }),
          event('Restarting', 7, { DisplayMessage: 'Task restarting in 2s' }),
        ],
      },
    }),
  );
  const app = status.containerStatuses?.[0];
  // Nomad's allocation is pending again between runs; the pod stays Running, as on a kubelet.
  assert.equal(status.phase, 'Running');
  assert.equal(app?.restartCount, 2);
  assert.equal(app?.state?.waiting?.reason, 'CrashLoopBackOff');
  assert.deepEqual(app?.lastState?.terminated, {
    exitCode: 2,
    reason: 'Error',
    startedAt: '2026-01-01T00:00:06Z',
    finishedAt: '2026-01-01T00:00:07Z',
  });
});

test('failed and complete allocations: Failed with the exit code, Succeeded; a driver failure shows its error', () => {
  const failed = podStatusFromAllocation(
    { init: [], containers: [{ name: 'app', image: 'busybox' }] },
    alloc(
      'failed',
      {
        app: {
          State: 'dead',
          Failed: true,
          Restarts: 0,
          FinishedAt: '2026-01-01T00:00:04Z',
          Events: [event('Started', 3), event('Terminated', 4, { ExitCode: 3 }), event('Not Restarting', 4)],
        },
      },
      { ClientDescription: 'Failed tasks' },
    ),
  );
  assert.equal(failed.phase, 'Failed');
  assert.equal(failed.containerStatuses?.[0]?.state?.terminated?.exitCode, 3);
  assert.equal(failed.containerStatuses?.[0]?.state?.terminated?.reason, 'Error');
  const complete = podStatusFromAllocation(
    { init: [], containers: [{ name: 'app', image: 'busybox' }] },
    alloc('complete', { app: { ...doneInit } }),
  );
  assert.equal(complete.phase, 'Succeeded');
  const pulling = podStatusFromAllocation(
    { init: [], containers: [{ name: 'app', image: 'busybox' }] },
    alloc('pending', {
      app: {
        State: 'pending',
        Failed: false,
        Restarts: 0,
        Events: [event('Driver Failure', 2, { DriverError: 'Failed to pull `nope:1`: image not known' })],
      },
    }),
  );
  assert.deepEqual(pulling.containerStatuses?.[0]?.state?.waiting, {
    reason: 'ErrImagePull',
    message: 'Failed to pull `nope:1`: image not known',
  });
});

test('the current allocation is the newest live one, else the newest', () => {
  const old = alloc('failed', {}, { ID: 'old', CreateIndex: 5 });
  const live = alloc('running', {}, { ID: 'live', CreateIndex: 7 });
  const newest = alloc('complete', {}, { ID: 'newest', CreateIndex: 9 });
  assert.equal(currentAllocation([old, live, newest])?.ID, 'live');
  assert.equal(currentAllocation([old, newest])?.ID, 'newest');
  assert.equal(currentAllocation([]), undefined);
});
