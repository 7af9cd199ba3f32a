import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import { test } from 'node:test';
import type { Pod, PodStatus } from 'kubernetes-types/core/v1.js';
import { until } from '../../../test/support/wait.ts';
import { silentLogger } from '../../log.ts';
import { PODMAN_DEFAULTS } from './config.ts';
import type { ContainerCreateSpec } from './container-spec.ts';
import { LABEL_CONTAINER } from './labels.ts';
import { PodRuntime } from './pod-runtime.ts';
import type { ContainerEvent, ContainerInfo, ContainerUsage, LogLine, PodInfo, PodmanBackend } from './runtime-api.ts';

/**
 * A Podman that runs nothing: each container "runs" a script of exit codes (one per start; a
 * missing entry means it keeps running) and the test ends runs with `exit()`.
 */
class FakePodman implements PodmanBackend {
  containers = new Map<string, ContainerInfo & { spec: ContainerCreateSpec; starts: number }>();
  scripts = new Map<string, number[]>();
  onExit: (info: ContainerInfo) => void = () => {};
  pulls: string[] = [];
  missingImages = new Set<string>();
  failPull: string | undefined;
  stopped: { name: string; timeout: number }[] = [];
  #next = 1;
  #runs = new Map<string, number>();

  async ping() {}
  async hostInfo() {
    return { cpus: 2, memoryBytes: 2 ** 33, kernel: 'test', os: 'linux', version: '4.3.1', cgroupControllers: [] };
  }
  async imageExists(reference: string) {
    return !this.missingImages.has(reference);
  }
  async pullImage(reference: string) {
    this.pulls.push(reference);
    if (this.failPull) throw new Error(this.failPull);
    this.missingImages.delete(reference);
  }
  async imageConfig(_reference: string) {
    return { id: 'sha256:image', entrypoint: ['/bin/sh'], cmd: ['-c', 'true'], workingDir: '/', user: '' };
  }
  async createPod() {
    return 'pod-id';
  }
  async startPod() {}
  async removePod() {}
  async inspectPod(name: string): Promise<PodInfo> {
    return { id: 'pod-id', name, labels: {}, ips: ['10.88.0.7'], containers: [] };
  }
  async listPods() {
    return [];
  }
  async createContainer(spec: ContainerCreateSpec) {
    const id = `c${this.#next++}`;
    this.containers.set(id, {
      id,
      name: spec.name,
      status: 'created',
      running: false,
      exitCode: 0,
      oomKilled: false,
      startedAt: undefined,
      finishedAt: undefined,
      error: '',
      image: spec.image,
      imageID: 'sha256:image',
      labels: spec.labels,
      spec,
      starts: 0,
    });
    return id;
  }
  async startContainer(id: string) {
    const c = this.#get(id);
    c.starts++;
    c.status = 'running';
    c.running = true;
    c.startedAt = new Date();
    // The script is per Kubernetes container: each start of any of its runs takes the next exit code.
    const name = c.labels[LABEL_CONTAINER] ?? '';
    const run = this.#runs.get(name) ?? 0;
    this.#runs.set(name, run + 1);
    const code = (this.scripts.get(name) ?? [])[run];
    if (code !== undefined) setImmediate(() => this.exit(id, code));
  }
  /** Ends the container's current run with `code`. */
  exit(id: string, code: number) {
    const c = this.#get(id);
    if (!c.running) return;
    c.running = false;
    c.status = 'exited';
    c.exitCode = code;
    c.finishedAt = new Date();
    this.onExit({ ...c });
  }
  async stopContainer(id: string, timeout: number) {
    this.stopped.push({ name: this.#get(id).labels[LABEL_CONTAINER] ?? '', timeout });
    this.exit(id, 143);
  }
  removed: string[] = [];
  async removeContainer(id: string) {
    this.removed.push(id);
  }
  async inspectContainer(id: string) {
    return { ...this.#get(id) };
  }
  async listContainers() {
    return [...this.containers.values()];
  }
  async exec() {
    return 0;
  }
  async attach() {}
  async *logs(): AsyncIterable<LogLine> {}
  async stats(): Promise<ContainerUsage[]> {
    return [];
  }
  async *events(): AsyncIterable<ContainerEvent> {}
  async connect(): Promise<Duplex> {
    throw new Error('no network here');
  }
  #get(id: string) {
    const c = this.containers.get(id);
    if (!c) throw new Error(`no container ${id}`);
    return c;
  }
  byName(name: string) {
    return [...this.containers.values()].find((c) => c.labels[LABEL_CONTAINER] === name);
  }
}

function pod(spec: Partial<NonNullable<Pod['spec']>>): Pod {
  return {
    metadata: { name: 'p', namespace: 'ns', uid: `uid-${Math.random().toString(16).slice(2)}` },
    spec: { containers: [{ name: 'app', image: 'img' }], ...spec },
  };
}

function runtimeFor(podman: FakePodman, p: Pod, cgroupControllers: string[] = []) {
  const statuses: PodStatus[] = [];
  const events: string[] = [];
  const runtime = new PodRuntime(p, {
    backend: podman,
    config: { ...PODMAN_DEFAULTS, stateDir: mkdtempSync(join(tmpdir(), 'vk-podman-')) },
    nodeName: 'node',
    volumeSources: () => ({
      getConfigMap: () => undefined,
      getSecret: () => undefined,
      serviceAccountToken: async () => 'token',
      downward: { nodeName: 'node', hostIPs: ['1.1.1.1'], podIPs: [] },
      nodeAllocatable: {},
    }),
    pullSecrets: () => [],
    events: () => (type, reason) => events.push(`${type} ${reason}`),
    notify: (updated) => statuses.push(updated.status as PodStatus),
    logger: silentLogger(),
    backoff: { initialMs: 20, maxMs: 80 },
    cgroupControllers: () => cgroupControllers,
  });
  podman.onExit = (info) => runtime.containerExited(info);
  return { runtime, statuses, events, latest: () => runtime.status() };
}

test('init containers run in order before the app, which then runs', async () => {
  const podman = new FakePodman();
  podman.scripts.set('init-a', [0]);
  podman.scripts.set('init-b', [0]);
  const { runtime, latest, events } = runtimeFor(
    podman,
    pod({
      initContainers: [
        { name: 'init-a', image: 'img' },
        { name: 'init-b', image: 'img' },
      ],
    }),
  );
  await runtime.start();
  await until(() => latest().phase === 'Running', 'Running');
  const starts = [...podman.containers.values()].map((c) => c.labels[LABEL_CONTAINER]);
  assert.deepEqual(starts, ['init-a', 'init-b', 'app']);
  const status = latest();
  assert.deepEqual(
    status.initContainerStatuses?.map((c) => c.state?.terminated?.reason),
    ['Completed', 'Completed'],
  );
  assert.equal(status.containerStatuses?.[0]?.ready, true);
  assert.equal(status.podIP, '10.88.0.7');
  assert.ok(events.includes('Normal Started'));
  await runtime.terminate(0);
});

test('restartPolicy Never: exit 0 is Succeeded, exit 3 Failed with the exit code', async () => {
  for (const [code, phase] of [
    [0, 'Succeeded'],
    [3, 'Failed'],
  ] as const) {
    const podman = new FakePodman();
    podman.scripts.set('app', [code]);
    const { runtime, latest } = runtimeFor(podman, pod({ restartPolicy: 'Never' }));
    await runtime.start();
    await until(() => latest().phase === phase, phase);
    assert.equal(latest().containerStatuses?.[0]?.state?.terminated?.exitCode, code);
    assert.equal(latest().containerStatuses?.[0]?.restartCount, 0);
  }
});

test('restartPolicy Always: a crashing container restarts with growing back-off (CrashLoopBackOff)', async () => {
  const podman = new FakePodman();
  podman.scripts.set('app', [1, 1, 1, 1]);
  const { runtime, latest, statuses } = runtimeFor(podman, pod({ restartPolicy: 'Always' }));
  await runtime.start();
  await until(
    () =>
      (latest().containerStatuses?.[0]?.restartCount ?? 0) >= 4 &&
      Boolean(latest().containerStatuses?.[0]?.state?.running),
    'four restarts',
  );
  const status = latest().containerStatuses?.[0];
  assert.equal(status?.lastState?.terminated?.exitCode, 1);
  assert.ok(statuses.some((s) => s.containerStatuses?.[0]?.state?.waiting?.reason === 'CrashLoopBackOff'));
  assert.equal(latest().phase, 'Running');
  // Each run is a container of its own, as for the kubelet; only the current and the previous run are kept.
  const runs = [...podman.containers.values()].filter((c) => c.labels[LABEL_CONTAINER] === 'app');
  assert.equal(runs.length, 5);
  assert.ok(runs.every((c) => c.starts === 1));
  assert.equal(status?.containerID, `podman://${runs[4]?.id}`);
  assert.equal(status?.lastState?.terminated?.containerID, `podman://${runs[3]?.id}`);
  await until(() => podman.removed.length === 3, 'the three older runs removed');
  assert.deepEqual(podman.removed, [runs[0]?.id, runs[1]?.id, runs[2]?.id]);
  await runtime.terminate(0);
});

test('OnFailure restarts a failed container but not a succeeded one', async () => {
  const podman = new FakePodman();
  podman.scripts.set('app', [2, 0]);
  const { runtime, latest } = runtimeFor(podman, pod({ restartPolicy: 'OnFailure' }));
  await runtime.start();
  await until(() => latest().phase === 'Succeeded', 'Succeeded');
  assert.equal(latest().containerStatuses?.[0]?.restartCount, 1);
});

test('a failing init container fails the pod with restartPolicy Never', async () => {
  const podman = new FakePodman();
  podman.scripts.set('setup', [5]);
  const { runtime, latest } = runtimeFor(
    podman,
    pod({ restartPolicy: 'Never', initContainers: [{ name: 'setup', image: 'img' }] }),
  );
  await runtime.start();
  await until(() => latest().phase === 'Failed', 'Failed');
  assert.equal(podman.byName('app'), undefined, 'the app container never started');
});

test('hostNetwork and persistent volumes are refused as invalid input before anything is created', async () => {
  for (const spec of [
    { hostNetwork: true },
    { volumes: [{ name: 'data', persistentVolumeClaim: { claimName: 'data' } }] },
  ] satisfies Partial<NonNullable<Pod['spec']>>[]) {
    const podman = new FakePodman();
    let podsCreated = 0;
    podman.createPod = async () => {
      podsCreated++;
      return 'pod-id';
    };
    const { runtime } = runtimeFor(podman, pod(spec));
    await assert.rejects(runtime.start(), (error: Error) => {
      assert.equal(error.name, 'InvalidInputError', error.message);
      assert.match(error.message, /not supported by the podman provider/);
      return true;
    });
    assert.equal(podsCreated, 0, JSON.stringify(spec));
  }
});

test('limits the host cannot enforce are left out with a warning; the container still runs', async () => {
  const podman = new FakePodman();
  const limited = pod({
    containers: [
      { name: 'app', image: 'img', resources: { limits: { cpu: '500m', memory: '64Mi' }, requests: { cpu: '250m' } } },
    ],
  });
  const { runtime, events, latest } = runtimeFor(podman, limited, ['cpu', 'cpuacct', 'pids']);
  await runtime.start();
  await until(() => latest().phase === 'Running', 'Running');
  const spec = podman.byName('app')?.spec;
  assert.deepEqual(spec?.resource_limits, { cpu: { period: 100_000, quota: 50_000, shares: 256 } });
  assert.ok(events.includes('Warning ResourceLimitsNotEnforced'), events.join(', '));
});

test('an image that cannot be pulled shows ErrImagePull, then ImagePullBackOff', async () => {
  const podman = new FakePodman();
  podman.missingImages.add('img');
  podman.failPull = 'unauthorized: authentication required';
  const { runtime, statuses } = runtimeFor(podman, pod({}));
  await runtime.start();
  await until(
    () => statuses.some((s) => s.containerStatuses?.[0]?.state?.waiting?.reason === 'ImagePullBackOff'),
    'ImagePullBackOff',
  );
  const pulled = statuses.find((s) => s.containerStatuses?.[0]?.state?.waiting?.reason === 'ErrImagePull');
  assert.match(pulled?.containerStatuses?.[0]?.state?.waiting?.message ?? '', /unauthorized: authentication required/);
  await runtime.terminate(0);
});

test('termination stops running containers with the remaining grace period and reports them terminated', async () => {
  const podman = new FakePodman();
  const { runtime, latest } = runtimeFor(
    podman,
    pod({
      containers: [
        { name: 'a', image: 'img' },
        { name: 'b', image: 'img' },
      ],
    }),
  );
  await runtime.start();
  await until(
    () => latest().phase === 'Running' && (latest().containerStatuses ?? []).every((c) => c.ready),
    'both running',
  );
  await runtime.terminate(5);
  assert.deepEqual(podman.stopped.map((s) => s.name).sort(), ['a', 'b']);
  assert.ok(podman.stopped.every((s) => s.timeout >= 4 && s.timeout <= 5));
  assert.ok(latest().containerStatuses?.every((c) => c.state?.terminated?.exitCode === 143));
  assert.ok(runtime.finished);
});
