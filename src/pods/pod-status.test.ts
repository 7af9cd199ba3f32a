import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Pod, PodStatus } from 'kubernetes-types/core/v1.js';
import {
  configErrorStatus,
  desiredPodStatus,
  isProviderTerminal,
  podStatusPatch,
  providerFailedStatus,
  vanishedStatus,
} from './pod-status.ts';

const T0 = '2026-01-01T00:00:00Z';
const T1 = '2026-01-01T00:01:00Z';

function pod(status?: PodStatus, restartPolicy = 'Always'): Pod {
  return {
    metadata: { name: 'p', namespace: 'ns', uid: 'uid-1' },
    spec: {
      restartPolicy,
      containers: [
        { name: 'a', image: 'img-a' },
        { name: 'b', image: 'img-b' },
      ],
    },
    ...(status ? { status } : {}),
  };
}

const running: PodStatus = {
  phase: 'Running',
  podIP: '10.0.0.5',
  containerStatuses: [
    { name: 'b', image: 'img-b', imageID: '', ready: true, restartCount: 0, state: { running: { startedAt: T0 } } },
    { name: 'a', image: 'img-a', imageID: '', ready: true, restartCount: 0, state: { running: { startedAt: T0 } } },
  ],
};

test('the desired status completes the provider report: host IPs, pod IPs, start time, conditions, order', () => {
  const desired = desiredPodStatus(pod(), running, { hostIPs: ['192.168.1.2', 'fd00::2'], now: T1 });
  assert.equal(desired.hostIP, '192.168.1.2');
  assert.deepEqual(desired.hostIPs, [{ ip: '192.168.1.2' }, { ip: 'fd00::2' }]);
  assert.deepEqual(desired.podIPs, [{ ip: '10.0.0.5' }]);
  assert.equal(desired.startTime, T1);
  assert.deepEqual(
    desired.containerStatuses?.map((c) => c.name),
    ['a', 'b'],
    'spec order',
  );
  const byType = Object.fromEntries((desired.conditions ?? []).map((c) => [c.type, c.status]));
  assert.deepEqual(byType, {
    PodScheduled: 'True',
    PodReadyToStartContainers: 'True',
    Initialized: 'True',
    ContainersReady: 'True',
    Ready: 'True',
  });
});

test('an unchanged report yields no patch; a changed one only the fields that changed', () => {
  const context = { hostIPs: ['192.168.1.2'], now: T1 };
  const scheduled = { type: 'PodScheduled', status: 'True', lastTransitionTime: T0 };
  const first = desiredPodStatus(pod({ phase: 'Pending', conditions: [scheduled] }), running, context);
  // What the API holds after the patch: ours merged with the scheduler's condition.
  const api = pod({ ...first, conditions: [scheduled, ...(first.conditions ?? [])] });
  // Later, same report: transition times are kept, so nothing to write.
  assert.equal(
    podStatusPatch(api, desiredPodStatus(api, running, { ...context, now: '2026-01-01T00:05:00Z' })),
    undefined,
  );
  // Container b becomes unready.
  const changed: PodStatus = {
    ...running,
    containerStatuses: running.containerStatuses?.map((c) => (c.name === 'b' ? { ...c, ready: false } : c)),
  };
  const patch = podStatusPatch(api, desiredPodStatus(api, changed, { ...context, now: '2026-01-01T00:06:00Z' })) as {
    metadata: { uid: string };
    status: Record<string, unknown> & {
      conditions: { type: string; status: string; lastTransitionTime: string; message: string }[];
    };
  };
  assert.equal(patch.metadata.uid, 'uid-1');
  assert.deepEqual(Object.keys(patch.status).sort(), ['conditions', 'containerStatuses']);
  assert.deepEqual(
    patch.status.conditions.map((c) => [c.type, c.status]),
    [
      ['ContainersReady', 'False'],
      ['Ready', 'False'],
    ],
  );
  assert.equal(patch.status.conditions[0]?.lastTransitionTime, '2026-01-01T00:06:00Z');
  assert.match(patch.status.conditions[0]?.message ?? '', /containers with unready status: \[b\]/);
});

test('conditions of other owners are left alone, and a vanished reason is nulled', () => {
  const api = pod({
    phase: 'Pending',
    reason: 'ProviderFailed',
    message: 'boom',
    conditions: [
      { type: 'PodScheduled', status: 'True', lastTransitionTime: T0 },
      { type: 'DisruptionTarget', status: 'True', reason: 'EvictionByEvictionAPI', lastTransitionTime: T0 },
    ],
  });
  const patch = podStatusPatch(api, desiredPodStatus(api, running, { hostIPs: ['1.1.1.1'], now: T1 })) as {
    status: Record<string, unknown> & { conditions: { type: string }[] };
  };
  assert.equal(patch.status.reason, null);
  assert.equal(patch.status.message, null);
  const types = patch.status.conditions.map((c) => c.type);
  assert.ok(!types.includes('DisruptionTarget'));
  assert.ok(!types.includes('PodScheduled'), 'the scheduler owns an existing PodScheduled');
});

test('IP lists are replaced, not merged, when they change', () => {
  const api = pod({ ...running, hostIP: '127.0.0.1', hostIPs: [{ ip: '127.0.0.1' }] });
  const patch = podStatusPatch(
    api,
    desiredPodStatus(api, { ...running, hostIP: '1.2.3.4' }, { hostIPs: ['127.0.0.1'] }),
  ) as {
    status: { hostIPs: unknown[] };
  };
  assert.deepEqual(patch.status.hostIPs, [{ $patch: 'replace' }, { ip: '1.2.3.4' }]);
});

test('synthesised statuses: config error, provider failure, a pod that vanished', () => {
  const context = { hostIPs: ['1.1.1.1'], now: T1 };
  const config = configErrorStatus(pod(), 'CreateContainerConfigError', 'configmap "x" not found', context);
  assert.equal(config.phase, 'Pending');
  assert.deepEqual(
    config.containerStatuses?.map((c) => c.state?.waiting?.reason),
    ['CreateContainerConfigError', 'CreateContainerConfigError'],
  );
  assert.equal(providerFailedStatus(pod(), 'no quota', context).phase, 'Pending');
  const never = providerFailedStatus(pod(undefined, 'Never'), 'no quota', context);
  assert.equal(never.phase, 'Failed');
  assert.equal(never.reason, 'ProviderFailed');
  const gone = vanishedStatus(pod(running), context);
  assert.equal(gone.phase, 'Failed');
  assert.equal(gone.reason, 'NotFound');
  assert.deepEqual(
    gone.containerStatuses?.map((c) => c.state?.terminated?.exitCode),
    [137, 137],
  );
});

test('a provider report is terminal when the phase is, or when every container has terminated', () => {
  assert.equal(isProviderTerminal(undefined), false);
  assert.equal(isProviderTerminal({ phase: 'Succeeded' }), true);
  assert.equal(isProviderTerminal(running), false);
  const done: PodStatus = {
    phase: 'Running',
    containerStatuses: [
      { name: 'a', image: '', imageID: '', ready: false, restartCount: 0, state: { terminated: { exitCode: 0 } } },
    ],
  };
  assert.equal(isProviderTerminal(done), true);
});

test('a status that came back from the API in its own form yields no patch', () => {
  const desired = desiredPodStatus(pod(), running, { hostIPs: ['192.168.1.2'], now: T1 });
  // The API server sorts keys, adds `lastState: {}` and drops empty values.
  const roundTrip = JSON.parse(JSON.stringify(desired), (_key, value) => {
    if (value && typeof value === 'object' && !Array.isArray(value)) {
      const sorted: Record<string, unknown> = {};
      for (const key of Object.keys(value).sort()) if (value[key] !== '') sorted[key] = value[key];
      if ('restartCount' in sorted) sorted.lastState = {};
      return sorted;
    }
    return value;
  });
  assert.equal(
    podStatusPatch(pod(roundTrip), desiredPodStatus(pod(roundTrip), running, { hostIPs: [], now: T1 })),
    undefined,
  );
});
