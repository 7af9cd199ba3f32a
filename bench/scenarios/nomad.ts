/**
 * `nomad`: N pods through `--provider nomad` on a real Nomad v1.6.3 started here (a server and
 * two clients, the docker driver on Podman), create sent → Running and Ready; and, in the same
 * run on the same Nomad, the same N jobs (the provider's own mapping of the same pods) registered
 * straight to Nomad's API, 32 in flight, register sent → allocation running on Nomad's event
 * stream. The direct run goes once before ours and once after (the machine drifts; the rate
 * compared is their mean), and each phase ends with every allocation stopped before the next starts.
 *
 * What is measured is mostly Nomad's and Podman's speed at starting containers on two shared
 * cores; the ratio says what the virtual kubelet adds on top.
 */
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Pod } from 'kubernetes-types/core/v1.js';
import { NomadClient } from '../../src/providers/nomad/api/client.ts';
import { NOMAD_DEFAULTS } from '../../src/providers/nomad/config.ts';
import { jobFromPod } from '../../src/providers/nomad/job-spec.ts';
import { VirtualKubeletProcess } from '../../test/e2e/support/virtual-kubelet.ts';
import { HarnessError } from '../../tools/kube/binaries.ts';
import { type NomadCluster, startNomadCluster } from '../../tools/nomad/cluster.ts';
import { adopt, type ImplementationName, stopChild } from '../baselines.ts';
import { percentiles } from '../measurement.ts';
import { type DirectRun, directComparisonExtra, directRate } from './direct-comparison.ts';
import {
  CREATE_CONCURRENCY,
  createPod,
  DELETE_CONCURRENCY,
  deletePod,
  goalResult,
  latencies,
  pool,
  type RawRun,
  type RunResult,
  type ScenarioContext,
  timeoutNotes,
  withRun,
} from './harness.ts';

const REPO = resolve(fileURLToPath(import.meta.url), '..', '..', '..');

function benchNomadPod(name: string, namespace: string, nodeName: string, image: string): Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace, uid: `bench-${name}`, labels: { app: 'bench' } },
    spec: {
      nodeName,
      automountServiceAccountToken: false,
      tolerations: [{ operator: 'Exists' }],
      terminationGracePeriodSeconds: 2,
      containers: [
        {
          name: 'app',
          image,
          imagePullPolicy: 'Never',
          command: ['sleep', '3600'],
          resources: { requests: { cpu: '10m', memory: '16Mi' } },
        },
      ],
    },
  } as Pod;
}

/** The same jobs straight to Nomad: register 32 in flight, until every allocation runs; then stopped and purged. */
async function runDirect(
  nomad: NomadCluster,
  client: NomadClient,
  names: readonly string[],
  prefix: string,
  timeoutMs: number,
): Promise<DirectRun> {
  const config = {
    ...NOMAD_DEFAULTS,
    dockerEngine: 'podman' as const,
    datacenters: [nomad.datacenter],
    jobPrefix: prefix,
  };
  const jobs = names.map((name) =>
    jobFromPod(benchNomadPod(name, 'direct', 'direct', nomad.busybox), {
      config,
      nodeName: 'direct',
      mhzPerCore: 2000,
    }),
  );
  const sent = new Map<string, number>();
  const running = new Map<string, number>();
  const watch = new AbortController();
  const { index } = await client.jobs(prefix);
  const watching = (async () => {
    try {
      for await (const batch of client.events(['Allocation:*'], index + 1, watch.signal)) {
        const at = performance.now();
        for (const event of batch.events) {
          const alloc = event.Payload.Allocation;
          if (!alloc || running.has(alloc.JobID) || alloc.ClientStatus !== 'running') continue;
          if (Object.values(alloc.TaskStates ?? {}).every((s) => s.State === 'running')) running.set(alloc.JobID, at);
        }
      }
    } catch {
      // aborted at the end
    }
  })();
  const d0 = performance.now();
  await pool(jobs, CREATE_CONCURRENCY, async (job) => {
    sent.set(job.ID, performance.now());
    await client.registerJob(job, { create: true });
  });
  const deadline = d0 + timeoutMs;
  while (running.size < jobs.length && performance.now() < deadline) await sleep(100);
  const done = running.size >= jobs.length;
  const seconds = ((done ? Math.max(...running.values()) : performance.now()) - d0) / 1000;
  watch.abort();
  await watching;
  await pool(jobs, DELETE_CONCURRENCY, (job) => client.stopJob(job.ID));
  await waitForStopped(nomad, prefix, timeoutMs);
  await pool(jobs, DELETE_CONCURRENCY, (job) => client.purgeJob(job.ID));
  return {
    done,
    running: running.size,
    seconds,
    latency: percentiles(
      latencies(
        jobs.map((j) => j.ID),
        sent,
        running,
      ),
    ),
  };
}

/** Waits until no allocation of the jobs with `prefix` is pending or running (their containers are gone). */
async function waitForStopped(nomad: NomadCluster, prefix: string, timeoutMs: number): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    const allocs = await nomad.api<{ JobID: string; ClientStatus: string }[]>('GET', '/v1/allocations');
    const live = allocs.filter(
      (a) => a.JobID.startsWith(prefix) && (a.ClientStatus === 'running' || a.ClientStatus === 'pending'),
    );
    if (live.length === 0) return;
    await sleep(500);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolveSleep) => setTimeout(resolveSleep, ms));
}

export async function runNomad(
  context: ScenarioContext,
  implementation: ImplementationName,
  size: number,
): Promise<{ result: RunResult; raw: RawRun }[]> {
  const { admin, log } = context;
  const nomad = await startNomadCluster({
    name: 'bench',
    cpuTotalCompute: 200_000,
    memoryTotalMB: 65_536,
    log: (line) => log(`nomad: ${line}`),
  });
  const client = new NomadClient({ address: nomad.address, tls: { insecureSkipVerify: false }, token: undefined });
  const names = Array.from({ length: size }, (_, i) => `n-${String(i).padStart(4, '0')}`);
  const describe = (label: string, run: DirectRun) =>
    log(
      `nomad ${size} ${label}: ${run.running}/${size} allocations running in ${run.seconds.toFixed(1)} s, p50 ${run.latency.p50.toFixed(0)} ms, p99 ${run.latency.p99.toFixed(0)} ms`,
    );
  try {
    const before = await runDirect(nomad, client, names, 'direct-1.', context.timeoutMs);
    describe('direct (before)', before);
    let after: DirectRun | undefined;
    const outcome = await withRun(
      context,
      'nomad',
      size,
      implementation,
      async ({ kubelet, namespace, tracker, frame }) => {
        const t0 = performance.now();
        await pool(names, CREATE_CONCURRENCY, (name) =>
          createPod(admin, tracker, namespace, benchNomadPod(name, namespace, kubelet.nodeName, nomad.busybox)),
        );
        const completed = await tracker.until(
          () => tracker.running.size >= size,
          t0 + context.timeoutMs,
          () => `nomad ${size}: ${tracker.running.size}/${size} Running`,
          log,
        );
        const seconds = ((completed ? Math.max(...tracker.running.values()) : performance.now()) - t0) / 1000;
        const cost = await frame.close();
        const latency = latencies(names, tracker.sent, tracker.running);
        const ours = percentiles(latency);
        log(
          `nomad ${size} ours: ${tracker.running.size}/${size} Running in ${seconds.toFixed(1)} s, p50 ${ours.p50.toFixed(0)} ms, p99 ${ours.p99.toFixed(0)} ms`,
        );
        // Deleted through the provider (stop, then purge), and gone from Nomad, before the second direct run.
        await pool(names, DELETE_CONCURRENCY, (name) => deletePod(admin, tracker, namespace, name));
        await tracker.until(() => tracker.gone.size >= size, performance.now() + context.timeoutMs);
        await waitForStopped(nomad, `k8s.${namespace}.`, context.timeoutMs);
        after = await runDirect(nomad, client, names, 'direct-2.', context.timeoutMs);
        describe('direct (after)', after);
        const direct = directRate(before, after);
        const ourRate = tracker.running.size / seconds;
        log(
          `nomad ${size}: ours ${ourRate.toFixed(2)} pods/s, direct ${direct.toFixed(2)} pods/s (mean): ${(ourRate / direct).toFixed(2)}×`,
        );
        return [
          goalResult({
            scenario: 'nomad',
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
            latencyLabel: 'create sent → Running and Ready seen by watch',
            cost,
            extra: directComparisonExtra(
              before,
              after,
              ourRate,
              'job register sent → allocation running (Nomad event stream)',
            ),
            notes: [
              ...timeoutNotes(context, completed && before.done && after.done),
              'direct: the same pods as mapped by the provider, registered straight to Nomad (32 in flight), once before and once after ours; the rate compared is their mean',
            ],
          }),
        ];
      },
      async (start) => {
        const vk = await VirtualKubeletProcess.start(start.cluster, {
          nodeName: start.nodeName,
          workDir: start.workDir,
          provider: 'nomad',
          providerConfig: { address: nomad.address, datacenters: [nomad.datacenter], docker: { engine: 'podman' } },
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
          description: `virtual-kubelet --provider nomad (dist/), Nomad ${nomad.version}: a server and 2 clients, docker driver on Podman`,
          servesKubeletApi: true,
          kubeletPort: vk.kubeletPort,
          stop: () => stopChild(vk.child),
        };
      },
    );
    return outcome;
  } finally {
    client.close();
    await nomad.stop();
  }
}
