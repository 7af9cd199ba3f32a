/**
 * PodmanProvider against a real Podman service (tools/podman), without a cluster: the provider is
 * driven through its contract as the pod controller drives it, and what it reports is checked
 * against what Podman did — logs per container run, OOM kills, liveness restarts, ephemeral
 * containers — and that it stops its background work when told to.
 */
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, type Readable, Writable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import type { Container, ContainerStatus, EphemeralContainer, Pod, PodStatus } from 'kubernetes-types/core/v1.js';
import { FakeKubeApi } from '../../../test/support/fake-kube-api.ts';
import {
  type PodmanTestEnvironment,
  podmanSkipReason,
  podmanTestEnvironment,
  waitFor,
} from '../../../tools/podman/testing.ts';
import { ResourceCache } from '../../kube/resource-cache.ts';
import { silentLogger } from '../../log.ts';
import type { AttachIO, ContainerLogOptions } from '../../provider/index.ts';
import { PODMAN_DEFAULTS } from './config.ts';
import { createPodmanProvider } from './index.ts';
import { LABEL_NODE } from './labels.ts';
import { ClientBackend } from './podman-backend.ts';
import { PodmanProvider } from './podman-provider.ts';

const runId = randomBytes(3).toString('hex');
const namespace = 'provider-test';
const call = () => ({ signal: AbortSignal.timeout(60_000) });

function sink(): { stream: Writable; text: () => string } {
  let text = '';
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      text += chunk.toString('utf8');
      done();
    },
  });
  return { stream, text: () => text };
}

async function readAll(stream: Readable): Promise<string> {
  let text = '';
  for await (const chunk of stream) text += String(chunk);
  return text;
}

describe('PodmanProvider against Podman', { skip: podmanSkipReason() }, () => {
  let env: PodmanTestEnvironment;
  let provider: PodmanProvider;
  const stop = new AbortController();
  const nodeName = `vkt-provider-${runId}`;
  const events: { pod: string; type: string; reason: string; message: string }[] = [];
  const reports: Pod[] = [];
  /** Checks run on each report, as the report arrives. */
  const onReport: ((pod: Pod) => void)[] = [];

  before(async () => {
    env = await podmanTestEnvironment();
    const api = new FakeKubeApi();
    const resources = new ResourceCache({ client: api });
    resources.start(stop.signal);
    provider = new PodmanProvider({
      backend: new ClientBackend(env.client),
      config: { ...PODMAN_DEFAULTS, url: env.service.address, stateDir: mkdtempSync(join(tmpdir(), 'vk-provider-')) },
      nodeName,
      internalIP: '127.0.0.1',
      client: {
        get: (type, location) => api.get(type, location),
        createSubresource: () => Promise.reject(new Error('no service-account tokens in this test')),
      },
      resources,
      events: {
        record: (object, type, reason, message) =>
          events.push({ pod: object.metadata?.name ?? '', type, reason, message }),
      },
      logger: silentLogger(),
      restartBackoff: { initialMs: 2000, maxMs: 2000 },
      // Frequent resyncs: each one asks Podman about every running container, also while it stops.
      resyncIntervalMs: 250,
      signal: stop.signal,
    });
    provider.notifyPods((pod) => {
      reports.push(pod);
      for (const check of onReport) check(pod);
    });
  });

  after(async () => {
    stop.abort();
    if (!env) return;
    await env.service.removePods({ [LABEL_NODE]: nodeName });
    await env.service.close();
  });

  function container(name: string, script: string, extra: Partial<Container> = {}): Container {
    return { name, image: env.busybox, imagePullPolicy: 'Never', command: ['sh', '-c', script], ...extra };
  }

  async function create(name: string, spec: Partial<NonNullable<Pod['spec']>>): Promise<Pod> {
    const pod: Pod = {
      metadata: { namespace, name, uid: randomUUID() },
      spec: { nodeName, containers: [], ...spec },
    };
    await provider.createPod(pod, call());
    return pod;
  }

  async function status(name: string): Promise<PodStatus> {
    const current = await provider.getPodStatus(namespace, name, call());
    assert.ok(current, `${name} has a status`);
    return current;
  }

  function containerStatus(s: PodStatus, name: string): ContainerStatus | undefined {
    return [...(s.containerStatuses ?? []), ...(s.ephemeralContainerStatuses ?? [])].find((c) => c.name === name);
  }

  async function logs(pod: string, name: string, previous: boolean): Promise<string[]> {
    const options: ContainerLogOptions = { follow: false, previous, timestamps: false };
    const text = await readAll(await provider.getContainerLogs(namespace, pod, name, options, call()));
    return text.split('\n').filter(Boolean);
  }

  /**
   * The current and previous logs of a container with the status they were read under: read again
   * if the container moved to another run (or state) meanwhile, or its run has written nothing yet.
   */
  async function logsOfOneMoment(pod: string, name: string) {
    for (;;) {
      const before = containerStatus(await status(pod), name);
      const current = await logs(pod, name, false);
      const previous = await logs(pod, name, true);
      const after = containerStatus(await status(pod), name);
      // A run that has just started may not have written its first line yet.
      const written = current.length > 0 || !before?.state?.running;
      if (JSON.stringify(before) === JSON.stringify(after) && before && written) {
        return { status: before, current, previous };
      }
    }
  }

  /** A shell snippet that counts the container's runs in an emptyDir and prints `<word> <run>`. */
  const countRuns = (word: string) =>
    `n=$(cat /runs/n 2>/dev/null || echo 0); n=$((n+1)); echo $n > /runs/n; echo "${word} $n"`;
  const runsVolume = { volumes: [{ name: 'runs', emptyDir: {} }] };
  const runsMount = { volumeMounts: [{ name: 'runs', mountPath: '/runs' }] };

  test('logs are per run: the current run only, --previous the run before (and, in CrashLoopBackOff, the run that ended)', async () => {
    await create('crashing', {
      ...runsVolume,
      containers: [container('main', `${countRuns('started')}; sleep 3; exit 3`, runsMount)],
    });
    const running = await waitFor(
      'the third run',
      async () => {
        const c = containerStatus(await status('crashing'), 'main');
        return c?.state?.running && c.restartCount >= 2 ? true : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 50 },
    );
    assert.ok(running);
    let seen = await logsOfOneMoment('crashing', 'main');
    const runIds = [seen.status.containerID, seen.status.lastState?.terminated?.containerID];
    if (seen.status.state?.running) {
      const run = seen.status.restartCount + 1;
      assert.deepEqual(seen.current, [`started ${run}`]);
      assert.deepEqual(seen.previous, [`started ${run - 1}`]);
    }
    await waitFor(
      'CrashLoopBackOff after the third run',
      async () => {
        const c = containerStatus(await status('crashing'), 'main');
        return c?.state?.waiting?.reason === 'CrashLoopBackOff' && c.restartCount >= 2 ? true : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 50 },
    );
    seen = await logsOfOneMoment('crashing', 'main');
    if (seen.status.state?.waiting) {
      // As the kubelet: while it waits to restart, both show the run that just ended.
      const run = seen.status.restartCount + 1;
      assert.deepEqual(seen.current, [`started ${run}`]);
      assert.deepEqual(seen.previous, [`started ${run}`]);
      assert.equal(seen.status.lastState?.terminated?.exitCode, 3);
    }
    // Each run is a container of its own, as for the kubelet.
    assert.ok(runIds[0] && runIds[1]);
    assert.notEqual(runIds[0], runIds[1]);
  });

  test('an OOM kill under a memory limit is OOMKilled with exit 137, and the pod Failed (restartPolicy Never)', async (t) => {
    if (!(await env.client.info()).cgroupControllers.includes('memory')) {
      t.skip('this Podman host has no memory cgroup controller: memory limits are not enforced');
      return;
    }
    await create('oom', {
      restartPolicy: 'Never',
      containers: [
        container('hog', 'x=a; while :; do x=$x$x$x$x; done', { resources: { limits: { memory: '10Mi' } } }),
      ],
    });
    const failed = await waitFor('Failed', async () => {
      const s = await status('oom');
      return s.phase === 'Failed' ? s : undefined;
    });
    const terminated = containerStatus(failed, 'hog')?.state?.terminated;
    assert.equal(terminated?.exitCode, 137);
    assert.equal(terminated?.reason, 'OOMKilled');
  });

  test('liveness restarts: each kill is exit 137 (never 0 Completed), no restart while Podman still stops it, no "state improper"', async () => {
    const stillStopping: string[] = [];
    onReport.push((pod) => {
      if (pod.metadata?.name !== 'live') return;
      const c = containerStatus(pod.status ?? {}, 'main');
      const previous = c?.lastState?.terminated?.containerID?.replace('podman://', '');
      if (c?.state?.waiting?.reason !== 'CrashLoopBackOff' || !previous) return;
      void env.client.inspectContainer(previous).then(
        (info) => {
          if (info.state.status !== 'exited' && info.state.status !== 'stopped') stillStopping.push(info.state.status);
        },
        () => undefined,
      );
    });
    await create('live', {
      ...runsVolume,
      // Long enough for resyncs to find the container `stopping`.
      terminationGracePeriodSeconds: 3,
      containers: [
        // sh as PID 1 ignores SIGTERM: each liveness kill is SIGTERM, 3 s `stopping`, then SIGKILL.
        container('main', `${countRuns('run')}; sleep 1000`, {
          ...runsMount,
          livenessProbe: {
            exec: { command: ['false'] },
            initialDelaySeconds: 1,
            periodSeconds: 1,
            failureThreshold: 1,
          },
        }),
      ],
    });
    await waitFor(
      'two liveness restarts',
      async () => {
        const c = containerStatus(await status('live'), 'main');
        return c?.state?.running && c.restartCount >= 2 ? true : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 50 },
    );
    const terminations = reports
      .filter((p) => p.metadata?.name === 'live')
      .flatMap((p) => {
        const c = containerStatus(p.status ?? {}, 'main');
        return [c?.state?.terminated, c?.lastState?.terminated].filter((s) => s !== undefined);
      });
    assert.ok(terminations.length > 0);
    for (const terminated of terminations) {
      assert.equal(terminated.exitCode, 137, JSON.stringify(terminated));
      assert.equal(terminated.reason, 'Error');
    }
    const messages = [
      ...events.filter((e) => e.pod === 'live').map((e) => e.message),
      ...reports.map((p) => JSON.stringify(p.status)),
    ];
    assert.ok(
      !messages.some((m) => /improper/.test(m)),
      messages.find((m) => /improper/.test(m)),
    );
    assert.deepEqual(stillStopping, []);
    const seen = await logsOfOneMoment('live', 'main');
    if (seen.status.state?.running) {
      const run = seen.status.restartCount + 1;
      assert.deepEqual(seen.current, [`run ${run}`]);
      assert.deepEqual(seen.previous, [`run ${run - 1}`]);
    }
  });

  test("an ephemeral container (kubectl debug) joins the pod and its target container's processes, is attachable, and runs once", async () => {
    const pod = await create('debugged', { containers: [container('app', 'exec sleep 1000')] });
    await waitFor('app running', async () => containerStatus(await status('debugged'), 'app')?.state?.running);
    const debuggerSpec: EphemeralContainer = {
      name: 'debugger',
      image: env.busybox,
      imagePullPolicy: 'Never',
      command: ['sh'],
      stdin: true,
      targetContainerName: 'app',
    };
    await provider.updatePod(
      { ...pod, spec: { ...pod.spec, containers: pod.spec?.containers ?? [], ephemeralContainers: [debuggerSpec] } },
      call(),
    );
    await waitFor(
      'the debugger running',
      async () => containerStatus(await status('debugged'), 'debugger')?.state?.running,
    );

    const ps = sink();
    await provider.runInContainer(
      namespace,
      'debugged',
      'debugger',
      ['ps', '-o', 'args'],
      { stdin: undefined, stdout: ps.stream, stderr: undefined, tty: false, onResize: () => {} },
      call(),
    );
    assert.match(ps.text(), /sleep 1000/, "the target container's process is visible");

    const stdin = new PassThrough();
    const out = sink();
    const io: AttachIO = { stdin, stdout: out.stream, stderr: undefined, tty: false, onResize: () => {} };
    const attached = provider.attachToContainer(namespace, 'debugged', 'debugger', io, call());
    await waitFor(
      'attached',
      async () => {
        stdin.write('echo from-debugger\n');
        return out.text().includes('from-debugger');
      },
      { intervalMs: 250 },
    );
    stdin.end('exit 0\n');
    await attached;

    const done = await waitFor('the debugger exited', async () => {
      const s = await status('debugged');
      return containerStatus(s, 'debugger')?.state?.terminated ? s : undefined;
    });
    assert.equal(containerStatus(done, 'debugger')?.state?.terminated?.exitCode, 0);
    assert.equal(containerStatus(done, 'debugger')?.restartCount, 0);
    assert.ok(containerStatus(done, 'app')?.state?.running, 'the pod runs on');
    assert.equal(done.phase, 'Running');
    assert.deepEqual(
      done.containerStatuses?.map((c) => c.name),
      ['app'],
    );
  });

  test('adopts its pods from what it saved, without asking the API; the controller decides what goes', async () => {
    const nodeName = `vkt-adopt-${runId}`;
    const stateDir = mkdtempSync(join(tmpdir(), 'vk-provider-adopt-'));
    const api = new FakeKubeApi(); // empty: an API GET would find nothing
    const make = (signal: AbortSignal) =>
      new PodmanProvider({
        backend: new ClientBackend(env.client),
        config: { ...PODMAN_DEFAULTS, url: env.service.address, stateDir },
        nodeName,
        internalIP: '127.0.0.1',
        client: {
          get: (type, location) => api.get(type, location),
          createSubresource: () => Promise.reject(new Error('no tokens here')),
        },
        resources: new ResourceCache({ client: api }),
        events: { record() {} },
        logger: silentLogger(),
        signal,
      });
    const first = new AbortController();
    const before = make(first.signal);
    const pod: Pod = {
      metadata: { namespace, name: 'kept', uid: randomUUID() },
      spec: {
        nodeName,
        terminationGracePeriodSeconds: 0,
        containers: [
          { name: 'main', image: env.busybox, imagePullPolicy: 'Never', command: ['sh', '-c', 'exec sleep 1000'] },
        ],
      },
    };
    try {
      await before.createPod(pod, call());
      const id = await waitFor('running', async () => {
        const c = (await before.getPodStatus(namespace, 'kept', call()))?.containerStatuses?.[0];
        return c?.state?.running ? c.containerID : undefined;
      });
      first.abort(); // the virtual kubelet stops; the pod runs on

      const second = new AbortController();
      const after = make(second.signal);
      try {
        const pods = await after.getPods(call());
        assert.deepEqual(
          pods.map((p) => [p.metadata?.name, p.metadata?.uid, p.status?.containerStatuses?.[0]?.containerID]),
          [['kept', pod.metadata?.uid, id]],
        );
        assert.ok(!api.requests.some((r) => r.verb === 'get'), 'the pod came from the saved copy');
        // The controller finds no API pod for it and deletes it: the Podman pod goes.
        await after.deletePod(pods[0] as Pod, call());
        await waitFor('the Podman pod removed', async () => {
          const left = await env.client.listPods({ labelFilters: { [LABEL_NODE]: nodeName } });
          return left.length === 0;
        });
      } finally {
        second.abort();
      }
    } finally {
      await env.service.removePods({ [LABEL_NODE]: nodeName });
    }
  });
});

describe('PodmanProvider with Podman unreachable', () => {
  test('a call whose signal aborts does not wait for Podman; aborting the provider context ends its retries', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'vk-provider-down-'));
    const configPath = join(dir, 'podman.json');
    writeFileSync(configPath, JSON.stringify({ url: `unix://${join(dir, 'no-podman.sock')}`, stateDir: dir }));
    const context = new AbortController();
    const api = new FakeKubeApi();
    const provider = await createPodmanProvider({
      nodeName: 'unreachable',
      operatingSystem: 'linux',
      internalIP: '127.0.0.1',
      daemonPort: 10250,
      configPath,
      clusterDomain: 'cluster.local',
      client: api as never,
      resources: new ResourceCache({ client: api }),
      events: { record() {} },
      logger: silentLogger(),
      signal: context.signal,
    });
    // While Podman does not answer, the pods it runs cannot be listed: getPods waits for adoption.
    let listed = false;
    const pods = provider.getPods(call()).then((p) => {
      listed = true;
      return p;
    });
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(listed, false);
    // A call that is no longer wanted (shutdown, timeout) does not wait for Podman.
    const unwanted = new AbortController();
    const abandoned = provider.getPods({ signal: unwanted.signal });
    unwanted.abort(new Error('shutting down'));
    await assert.rejects(abandoned, /shutting down/);
    assert.equal(listed, false);
    context.abort();
    assert.deepEqual(
      await waitFor('adoption to give up', async () => (listed ? pods : undefined), { timeoutMs: 2000 }),
      [],
    );
  });
});
