/**
 * `kubernetes`: N pods through `--provider kubernetes` into a remote cluster started here (its
 * own control plane; its one node is our virtual kubelet with the mock provider, which reports
 * pods Running at once), create sent in the origin → Running and Ready in the origin; and, in the
 * same run on the same remote, the same N pods created straight in the remote cluster, create sent
 * → Running and Ready there. Both go through the remote's scheduler (our remote pods carry no
 * nodeName). The direct run goes once before ours and once after (the machine drifts; the rate
 * compared is their mean), each phase's pods deleted before the next starts.
 *
 * What the ratio says is what the origin round trip adds: the origin API server and scheduler-free
 * binding, our watch of the origin, the remote create, the remote watch and the status written back.
 */
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadKubeConfig } from '../../src/kube/kubeconfig.ts';
import { VirtualKubeletProcess } from '../../test/e2e/support/virtual-kubelet.ts';
import { HarnessError } from '../../tools/kube/binaries.ts';
import { dedicatedCluster, type TestCluster } from '../../tools/kube/testing.ts';
import { ApiClient } from '../api.ts';
import { adopt, type ImplementationName, NODE_CAPACITY, stopChild } from '../baselines.ts';
import { percentiles } from '../measurement.ts';
import { type DirectRun, directComparisonExtra, directRate } from './direct-comparison.ts';
import {
  benchPod,
  CREATE_CONCURRENCY,
  createPod,
  DELETE_CONCURRENCY,
  deletePod,
  goalResult,
  latencies,
  PodTracker,
  pool,
  type RawRun,
  type RunResult,
  type ScenarioContext,
  timeoutNotes,
  withRun,
} from './harness.ts';

const REPO = resolve(fileURLToPath(import.meta.url), '..', '..', '..');

/** The same pods straight into the remote cluster, until Running and Ready; then deleted and gone. */
async function runDirect(
  remote: TestCluster,
  client: ApiClient,
  names: readonly string[],
  timeoutMs: number,
): Promise<DirectRun> {
  const namespace = await remote.createNamespace('bench-direct');
  const tracker = new PodTracker();
  tracker.start(client, namespace);
  try {
    const t0 = performance.now();
    await pool(names, CREATE_CONCURRENCY, (name) => createPod(client, tracker, namespace, benchPod(name, undefined)));
    const done = await tracker.until(() => tracker.running.size >= names.length, t0 + timeoutMs);
    const seconds = ((done ? Math.max(...tracker.running.values()) : performance.now()) - t0) / 1000;
    const latency = percentiles(latencies(names, tracker.sent, tracker.running));
    await pool(names, DELETE_CONCURRENCY, (name) => deletePod(client, tracker, namespace, name));
    await tracker.until(() => tracker.gone.size >= names.length, performance.now() + timeoutMs);
    return { done, running: tracker.running.size, seconds, latency };
  } finally {
    await tracker.stop();
    await remote.deleteNamespace(namespace);
  }
}

export async function runKubernetes(
  context: ScenarioContext,
  implementation: ImplementationName,
  size: number,
): Promise<{ result: RunResult; raw: RawRun }[]> {
  const { admin, log } = context;
  log('kubernetes: starting the remote control plane "bench-remote"');
  const { test: remote, cluster: remoteControl } = await dedicatedCluster('bench-remote');
  const remoteAdmin = new ApiClient(loadKubeConfig({ path: remote.info.kubeconfig }), { maxSockets: 64 });
  let remoteNode: VirtualKubeletProcess | undefined;
  const names = Array.from({ length: size }, (_, i) => `k-${String(i).padStart(5, '0')}`);
  const describe = (label: string, run: DirectRun) =>
    log(
      `kubernetes ${size} ${label}: ${run.running}/${size} Running in ${run.seconds.toFixed(1)} s, p50 ${run.latency.p50.toFixed(0)} ms, p99 ${run.latency.p99.toFixed(0)} ms`,
    );
  try {
    remoteNode = await VirtualKubeletProcess.start(remote, {
      provider: 'mock',
      mock: { ...NODE_CAPACITY },
      cli: join(REPO, 'bin', 'virtual-kubelet.js'),
      args: ['--log-level', 'info'],
    });
    adopt(remoteNode.child);
    const before = await runDirect(remote, remoteAdmin, names, context.timeoutMs);
    describe('direct (before)', before);
    return await withRun(
      context,
      'kubernetes',
      size,
      implementation,
      async ({ kubelet, namespace, tracker, frame }) => {
        const t0 = performance.now();
        await pool(names, CREATE_CONCURRENCY, (name) =>
          createPod(admin, tracker, namespace, benchPod(name, kubelet.nodeName)),
        );
        const completed = await tracker.until(
          () => tracker.running.size >= size,
          t0 + context.timeoutMs,
          () => `kubernetes ${size}: ${tracker.running.size}/${size} Running`,
          log,
        );
        const seconds = ((completed ? Math.max(...tracker.running.values()) : performance.now()) - t0) / 1000;
        const cost = await frame.close();
        const latency = latencies(names, tracker.sent, tracker.running);
        const ours = percentiles(latency);
        log(
          `kubernetes ${size} ours: ${tracker.running.size}/${size} Running in ${seconds.toFixed(1)} s, p50 ${ours.p50.toFixed(0)} ms, p99 ${ours.p99.toFixed(0)} ms`,
        );
        await pool(names, DELETE_CONCURRENCY, (name) => deletePod(admin, tracker, namespace, name));
        await tracker.until(() => tracker.gone.size >= size, performance.now() + context.timeoutMs);
        const after = await runDirect(remote, remoteAdmin, names, context.timeoutMs);
        describe('direct (after)', after);
        const direct = directRate(before, after);
        const ourRate = tracker.running.size / seconds;
        log(
          `kubernetes ${size}: ours ${ourRate.toFixed(1)} pods/s, direct ${direct.toFixed(1)} pods/s (mean): ${(ourRate / direct).toFixed(2)}×`,
        );
        return [
          goalResult({
            scenario: 'kubernetes',
            size,
            kubelet,
            frame,
            completed,
            pods: size,
            reached: tracker.running,
            names,
            origin: t0,
            seconds,
            latency,
            latencyLabel: 'create sent in the origin → Running and Ready there, seen by watch',
            cost,
            extra: directComparisonExtra(
              before,
              after,
              ourRate,
              'create sent in the remote → Running and Ready there (watch)',
            ),
            notes: [
              ...timeoutNotes(context, completed && before.done && after.done),
              'direct: the same pods created straight in the remote cluster (32 in flight), once before and once after ours; the rate compared is their mean',
            ],
          }),
        ];
      },
      async (start) => {
        const vk = await VirtualKubeletProcess.start(start.cluster, {
          nodeName: start.nodeName,
          workDir: start.workDir,
          provider: 'kubernetes',
          providerConfig: { kubeconfig: remote.info.kubeconfig, originCluster: 'bench' },
          cli: join(REPO, 'bin', 'virtual-kubelet.js'),
          args: ['--log-level', 'info'],
        });
        adopt(vk.child);
        const pid = vk.child.pid;
        if (pid === undefined) throw new HarnessError('virtual-kubelet did not start');
        return {
          implementation,
          nodeName: start.nodeName,
          pid,
          workDir: start.workDir,
          description:
            'virtual-kubelet --provider kubernetes (dist/) into a remote control plane whose node is virtual-kubelet --provider mock',
          servesKubeletApi: true,
          kubeletPort: vk.kubeletPort,
          stop: () => stopChild(vk.child),
        };
      },
    );
  } finally {
    await remoteNode?.destroy();
    remoteAdmin.close();
    await remoteControl.down();
  }
}
