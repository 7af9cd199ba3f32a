import type { Pod } from 'kubernetes-types/core/v1.js';
import { NomadClient } from '../../src/providers/nomad/api/client.ts';
import { NOMAD_DEFAULTS } from '../../src/providers/nomad/config.ts';
import { jobFromPod } from '../../src/providers/nomad/job-spec.ts';
import { VirtualKubeletProcess } from '../../test/e2e/support/virtual-kubelet.ts';
import { type NomadCluster, startNomadCluster } from '../../tools/nomad/cluster.ts';
import type { RunningKubelet } from '../baselines.ts';
import { percentiles } from '../measurement.ts';
import {
  CREATE_CONCURRENCY,
  cleanup,
  createPod,
  DELETE_CONCURRENCY,
  deletePod,
  Frame,
  goalResult,
  latencies,
  PodTracker,
  pool,
  type RawRun,
  type RunResult,
  round,
  type ScenarioContext,
  timeoutNotes,
} from './harness.ts';

/**
 * `nomad`: N pods through the Nomad provider (a real Nomad v1.6.3, one server and two clients,
 * the docker driver on Podman), create sent → Running and Ready; beside it, in the same run and
 * on the same Nomad, the same N jobs (the provider's own mapping of the same pods) registered
 * straight to Nomad's API, register sent → allocation running, seen on Nomad's event stream.
 */
export async function runNomad(context: ScenarioContext, size: number): Promise<{ result: RunResult; raw: RawRun }[]> {
  const { admin, cluster, log } = context;
  const nomad = await startNomadCluster({ name: 'bench', cpuTotalCompute: 200_000, memoryTotalMB: 65_536, log });
  const client = new NomadClient({ address: nomad.address, tls: { insecureSkipVerify: false }, token: undefined });
  const names = Array.from({ length: size }, (_, i) => `n-${String(i).padStart(4, '0')}`);
  const pod = (name: string, nodeName: string, namespace: string): Pod =>
    ({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name, namespace, uid: `direct-${name}`, labels: { app: 'bench' } },
      spec: {
        nodeName,
        automountServiceAccountToken: false,
        tolerations: [{ operator: 'Exists' }],
        terminationGracePeriodSeconds: 2,
        containers: [
          {
            name: 'app',
            image: nomad.busybox,
            imagePullPolicy: 'Never',
            command: ['sleep', '3600'],
            resources: { requests: { cpu: '10m', memory: '16Mi' } },
          },
        ],
      },
    }) as Pod;
  try {
    // ── straight to Nomad ──────────────────────────────────────────────────────────────────
    const config = {
      ...NOMAD_DEFAULTS,
      dockerEngine: 'podman' as const,
      datacenters: [nomad.datacenter],
      jobPrefix: 'direct.',
    };
    const jobs = names.map((name) =>
      jobFromPod(pod(name, 'direct', 'bench'), { config, nodeName: 'direct', mhzPerCore: 2000 }),
    );
    const sent = new Map<string, number>();
    const running = new Map<string, number>();
    const watch = new AbortController();
    const { index } = await client.jobs('direct.');
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
    const directTracker = new PodTracker();
    const directDone = await directTracker.until(() => running.size >= size, d0 + context.timeoutMs);
    const directSeconds = (Math.max(...running.values(), d0) - d0) / 1000;
    watch.abort();
    await watching;
    const directLatency = latencies(
      jobs.map((j) => j.ID),
      sent,
      running,
    );
    const direct = percentiles(directLatency);
    log(
      `nomad ${size} direct: ${running.size}/${size} allocations running in ${directSeconds.toFixed(1)} s, p50 ${direct.p50.toFixed(0)} ms, p99 ${direct.p99.toFixed(0)} ms`,
    );
    // Stopped, and their containers gone, before ours start: the two phases must not overlap.
    await pool(jobs, DELETE_CONCURRENCY, (job) => client.stopJob(job.ID));
    await waitForStopped(nomad, 'direct.', context.timeoutMs);
    await pool(jobs, DELETE_CONCURRENCY, (job) => client.purgeJob(job.ID));

    // ── through the provider ───────────────────────────────────────────────────────────────
    const nodeName = `bench-nomad-${size}-${Date.now().toString(36)}`.slice(0, 63);
    const vk = await VirtualKubeletProcess.start(cluster, {
      nodeName,
      provider: 'nomad',
      cli: new URL('../../bin/virtual-kubelet.js', import.meta.url).pathname,
      providerConfig: { address: nomad.address, datacenters: [nomad.datacenter], docker: { engine: 'podman' } },
      args: ['--log-level', 'info'],
    });
    const kubelet: RunningKubelet = {
      implementation: 'ours',
      nodeName,
      pid: vk.child.pid ?? 0,
      workDir: vk.workDir,
      description: `virtual-kubelet --provider nomad (dist/), Nomad ${nomad.version}, 2 clients, docker driver on Podman`,
      servesKubeletApi: true,
      kubeletPort: vk.kubeletPort,
      stop: async () => {
        await vk.stop();
      },
    };
    const namespace = await cluster.createNamespace('bench-nomad');
    const tracker = new PodTracker();
    tracker.start(admin, namespace);
    const frame = await Frame.open(context, kubelet);
    try {
      const t0 = performance.now();
      await pool(names, CREATE_CONCURRENCY, (name) =>
        createPod(admin, tracker, namespace, pod(name, nodeName, namespace)),
      );
      const completed = await tracker.until(
        () => tracker.running.size >= size,
        t0 + context.timeoutMs,
        () => `nomad ${size} ours: ${tracker.running.size}/${size} Running`,
        log,
      );
      const seconds = completed
        ? (Math.max(...tracker.running.values(), t0) - t0) / 1000
        : (performance.now() - t0) / 1000;
      const cost = await frame.close();
      const latency = latencies(names, tracker.sent, tracker.running);
      const ours = percentiles(latency);
      const directRate = running.size / directSeconds;
      const ourRate = tracker.running.size / seconds;
      log(
        `nomad ${size} ours: ${tracker.running.size}/${size} Running in ${seconds.toFixed(1)} s, p50 ${ours.p50.toFixed(0)} ms, p99 ${ours.p99.toFixed(0)} ms; ${(ourRate / directRate).toFixed(2)}× the direct rate`,
      );
      const outcome = goalResult({
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
        extra: {
          directSeconds: round(directSeconds, 2),
          directPodsPerSecond: round(directRate, 1),
          directP50Ms: round(direct.p50, 1),
          directP99Ms: round(direct.p99, 1),
          directLatency: 'job register sent → allocation running (Nomad event stream)',
          oursOverDirectRate: round(ourRate / directRate, 2),
        },
        notes: [
          ...timeoutNotes(context, completed && directDone),
          'direct: the same pods mapped by the provider, registered straight to Nomad, 32 in flight, measured first',
        ],
      });
      await pool(names, DELETE_CONCURRENCY, (name) => deletePod(admin, tracker, namespace, name));
      await tracker.until(() => tracker.gone.size >= size, performance.now() + context.timeoutMs);
      return [outcome];
    } finally {
      frame.sampler.stop();
      await tracker.stop();
      await vk.destroy();
      await cleanup(context, namespace, nodeName).catch(() => {});
    }
  } finally {
    client.close();
    await nomad.stop();
  }
}

/** Waits until no allocation of the jobs with `prefix` is pending or running. */
async function waitForStopped(nomad: NomadCluster, prefix: string, timeoutMs: number): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    const allocs = await nomad.api<{ JobID: string; ClientStatus: string }[]>('GET', '/v1/allocations');
    const live = allocs.filter(
      (a) => a.JobID.startsWith(prefix) && (a.ClientStatus === 'running' || a.ClientStatus === 'pending'),
    );
    if (live.length === 0) return;
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}
