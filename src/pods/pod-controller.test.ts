/**
 * The pod controller in-process, against an in-memory API server and the mock provider (Go's
 * node/pod_test.go and lifecycle_test.go play this part there). The e2e suite proves the same
 * against the real control plane; these tests reach the state machine's corners in milliseconds.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Pod, PodStatus } from 'kubernetes-types/core/v1.js';
import { FakeKubeApi } from '../../test/support/fake-kube-api.ts';
import { until } from '../../test/support/wait.ts';
import type { EventRecorder } from '../kube/events.ts';
import { ResourceCache } from '../kube/resource-cache.ts';
import { ConfigMaps, Pods } from '../kube/resources.ts';
import { silentLogger } from '../log.ts';
import type { PodLifecycleHandler, Provider, ProviderCallOptions } from '../provider/contracts.ts';
import { CREATE_ERROR_ANNOTATION, MockProvider } from '../providers/mock/mock-provider.ts';
import { ManualClock } from '../util/clock.ts';
import { PodController, type PodControllerOptions } from './pod-controller.ts';

const NODE = 'vk-test';

interface Harness {
  api: FakeKubeApi;
  mock: MockProvider;
  controller: PodController;
  events: { reason: string; type: string; pod: string }[];
  /** Work done by each queue ('pods', 'pod-status'). */
  worked: Map<string, number>;
  /** Pushes a report as the provider would (through the callback the controller registered). */
  notify(pod: Pod): void;
  stop(): Promise<void>;
}

function pod(
  name: string,
  extra: { annotations?: Record<string, string>; grace?: number; restartPolicy?: string } = {},
): Pod {
  return {
    metadata: { name, namespace: 'default', ...(extra.annotations ? { annotations: extra.annotations } : {}) },
    spec: {
      nodeName: NODE,
      containers: [{ name: 'app', image: 'app:1' }],
      ...(extra.grace !== undefined ? { terminationGracePeriodSeconds: extra.grace } : {}),
      ...(extra.restartPolicy ? { restartPolicy: extra.restartPolicy } : {}),
    },
  } as Pod;
}

function newMock(): MockProvider {
  return new MockProvider({ nodeName: NODE, config: { cpu: '4', memory: '8Gi', pods: '100', others: {} } });
}

/** Starts a controller; `provider` defaults to the mock itself. */
async function start(
  options: {
    api?: FakeKubeApi;
    mock?: MockProvider;
    provider?: (mock: MockProvider) => Provider;
    controller?: Partial<PodControllerOptions>;
  } = {},
): Promise<Harness> {
  const api = options.api ?? new FakeKubeApi();
  const mock = options.mock ?? newMock();
  const events: Harness['events'] = [];
  const recorder: EventRecorder = {
    record: (object, type, reason) => events.push({ reason, type, pod: object.metadata?.name ?? '' }),
  };
  const worked = new Map<string, number>();
  const resources = new ResourceCache({ client: api, logger: silentLogger() });
  const provider = options.provider ? options.provider(mock) : mock;
  let notify: (pod: Pod) => void = () => {
    throw new Error('the provider does not push status');
  };
  if (provider.notifyPods) {
    const register = provider.notifyPods.bind(provider);
    provider.notifyPods = (callback) => {
      notify = callback;
      register(callback);
    };
  }
  const controller = new PodController({
    client: api,
    nodeName: NODE,
    provider,
    resources,
    node: () => ({ hostIPs: ['10.0.0.1'], allocatable: { cpu: '4', memory: '8Gi' } }),
    events: recorder,
    retryBaseDelayMs: 50,
    resyncPeriodMs: 3_600_000,
    queueMetrics: { worked: (queue) => worked.set(queue, (worked.get(queue) ?? 0) + 1) },
    ...options.controller,
  });
  const stop = new AbortController();
  resources.start(stop.signal);
  const running = controller.run(stop.signal);
  await controller.ready;
  return {
    api,
    mock,
    controller,
    events,
    worked,
    notify: (p) => notify(p),
    stop: async () => {
      stop.abort();
      await running;
    },
  };
}

function apiPod(api: FakeKubeApi, name: string): Pod | undefined {
  return api.peek(Pods, { namespace: 'default', name });
}

function isRunning(api: FakeKubeApi, name: string, uid?: string): boolean {
  const p = apiPod(api, name);
  return p?.status?.phase === 'Running' && (uid === undefined || p.metadata?.uid === uid);
}

function statusPatches(api: FakeKubeApi, name: string): number {
  return api.requests.filter((r) => r.verb === 'patch' && r.resource === 'pods/status' && r.key === `default/${name}`)
    .length;
}

const calls = (mock: MockProvider, method: string, name: string) =>
  mock.calls.filter((c) => c.method === method && c.pod === `default/${name}`).length;

test('a pod bound to the node is created once, written Running once, and the echo of that write costs no sync', async (t) => {
  const h = await start();
  t.after(() => h.stop());
  await h.api.create(Pods, pod('web'));
  await until(() => isRunning(h.api, 'web'), 'web Running');
  const written = apiPod(h.api, 'web');
  assert.equal(written?.status?.hostIP, '1.2.3.4');
  assert.deepEqual(
    written?.status?.conditions?.map((c) => `${c.type}=${c.status}`),
    ['PodScheduled=True', 'PodReadyToStartContainers=True', 'Initialized=True', 'ContainersReady=True', 'Ready=True'],
  );
  // The echo arrives, is looked at, and writes nothing more.
  await until(() => h.controller.pod('default', 'web')?.status?.phase === 'Running', 'the echo in the cache');
  await until(() => h.controller.queue.length === 0 && h.controller.statusQueue.length === 0, 'queues drained');
  assert.equal(calls(h.mock, 'createPod', 'web'), 1);
  assert.equal(statusPatches(h.api, 'web'), 1);
  // A status-only update of a pod the provider is up to date with (what an echo is) skips the
  // provider-bound sync queue and goes to the status manager.
  const syncs = h.worked.get('pods') ?? 0;
  const looks = h.worked.get('pod-status') ?? 0;
  await h.api.patch(
    Pods,
    { namespace: 'default', name: 'web', subresource: 'status' },
    {
      status: { conditions: [{ type: 'example.com/Checked', status: 'True' }] },
    },
    'strategic',
  );
  await until(() => (h.worked.get('pod-status') ?? 0) > looks, 'the update looked at');
  assert.equal(h.worked.get('pods') ?? 0, syncs, 'no provider-bound sync for a status-only update');
  assert.equal(statusPatches(h.api, 'web'), 2, 'only the other writer’s patch');
  assert.deepEqual(
    h.events.map((e) => e.reason),
    ['ProviderCreateSuccess'],
  );
});

test('a report that arrives before the echo of our last write is not written from the stale cache', async (t) => {
  const h = await start();
  t.after(() => h.stop());
  await h.api.create(Pods, pod('slow-echo'));
  await until(() => isRunning(h.api, 'slow-echo'), 'Running');
  const uid = apiPod(h.api, 'slow-echo')?.metadata?.uid ?? '';
  await until(() => (h.worked.get('pod-status') ?? 0) >= 2, 'the echo examined');
  const before = statusPatches(h.api, 'slow-echo');
  // The watch lags: two reports in a row, the second while the first write's echo is held back.
  h.api.pauseWatches();
  const report = (ready: boolean): Pod => ({
    metadata: { name: 'slow-echo', namespace: 'default', uid },
    status: {
      phase: 'Running',
      containerStatuses: [
        {
          name: 'app',
          image: 'app:1',
          imageID: '',
          ready,
          restartCount: ready ? 0 : 1,
          state: { running: { startedAt: '2026-12-01T00:00:00Z' } },
        },
      ],
    } as PodStatus,
  });
  h.notify(report(false));
  await until(() => statusPatches(h.api, 'slow-echo') === before + 1, 'the first write');
  h.notify(report(true));
  await until(() => (h.worked.get('pod-status') ?? 0) >= 4, 'the second report examined');
  assert.equal(statusPatches(h.api, 'slow-echo'), before + 1, 'nothing written while the cache is behind');
  h.api.resumeWatches();
  await until(() => statusPatches(h.api, 'slow-echo') === before + 2, 'the second write after the echo');
  assert.equal(apiPod(h.api, 'slow-echo')?.status?.containerStatuses?.[0]?.ready, true);
});

test('a pod re-created under the same name: the old one leaves the provider before the new one is created', async (t) => {
  let release: () => void = () => {};
  const gate = new Promise<void>((resolve) => {
    release = resolve;
  });
  // One sync worker, held by a pod whose createPod waits: the re-creation is seen in one sync.
  const h = await start({
    controller: { workers: 1 },
    provider: (mock) =>
      new Proxy(mock, {
        get(target, property, receiver) {
          if (property === 'createPod') {
            return async (p: Pod, o: ProviderCallOptions) => {
              if (p.metadata?.name === 'blocker') await gate;
              return target.createPod(p, o);
            };
          }
          const value = Reflect.get(target, property, receiver);
          return typeof value === 'function' ? value.bind(target) : value;
        },
      }),
  });
  t.after(() => h.stop());
  await h.api.create(Pods, pod('same'));
  await until(() => isRunning(h.api, 'same'), 'same Running');
  const oldUid = apiPod(h.api, 'same')?.metadata?.uid;
  await h.api.create(Pods, pod('blocker'));
  await until(() => calls(h.mock, 'createPod', 'blocker') === 0 && h.controller.queue.processing === 1, 'blocker held');
  h.api.drop(Pods, { namespace: 'default', name: 'same' });
  const recreated = await h.api.create(Pods, pod('same'));
  assert.notEqual(recreated.metadata?.uid, oldUid);
  await until(
    () => h.controller.pod('default', 'same')?.metadata?.uid === recreated.metadata?.uid,
    'the cache has the new pod',
  );
  release();
  await until(() => isRunning(h.api, 'same', recreated.metadata?.uid), 'the new pod Running');
  const order = h.mock.calls.filter((c) => c.pod === 'default/same').map((c) => c.method);
  assert.deepEqual(order, ['createPod', 'deletePod', 'createPod']);
  assert.equal(h.mock.pods.get('default/same')?.metadata?.uid, recreated.metadata?.uid);
});

test('a failing create is retried with backoff; our own status writes do not cut the backoff short, a change does', async (t) => {
  const clock = new ManualClock();
  const h = await start({ controller: { clock, failureThreshold: 1, retryBaseDelayMs: 10_000 } });
  t.after(() => h.stop());
  await h.api.create(Pods, pod('broken', { annotations: { [CREATE_ERROR_ANNOTATION]: 'no capacity in zone a' } }));
  await until(() => apiPod(h.api, 'broken')?.status?.reason === 'ProviderFailed', 'ProviderFailed written');
  const written = apiPod(h.api, 'broken');
  assert.equal(written?.status?.phase, 'Pending');
  assert.equal(written?.status?.message, 'no capacity in zone a');
  assert.equal(written?.status?.containerStatuses?.[0]?.state?.waiting?.reason, 'ProviderFailed');
  // The echo of that write (and any resync) must not call the provider again before the backoff.
  const version = written?.metadata?.resourceVersion;
  await until(
    () => h.controller.pod('default', 'broken')?.metadata?.resourceVersion === version,
    'the echo in the cache',
  );
  await until(() => h.controller.queue.length === 0 && h.controller.statusQueue.length === 0, 'queues drained');
  assert.equal(calls(h.mock, 'createPod', 'broken'), 1);
  clock.advance(10_000);
  await until(() => calls(h.mock, 'createPod', 'broken') === 2, 'the retry after the backoff');
  // A change to the pod is news: it is tried at once, without waiting for the (now doubled) backoff.
  const current = apiPod(h.api, 'broken') as Pod;
  await h.api.replace(Pods, { ...current, metadata: { ...current.metadata, annotations: {} } });
  await until(() => isRunning(h.api, 'broken'), 'Running once fixed');
  assert.equal(calls(h.mock, 'createPod', 'broken'), 3);
  assert.deepEqual(
    h.events.map((e) => e.reason),
    ['ProviderCreateFailed', 'ProviderCreateFailed', 'ProviderCreateSuccess'],
  );
});

test('with restartPolicy Never a pod the provider refuses fails at the threshold', async (t) => {
  const h = await start({ controller: { failureThreshold: 2, retryBaseDelayMs: 5 } });
  t.after(() => h.stop());
  await h.api.create(
    Pods,
    pod('job', { restartPolicy: 'Never', annotations: { [CREATE_ERROR_ANNOTATION]: 'image not allowed' } }),
  );
  await until(() => apiPod(h.api, 'job')?.status?.phase === 'Failed', 'Failed');
  assert.equal(apiPod(h.api, 'job')?.status?.reason, 'ProviderFailed');
  assert.equal(calls(h.mock, 'createPod', 'job'), 2);
});

test('a pod started by an earlier run is not failed when the provider cannot take it: it may still run there', async (t) => {
  const h = await start({ controller: { failureThreshold: 2, retryBaseDelayMs: 5 } });
  t.after(() => h.stop());
  // What a restart finds while the backend is down: the API shows the pod Running, the provider
  // (which could not list its pods at start) does not have it, and creating it fails.
  const started: Pod = {
    ...pod('job', { restartPolicy: 'Never', annotations: { [CREATE_ERROR_ANNOTATION]: 'backend unreachable' } }),
    status: {
      phase: 'Running',
      containerStatuses: [
        { name: 'main', image: 'nginx', imageID: '', ready: true, restartCount: 0, state: { running: {} } },
      ],
    },
  };
  await h.api.create(Pods, started);
  await until(() => calls(h.mock, 'createPod', 'job') >= 4, 'createPod retried past the threshold');
  assert.equal(apiPod(h.api, 'job')?.status?.phase, 'Running');
  assert.notEqual(apiPod(h.api, 'job')?.status?.reason, 'ProviderFailed');
  assert.ok(
    h.events.filter((e) => e.pod === 'job' && e.reason === 'ProviderCreateFailed').length >= 4,
    'each failure is still an event',
  );
});

test('a graceful delete waits for the provider; one that never finishes leaves the API after the grace period and the slack', async (t) => {
  const clock = new ManualClock(Date.now());
  const api = new FakeKubeApi();
  api.now = () => clock.now();
  // A provider that accepts deletePod and never stops the pod.
  const h = await start({
    api,
    controller: { clock, terminationSlackMs: 30_000 },
    provider: (mock) =>
      new Proxy(mock, {
        get(target, property, receiver) {
          if (property === 'deletePod') return async () => {};
          const value = Reflect.get(target, property, receiver);
          return typeof value === 'function' ? value.bind(target) : value;
        },
      }),
  });
  t.after(() => h.stop());
  await api.create(Pods, pod('stuck', { grace: 10 }));
  await until(() => isRunning(api, 'stuck'), 'Running');
  await api.delete(Pods, { namespace: 'default', name: 'stuck' });
  await until(() => h.controller.pod('default', 'stuck')?.metadata?.deletionTimestamp !== undefined, 'terminating');
  // Up to the deadline (deletionTimestamp, which is now + grace, plus the slack) the pod stays.
  for (let elapsed = 0; elapsed < 39_000; elapsed += 1_000) {
    clock.advance(1_000);
    await new Promise((resolve) => setImmediate(resolve));
  }
  assert.ok(apiPod(api, 'stuck'), 'still in the API before the deadline');
  assert.equal(api.count('delete', 'pods'), 1, 'only the user’s delete so far');
  clock.advance(2_000);
  await until(() => apiPod(api, 'stuck') === undefined, 'removed after the deadline');
  const removal = api.requests.filter((r) => r.verb === 'delete').at(-1)?.body as { gracePeriodSeconds?: number };
  assert.equal(removal.gracePeriodSeconds, 0);
});

test('a provider that terminates the pod has it removed from the API at once', async (t) => {
  const h = await start();
  t.after(() => h.stop());
  await h.api.create(Pods, pod('quick'));
  await until(() => isRunning(h.api, 'quick'), 'Running');
  await h.api.delete(Pods, { namespace: 'default', name: 'quick' });
  await until(() => apiPod(h.api, 'quick') === undefined, 'gone from the API');
  assert.equal(calls(h.mock, 'deletePod', 'quick'), 1);
  assert.equal(h.mock.pods.has('default/quick'), false);
  assert.ok(h.events.some((e) => e.reason === 'ProviderDeleteSuccess'));
});

test('at start, running provider pods are adopted, orphans and stale copies are deleted', async (t) => {
  const api = new FakeKubeApi();
  const mock = newMock();
  const signal = new AbortController().signal;
  const kept = await api.create(Pods, pod('kept'));
  const stale = await api.create(Pods, pod('stale'));
  // The provider runs `kept` (same uid), an `orphan` the API no longer has, and an older `stale`.
  await mock.createPod({ ...kept, metadata: { ...kept.metadata } }, { signal });
  await mock.createPod({ ...pod('orphan'), metadata: { ...pod('orphan').metadata, uid: 'uid-gone' } }, { signal });
  await mock.createPod({ ...stale, metadata: { ...stale.metadata, uid: 'uid-older' } }, { signal });
  mock.calls.length = 0;
  const h = await start({ api, mock });
  t.after(() => h.stop());
  await until(() => isRunning(api, 'kept') && isRunning(api, 'stale', stale.metadata?.uid), 'both Running');
  assert.equal(calls(mock, 'createPod', 'kept'), 0, 'adopted, not created again');
  assert.equal(calls(mock, 'updatePod', 'kept'), 0, 'adopted as it is');
  assert.equal(calls(mock, 'deletePod', 'orphan'), 1);
  assert.deepEqual(
    mock.calls.filter((c) => c.pod === 'default/stale').map((c) => c.method),
    ['deletePod', 'createPod'],
  );
  assert.equal(mock.pods.get('default/stale')?.metadata?.uid, stale.metadata?.uid);
  assert.equal(mock.pods.has('default/orphan'), false);
});

/** The mock without notifyPods: a provider the controller has to poll. Pods named in `lost` it no longer finds. */
function polled(mock: MockProvider, lost: Set<string>): PodLifecycleHandler {
  return {
    createPod: (p, o) => mock.createPod(p, o),
    updatePod: (p, o) => mock.updatePod(p, o),
    deletePod: (p, o) => mock.deletePod(p, o),
    getPod: (n, name, o) => mock.getPod(n, name, o),
    getPodStatus: async (n, name, o) => (lost.has(name) ? undefined : mock.getPodStatus(n, name, o)),
    getPods: (o) => mock.getPods(o),
  };
}

test('a provider without notifyPods is polled: Running, deleted, and a lost pod reported Failed', async (t) => {
  const lost = new Set<string>();
  const h = await start({ provider: (mock) => polled(mock, lost), controller: { statusPollIntervalMs: 20 } });
  t.after(() => h.stop());
  await h.api.create(Pods, pod('polled-a'));
  await h.api.create(Pods, pod('polled-b'));
  await until(() => isRunning(h.api, 'polled-a') && isRunning(h.api, 'polled-b'), 'both Running');
  await h.api.delete(Pods, { namespace: 'default', name: 'polled-a' });
  await until(() => apiPod(h.api, 'polled-a') === undefined, 'polled-a removed once the provider lets it go');
  // The provider loses polled-b behind our back: it is reported as the Go implementation does.
  lost.add('polled-b');
  await until(() => apiPod(h.api, 'polled-b')?.status?.phase === 'Failed', 'polled-b Failed');
  const status = apiPod(h.api, 'polled-b')?.status;
  assert.equal(status?.reason, 'NotFound');
  assert.equal(status?.containerStatuses?.[0]?.state?.terminated?.exitCode, 137);
});

test('a missing ConfigMap holds the pod in CreateContainerConfigError until it appears', async (t) => {
  const h = await start();
  t.after(() => h.stop());
  const needy = pod('needy');
  needy.spec = {
    ...needy.spec,
    containers: [
      {
        name: 'app',
        image: 'app:1',
        env: [{ name: 'MODE', valueFrom: { configMapKeyRef: { name: 'settings', key: 'mode' } } }],
      },
    ],
  };
  await h.api.create(Pods, needy);
  await until(
    () =>
      apiPod(h.api, 'needy')?.status?.containerStatuses?.[0]?.state?.waiting?.reason === 'CreateContainerConfigError',
    'CreateContainerConfigError',
  );
  assert.equal(calls(h.mock, 'createPod', 'needy'), 0);
  await h.api.create(ConfigMaps, { metadata: { name: 'settings', namespace: 'default' }, data: { mode: 'fast' } });
  await until(() => isRunning(h.api, 'needy'), 'Running once the ConfigMap exists');
  const env = h.mock.pods.get('default/needy')?.spec?.containers[0]?.env;
  assert.deepEqual(env, [{ name: 'MODE', value: 'fast' }]);
});

test('a provider that resolves environments itself gets the pod’s env as the API has it, and no config wait', async (t) => {
  const received: Pod[] = [];
  const h = await start({
    provider: (mock) => {
      const create = mock.createPod.bind(mock);
      return Object.assign(mock, {
        resolvesEnvironment: () => true,
        createPod: (p: Pod, o: ProviderCallOptions) => {
          received.push(p);
          return create(p, o);
        },
      });
    },
  });
  t.after(() => h.stop());
  const referring = pod('referring');
  const env = [{ name: 'MODE', valueFrom: { secretKeyRef: { name: 'not-yet', key: 'mode' } } }];
  const envFrom = [{ configMapRef: { name: 'absent-too' } }];
  referring.spec = { ...referring.spec, containers: [{ name: 'app', image: 'app:1', env, envFrom }] };
  await h.api.create(Pods, referring);
  await until(() => isRunning(h.api, 'referring'), 'Running without the Secret');
  assert.equal(received.length, 1);
  const container = received[0]?.spec?.containers[0];
  assert.deepEqual(container?.env, env);
  assert.deepEqual(container?.envFrom, envFrom);
});

test('an ephemeral container the provider cannot run is reported terminated, with one Warning event', async (t) => {
  const h = await start();
  t.after(() => h.stop());
  await h.api.create(Pods, pod('debugged'));
  await until(() => isRunning(h.api, 'debugged'), 'debugged Running');
  // What `kubectl debug` does: the ephemeralcontainers subresource adds one to the spec.
  await h.api.patch(
    Pods,
    { namespace: 'default', name: 'debugged', subresource: 'ephemeralcontainers' },
    { spec: { ephemeralContainers: [{ name: 'debugger', image: 'busybox', stdin: true, tty: true }] } },
    'strategic',
  );
  await until(
    () => apiPod(h.api, 'debugged')?.status?.ephemeralContainerStatuses?.[0]?.state?.terminated !== undefined,
    'the ephemeral container reported',
  );
  const status = apiPod(h.api, 'debugged')?.status?.ephemeralContainerStatuses?.[0];
  assert.equal(status?.name, 'debugger');
  assert.equal(status?.state?.terminated?.reason, 'EphemeralContainersNotSupported');
  assert.match(status?.state?.terminated?.message ?? '', /cannot run ephemeral containers/);
  assert.equal(apiPod(h.api, 'debugged')?.status?.phase, 'Running', 'the pod itself runs on');
  await until(() => h.events.some((e) => e.reason === 'EphemeralContainersNotSupported'), 'the Warning event');
  const warnings = h.events.filter((e) => e.reason === 'EphemeralContainersNotSupported');
  assert.deepEqual(warnings, [{ reason: 'EphemeralContainersNotSupported', type: 'Warning', pod: 'debugged' }]);
});

test('a provider that runs ephemeral containers reports them itself; the controller adds nothing', async (t) => {
  const h = await start({
    provider: (mock) => Object.assign(mock, { runsEphemeralContainers: () => true }),
  });
  t.after(() => h.stop());
  await h.api.create(Pods, pod('debugged'));
  await until(() => isRunning(h.api, 'debugged'), 'debugged Running');
  await h.api.patch(
    Pods,
    { namespace: 'default', name: 'debugged', subresource: 'ephemeralcontainers' },
    { spec: { ephemeralContainers: [{ name: 'debugger', image: 'busybox' }] } },
    'strategic',
  );
  await until(() => calls(h.mock, 'updatePod', 'debugged') === 1, 'updatePod with the ephemeral container');
  await until(() => (h.worked.get('pod-status') ?? 0) >= 3, 'the status looked at again');
  assert.equal(apiPod(h.api, 'debugged')?.status?.ephemeralContainerStatuses, undefined);
  assert.ok(!h.events.some((e) => e.reason === 'EphemeralContainersNotSupported'));
});
