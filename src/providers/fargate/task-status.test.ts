import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Task } from '@aws-sdk/client-ecs';
import type { Pod } from 'kubernetes-types/core/v1.js';
import type { ContainerKind } from './task-definition.ts';
import { type ObservedTimes, taskPodStatus } from './task-status.ts';

const pod: Pod = {
  metadata: { namespace: 'ns', name: 'p', uid: 'u' },
  spec: {
    initContainers: [{ name: 'init', image: 'i' }],
    containers: [
      { name: 'app', image: 'a' },
      { name: 'side', image: 's' },
    ],
  },
};
const kinds: Record<string, ContainerKind> = { init: 'init', app: 'app', side: 'app' };
const times: ObservedTimes = { createdAt: new Date('2026-12-01T10:00:00Z') };
const eni = {
  type: 'ElasticNetworkInterface',
  details: [
    { name: 'networkInterfaceId', value: 'eni-1' },
    { name: 'privateIPv4Address', value: '10.0.1.7' },
  ],
};

function status(task: Task, probed: string[] = [], t = times) {
  return taskPodStatus(pod, task, kinds, new Set(probed), t);
}

test('a provisioning task is Pending with containers waiting, and the ENI address once it has one', () => {
  const s = status({ lastStatus: 'PROVISIONING', attachments: [eni] });
  assert.equal(s.phase, 'Pending');
  assert.equal(s.podIP, '10.0.1.7');
  assert.deepEqual(s.podIPs, [{ ip: '10.0.1.7' }]);
  assert.equal(s.startTime, '2026-12-01T10:00:00Z');
  assert.deepEqual(s.containerStatuses?.[0]?.state, { waiting: { reason: 'ContainerCreating' } });
  assert.equal(s.containerStatuses?.[0]?.ready, false);
});

test('a running task: app containers running and ready, init containers completed, even when ECS reports none (moto)', () => {
  const runningAt = new Date('2026-12-01T10:00:05Z');
  const s = status(
    { lastStatus: 'RUNNING', attachments: [eni], containers: [{ name: 'app', lastStatus: 'PENDING', exitCode: 0 }] },
    [],
    { ...times, runningAt },
  );
  assert.equal(s.phase, 'Running');
  const [app, side] = s.containerStatuses ?? [];
  assert.deepEqual(app?.state, { running: { startedAt: '2026-12-01T10:00:05Z' } });
  assert.equal(app?.ready, true);
  assert.equal(side?.ready, true);
  assert.equal(s.initContainerStatuses?.[0]?.state?.terminated?.reason, 'Completed');
  assert.equal(s.initContainerStatuses?.[0]?.state?.terminated?.exitCode, 0);
});

test('readiness follows the ECS health status of a probed container', () => {
  const task = (healthStatus: 'HEALTHY' | 'UNHEALTHY' | 'UNKNOWN'): Task => ({
    lastStatus: 'RUNNING',
    containers: [{ name: 'app', lastStatus: 'RUNNING', healthStatus }],
  });
  assert.equal(status(task('UNKNOWN'), ['app']).containerStatuses?.[0]?.ready, false);
  assert.equal(status(task('HEALTHY'), ['app']).containerStatuses?.[0]?.ready, true);
  assert.equal(status(task('UNHEALTHY')).containerStatuses?.[0]?.ready, false);
  assert.equal(status(task('UNKNOWN')).containerStatuses?.[0]?.ready, true);
});

test('a stopped task: Succeeded when every app container exited 0, else Failed, with the stop reason', () => {
  const stopped = (appExit: number, sideExit: number): Task => ({
    lastStatus: 'STOPPED',
    startedAt: new Date('2026-12-01T10:00:05Z'),
    stoppedAt: new Date('2026-12-01T10:01:00Z'),
    stopCode: 'EssentialContainerExited',
    stoppedReason: 'Essential container in task exited',
    containers: [
      { name: 'init', lastStatus: 'STOPPED', exitCode: 0 },
      { name: 'app', lastStatus: 'STOPPED', exitCode: appExit },
      { name: 'side', lastStatus: 'STOPPED', exitCode: sideExit, reason: 'OutOfMemoryError' },
    ],
  });
  const ok = status(stopped(0, 0));
  assert.equal(ok.phase, 'Succeeded');
  assert.equal(ok.message, 'task stopped: EssentialContainerExited: Essential container in task exited');
  assert.deepEqual(ok.containerStatuses?.[0]?.state, {
    terminated: {
      exitCode: 0,
      reason: 'Completed',
      startedAt: '2026-12-01T10:00:05Z',
      finishedAt: '2026-12-01T10:01:00Z',
    },
  });
  const failed = status(stopped(0, 137));
  assert.equal(failed.phase, 'Failed');
  assert.equal(failed.containerStatuses?.[1]?.state?.terminated?.reason, 'Error');
  assert.equal(failed.containerStatuses?.[1]?.state?.terminated?.message, 'OutOfMemoryError');
});

test('a task that failed to start: Failed, containers StartError with ECS reason', () => {
  const s = status({
    lastStatus: 'STOPPED',
    stopCode: 'TaskFailedToStart',
    stoppedReason: 'CannotPullContainerError: pull image manifest has been retried 5 time(s)',
    containers: [{ name: 'app', lastStatus: 'STOPPED' }],
  });
  assert.equal(s.phase, 'Failed');
  assert.match(s.message ?? '', /TaskFailedToStart: CannotPullContainerError/);
  assert.equal(s.containerStatuses?.[0]?.state?.terminated?.reason, 'StartError');
  assert.equal(s.containerStatuses?.[0]?.state?.terminated?.exitCode, 128);
});

test('a stopped task whose containers ECS did not report, after it ran: ContainerStatusUnknown, Failed', () => {
  const s = status({ lastStatus: 'STOPPED', stoppedReason: 'gone' }, [], { ...times, runningAt: new Date() });
  assert.equal(s.phase, 'Failed');
  assert.equal(s.containerStatuses?.[0]?.state?.terminated?.reason, 'ContainerStatusUnknown');
});
