/**
 * The benchmark scenarios of issue #6. Each run starts one implementation on a fresh node and a
 * fresh namespace, drives the API server the way users would, and measures through a watch with
 * client-side timestamps (creationTimestamp has one-second resolution, too coarse for latencies).
 *
 * | scenario    | what it does                                                                                   |
 * |-------------|------------------------------------------------------------------------------------------------|
 * | `burst`     | N pods created with `spec.nodeName` (32 creates in flight); create sent → Running and Ready      |
 * | `scheduled` | a Deployment of N replicas through kube-scheduler; bound (watch) → Running, and create → Running |
 * | `churn`     | 50 pods/s created for 2 minutes, each deleted 10 s after its create; latency and lag               |
 * | `delete`    | N Running pods deleted (default grace); delete sent → gone from the API, and from the provider    |
 * | `streaming` | exec round trips, exec and port-forward throughput, logs, all through the API server (kubectl)    |
 * | `soak`      | N pods held for a duration with annotation updates and pod replacements; RSS at start and end     |
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';
import type { Pod } from 'kubernetes-types/core/v1.js';
import type { TestCluster } from '../tools/kube/testing.ts';
import type { ApiClient } from './api.ts';
import {
  type ImplementationName,
  nodeNameFor,
  providerPodCount,
  type RunningKubelet,
  runWorkDir,
  startImplementation,
} from './baselines.ts';
import {
  byVerb,
  diffTotals,
  type Percentiles,
  type ProcessReading,
  ProcessSampler,
  percentiles,
  type RequestTotals,
  readProcess,
  scrapeApiserverRequests,
  subtractTotals,
} from './measurement.ts';

export const SCENARIOS = ['burst', 'scheduled', 'churn', 'delete', 'streaming', 'soak'] as const;
export type ScenarioName = (typeof SCENARIOS)[number];

/** Which implementations a scenario can measure. */
export function supports(scenario: ScenarioName, implementation: ImplementationName): boolean {
  // The ceiling has no kubelet API; the soak's targets are ours (the baselines cannot reach 10 000 pods in time).
  if (scenario === 'streaming') return implementation !== 'ceiling';
  if (scenario === 'soak') return implementation === 'ours' || implementation === 'ours-tuned';
  return true;
}

/** One measured run: one scenario, one size, one implementation. */
export interface RunResult {
  scenario: ScenarioName;
  size: number;
  implementation: ImplementationName;
  description: string;
  nodeName: string;
  startedAt: string;
  /** Every pod reached the goal (Running, or gone for `delete`) before the timeout. */
  completed: boolean;
  pods: number;
  /** Pods that reached the goal. */
  done: number;
  totalSeconds: number;
  podsPerSecond: number;
  latencyMs: Percentiles;
  /** What the latency is measured from and to. */
  latency: string;
  peakRssBytes: number;
  cpuSeconds: number;
  /** CPU seconds the control plane spent during the run. */
  controlPlaneCpuSeconds: Record<string, number>;
  requests: {
    /** apiserver_request_total during the run minus the benchmark's own requests: the virtual kubelet and the controllers. */
    others: Record<string, number>;
    benchmark: Record<string, number>;
    othersDetail: RequestTotals;
  };
  extra: Record<string, number | string>;
  notes: string[];
}

/** The per-pod data behind a result (kept out of the committed summary). */
export interface RawRun {
  /** Latencies in milliseconds, in create order. */
  latenciesMs: number[];
  /** When each pod reached the goal, in ms since the first request, sorted. */
  doneAtMs: number[];
  process: ProcessReading[];
  series?: Record<string, [number, number][]>;
}

export interface ScenarioContext {
  cluster: TestCluster;
  admin: ApiClient;
  log: (line: string) => void;
  /** How long to wait for pods to reach their goal before a run is reported incomplete. */
  timeoutMs: number;
  /** The soak's duration. */
  soakMs: number;
  /** The churn's duration. */
  churnMs: number;
  profile: boolean;
  /** Where each run's process keeps its log and profiles. */
  workBase: string | undefined;
}

const CREATE_CONCURRENCY = 32;
const DELETE_CONCURRENCY = 32;

/** A pod for the mock: one container, no service-account token (the Go mock ignores volumes; ours would fetch it). */
function benchPod(name: string, nodeName: string | undefined): Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, labels: { app: 'bench' } },
    spec: {
      ...(nodeName ? { nodeName } : {}),
      automountServiceAccountToken: false,
      // Tolerate everything: a slow baseline's node must not get its pods evicted mid-run.
      tolerations: [{ operator: 'Exists' }],
      containers: [{ name: 'app', image: 'registry.invalid/bench:1' }],
    },
  } as Pod;
}

function isRunning(pod: Pod): boolean {
  return (
    pod.status?.phase === 'Running' &&
    (pod.status.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True')
  );
}

/** Follows the pods of a namespace through one watch, timestamping what matters on arrival. */
export class PodTracker {
  readonly sent = new Map<string, number>();
  readonly seen = new Map<string, number>();
  readonly bound = new Map<string, number>();
  readonly running = new Map<string, number>();
  readonly deleteSent = new Map<string, number>();
  readonly gone = new Map<string, number>();
  readonly #controller = new AbortController();
  #resourceVersion: string | undefined;
  #watching: Promise<void> | undefined;

  start(admin: ApiClient, namespace: string): void {
    const signal = this.#controller.signal;
    this.#watching = (async () => {
      while (!signal.aborted) {
        const rv = this.#resourceVersion ? `?resourceVersion=${this.#resourceVersion}` : '';
        try {
          await admin.watch<Pod>(
            `/api/v1/namespaces/${namespace}/pods${rv}`,
            (event, at) => this.#on(event, at),
            signal,
          );
        } catch {
          // 410 Gone or a broken stream: start over; events already recorded stay recorded.
          this.#resourceVersion = undefined;
          if (!signal.aborted) await delay(200);
        }
      }
    })();
  }

  #on(event: { type: string; object: Pod }, at: number): void {
    const pod = event.object;
    if (pod.metadata?.resourceVersion) this.#resourceVersion = pod.metadata.resourceVersion;
    if (event.type === 'BOOKMARK' || event.type === 'ERROR') {
      if (event.type === 'ERROR') this.#resourceVersion = undefined;
      return;
    }
    const name = pod.metadata?.name ?? '';
    if (!this.seen.has(name)) this.seen.set(name, at);
    if (pod.spec?.nodeName && !this.bound.has(name)) this.bound.set(name, at);
    if (event.type === 'DELETED') {
      if (!this.gone.has(name)) this.gone.set(name, at);
      return;
    }
    if (!this.running.has(name) && isRunning(pod)) this.running.set(name, at);
  }

  /** Polls `done()` every 100 ms until it holds or the deadline passes; returns whether it held. */
  async until(
    done: () => boolean,
    deadline: number,
    progress?: () => string,
    log?: (line: string) => void,
  ): Promise<boolean> {
    let lastReport = performance.now();
    while (!done()) {
      if (performance.now() > deadline) return false;
      await delay(100);
      if (progress && log && performance.now() - lastReport > 10_000) {
        lastReport = performance.now();
        log(progress());
      }
    }
    return true;
  }

  async stop(): Promise<void> {
    this.#controller.abort();
    await this.#watching;
  }
}

/** Runs `fn` over `items` with at most `concurrency` in flight. */
async function pool<T>(items: readonly T[], concurrency: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const item = items[next++] as T;
      await fn(item);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
}

function podPath(namespace: string, name = ''): string {
  return `/api/v1/namespaces/${namespace}/pods${name ? `/${name}` : ''}`;
}

async function createPod(admin: ApiClient, tracker: PodTracker, namespace: string, pod: Pod): Promise<void> {
  const name = pod.metadata?.name ?? '';
  tracker.sent.set(name, performance.now());
  await admin.call('POST', podPath(namespace), pod);
}

async function deletePod(admin: ApiClient, tracker: PodTracker, namespace: string, name: string): Promise<void> {
  tracker.deleteSent.set(name, performance.now());
  await admin.call('DELETE', podPath(namespace, name), undefined, { allowed: [404] });
}

function clusterPids(cluster: TestCluster): Record<string, number> {
  try {
    const state = JSON.parse(readFileSync(`${cluster.info.dir}/state.json`, 'utf8')) as {
      pids: Record<string, number>;
    };
    return state.pids;
  } catch {
    return {};
  }
}

function cpuOf(pids: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(pids).map(([name, pid]) => [name, readProcess(pid)?.cpuSeconds ?? 0]));
}

/** The measurement frame shared by every run: process, control plane, API requests. */
class Frame {
  readonly origin = performance.now();
  readonly sampler: ProcessSampler;
  readonly #context: ScenarioContext;
  readonly #pids: Record<string, number>;
  #cpuBefore: Record<string, number> = {};
  #requestsBefore: RequestTotals = {};
  #benchBefore = new Map<string, number>();
  #processCpuBefore = 0;
  #benchCpuBefore = 0;

  private constructor(context: ScenarioContext, kubelet: RunningKubelet, intervalMs: number) {
    this.#context = context;
    this.#pids = clusterPids(context.cluster);
    this.sampler = new ProcessSampler(kubelet.pid, this.origin, intervalMs);
  }

  static async open(context: ScenarioContext, kubelet: RunningKubelet, intervalMs = 1000): Promise<Frame> {
    const frame = new Frame(context, kubelet, intervalMs);
    await frame.mark();
    return frame;
  }

  /** Starts a new measured phase (CPU and request counters restart here; the RSS series goes on). */
  async mark(): Promise<void> {
    this.#requestsBefore = await scrapeApiserverRequests(this.#context.admin);
    this.#benchBefore = new Map(this.#context.admin.counts);
    this.#cpuBefore = cpuOf(this.#pids);
    this.#processCpuBefore = this.sampler.sample()?.cpuSeconds ?? 0;
    this.#benchCpuBefore = benchCpu();
  }

  /** What the phase since the last mark cost. */
  async close(): Promise<Pick<RunResult, 'peakRssBytes' | 'cpuSeconds' | 'controlPlaneCpuSeconds' | 'requests'>> {
    const reading = this.sampler.sample();
    const requests = diffTotals(this.#requestsBefore, await scrapeApiserverRequests(this.#context.admin));
    const bench = new Map<string, number>();
    for (const [key, value] of this.#context.admin.counts) {
      const delta = value - (this.#benchBefore.get(key) ?? 0);
      if (delta > 0) bench.set(key, delta);
    }
    // The scrape itself is a request of ours.
    bench.set('GET metrics', (bench.get('GET metrics') ?? 0) + 1);
    const cpuAfter = cpuOf(this.#pids);
    const others = subtractTotals(requests, bench);
    delete others['GET metrics'];
    return {
      peakRssBytes: reading?.peakRssBytes ?? this.sampler.samples.at(-1)?.peakRssBytes ?? 0,
      cpuSeconds: (reading?.cpuSeconds ?? 0) - this.#processCpuBefore,
      controlPlaneCpuSeconds: {
        ...Object.fromEntries(
          Object.entries(cpuAfter).map(([name, cpu]) => [name, round(cpu - (this.#cpuBefore[name] ?? 0), 1)]),
        ),
        // The load generator and the watch that measures compete for the same two cores.
        benchmark: round(benchCpu() - this.#benchCpuBefore, 1),
      },
      requests: {
        others: byVerb(others),
        benchmark: byVerb(Object.fromEntries(bench)),
        othersDetail: others,
      },
    };
  }
}

function benchCpu(): number {
  const usage = process.cpuUsage();
  return (usage.user + usage.system) / 1e6;
}

function round(value: number, digits: number): number {
  const scale = 10 ** digits;
  return Math.round(value * scale) / scale;
}

/** Starts the implementation, a namespace and the tracker; runs `body`; always cleans up. */
async function withRun(
  context: ScenarioContext,
  scenario: ScenarioName,
  size: number,
  implementation: ImplementationName,
  body: (run: {
    kubelet: RunningKubelet;
    namespace: string;
    tracker: PodTracker;
    frame: Frame;
  }) => Promise<{ result: RunResult; raw: RawRun }[]>,
): Promise<{ result: RunResult; raw: RawRun }[]> {
  const { admin, cluster, log } = context;
  const nodeName = nodeNameFor(implementation, `${scenario}-${size}`);
  const workDir = runWorkDir(context.workBase, nodeName);
  log(`${scenario} ${size} ${implementation}: starting ${nodeName}`);
  const kubelet = await startImplementation(implementation, {
    cluster,
    admin,
    nodeName,
    workDir,
    profile: context.profile,
    log,
  });
  const namespace = await cluster.createNamespace(`bench-${scenario}`);
  const tracker = new PodTracker();
  tracker.start(admin, namespace);
  const frame = await Frame.open(context, kubelet, scenario === 'soak' ? 5000 : 1000);
  try {
    const outcome = await body({ kubelet, namespace, tracker, frame });
    if (kubelet.heapSnapshot) {
      const path = await kubelet.heapSnapshot();
      if (path) {
        log(`heap snapshot: ${path}`);
        for (const entry of outcome) entry.result.extra.heapSnapshot = path;
      }
    }
    return outcome;
  } finally {
    frame.sampler.stop();
    await tracker.stop();
    await kubelet.stop();
    // A failed cleanup must not throw away the run's numbers; the next run uses a new namespace and node.
    await cleanup(context, namespace, nodeName).catch((error: unknown) =>
      log(`cleanup of ${namespace} and ${nodeName} failed: ${error instanceof Error ? error.message : String(error)}`),
    );
    if (context.profile) log(`profiles and log of ${nodeName}: ${workDir}`);
  }
}

/** Removes a run's pods (forcibly: the virtual kubelet is gone), namespace and node, and waits until they are gone. */
async function cleanup(context: ScenarioContext, namespace: string, nodeName: string): Promise<void> {
  const { admin, log } = context;
  const started = performance.now();
  await admin.call('DELETE', `/apis/apps/v1/namespaces/${namespace}/deployments`, undefined, { allowed: [404] });
  await admin.call('DELETE', `/apis/apps/v1/namespaces/${namespace}/replicasets?propagationPolicy=Orphan`, undefined, {
    allowed: [404],
  });
  for (let attempt = 0; attempt < 60; attempt++) {
    // Deleting thousands of pods can outlast the API server's 60 s request timeout (504); it goes on regardless.
    await admin.call('DELETE', `${podPath(namespace)}?gracePeriodSeconds=0`, undefined, { allowed: [404, 504] });
    const left = await admin.call<{ items: unknown[] }>('GET', `${podPath(namespace)}?limit=1`);
    if (left.body.items.length === 0) break;
    await delay(1000);
  }
  await admin.call('DELETE', `/api/v1/namespaces/${namespace}`, undefined, { allowed: [404, 409] });
  await admin.call('DELETE', `/api/v1/nodes/${nodeName}`, undefined, { allowed: [404] });
  await admin.call('DELETE', `/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/${nodeName}`, undefined, {
    allowed: [404],
  });
  log(`cleaned up ${namespace} and ${nodeName} in ${((performance.now() - started) / 1000).toFixed(1)} s`);
}

function baseResult(
  scenario: ScenarioName,
  size: number,
  kubelet: RunningKubelet,
): Pick<
  RunResult,
  'scenario' | 'size' | 'implementation' | 'description' | 'nodeName' | 'startedAt' | 'extra' | 'notes'
> {
  return {
    scenario,
    size,
    implementation: kubelet.implementation,
    description: kubelet.description,
    nodeName: kubelet.nodeName,
    startedAt: new Date().toISOString(),
    extra: {},
    notes: [],
  };
}

/** Latencies (to − from) of the names present in both maps, in `order`. */
function latencies(order: Iterable<string>, from: Map<string, number>, to: Map<string, number>): number[] {
  const result: number[] = [];
  for (const name of order) {
    const a = from.get(name);
    const b = to.get(name);
    if (a !== undefined && b !== undefined) result.push(Math.max(0, b - a));
  }
  return result;
}

function doneAt(names: Iterable<string>, at: Map<string, number>, origin: number): number[] {
  const result: number[] = [];
  for (const name of names) {
    const t = at.get(name);
    if (t !== undefined) result.push(t - origin);
  }
  return result.sort((a, b) => a - b);
}

function ms(value: number): number {
  return round(value, 1);
}

function roundPercentiles(p: Percentiles): Percentiles {
  return {
    count: p.count,
    p50: ms(p.p50),
    p90: ms(p.p90),
    p99: ms(p.p99),
    max: ms(p.max),
    mean: ms(p.mean),
  };
}

/** A run's measurements, in the shape every scenario whose pods must reach a goal (Running, gone) reports. */
interface GoalRun {
  scenario: ScenarioName;
  size: number;
  kubelet: RunningKubelet;
  frame: Frame;
  completed: boolean;
  pods: number;
  /** When each pod reached the goal, by name. */
  reached: Map<string, number>;
  /** The pods counted, in create order. */
  names: Iterable<string>;
  /** When the measured phase began (the `doneAtMs` origin). */
  origin: number;
  seconds: number;
  latency: number[];
  latencyLabel: string;
  cost: Awaited<ReturnType<Frame['close']>>;
  extra: RunResult['extra'];
  notes: string[];
  series?: RawRun['series'];
}

function goalResult(run: GoalRun): { result: RunResult; raw: RawRun } {
  const done = run.reached.size;
  return {
    result: {
      ...baseResult(run.scenario, run.size, run.kubelet),
      completed: run.completed,
      pods: run.pods,
      done,
      totalSeconds: round(run.seconds, 2),
      podsPerSecond: round(done / run.seconds, 1),
      latencyMs: roundPercentiles(percentiles(run.latency)),
      latency: run.latencyLabel,
      ...run.cost,
      extra: run.extra,
      notes: run.notes,
    },
    raw: {
      latenciesMs: run.latency.map(ms),
      doneAtMs: doneAt(run.names, run.reached, run.origin).map(ms),
      process: run.frame.sampler.samples,
      ...(run.series ? { series: run.series } : {}),
    },
  };
}

function timeoutNotes(context: ScenarioContext, completed: boolean): string[] {
  return completed ? [] : [`timed out after ${context.timeoutMs / 1000} s`];
}

/**
 * `burst`, and `delete` after it when asked: N pods bound directly, then (optionally) all deleted.
 * One process serves both so the 10 000 pods are created once.
 */
export async function runBurst(
  context: ScenarioContext,
  implementation: ImplementationName,
  size: number,
  phases: { burst: boolean; delete: boolean },
): Promise<{ result: RunResult; raw: RawRun }[]> {
  return withRun(context, phases.burst ? 'burst' : 'delete', size, implementation, async (run) => {
    const { kubelet, namespace, tracker, frame } = run;
    const { admin, log } = context;
    const names = Array.from({ length: size }, (_, i) => `p-${String(i).padStart(5, '0')}`);
    const outcome: { result: RunResult; raw: RawRun }[] = [];

    const t0 = performance.now();
    const deadline = t0 + context.timeoutMs;
    const creating = pool(names, CREATE_CONCURRENCY, (name) =>
      createPod(admin, tracker, namespace, benchPod(name, kubelet.nodeName)),
    );
    await creating;
    const createSeconds = (performance.now() - t0) / 1000;
    const completed = await tracker.until(
      () => tracker.running.size >= size,
      deadline,
      () => `burst ${size} ${implementation}: ${tracker.running.size}/${size} Running`,
      log,
    );
    const lastRunning = Math.max(...tracker.running.values(), t0);
    const totalSeconds = completed ? (lastRunning - t0) / 1000 : (performance.now() - t0) / 1000;
    const cost = await frame.close();
    const latency = latencies(names, tracker.sent, tracker.running);
    log(
      `burst ${size} ${implementation}: ${tracker.running.size}/${size} Running in ${totalSeconds.toFixed(1)} s` +
        `${completed ? '' : ' (timed out)'}, p99 ${percentiles(latency).p99.toFixed(0)} ms`,
    );
    if (phases.burst) {
      outcome.push(
        goalResult({
          scenario: 'burst',
          size,
          kubelet,
          frame,
          completed,
          pods: size,
          reached: tracker.running,
          names,
          origin: t0,
          seconds: totalSeconds,
          latency,
          latencyLabel: 'create sent → Running and Ready seen by watch',
          cost,
          extra: { createSeconds: round(createSeconds, 1) },
          notes: timeoutNotes(context, completed),
        }),
      );
    }
    if (!phases.delete) return outcome;

    // Delete what exists, Running or not: a baseline that did not finish still has to clean up.
    await frame.mark();
    const d0 = performance.now();
    const deleteDeadline = d0 + context.timeoutMs;
    const providerSeries: [number, number][] = [];
    let providerEmptyAt: number | undefined;
    let polling = kubelet.servesKubeletApi;
    const poller = (async () => {
      while (polling) {
        const count = await providerPodCount(context.cluster, kubelet);
        if (count !== undefined) {
          providerSeries.push([ms(performance.now() - d0), count]);
          if (count === 0 && providerEmptyAt === undefined) providerEmptyAt = performance.now();
          if (count === 0) return;
        }
        await delay(1000);
      }
    })();
    await pool(names, DELETE_CONCURRENCY, (name) => deletePod(admin, tracker, namespace, name));
    const deleteSendSeconds = (performance.now() - d0) / 1000;
    const allGone = await tracker.until(
      () => tracker.gone.size >= size,
      deleteDeadline,
      () => `delete ${size} ${implementation}: ${tracker.gone.size}/${size} gone`,
      log,
    );
    if (kubelet.servesKubeletApi) {
      await tracker.until(() => providerEmptyAt !== undefined, Math.max(deleteDeadline, performance.now() + 10_000));
    }
    polling = false;
    await poller;
    const lastGone = Math.max(...tracker.gone.values(), d0);
    const deleteSeconds = allGone ? (lastGone - d0) / 1000 : (performance.now() - d0) / 1000;
    const deleteCost = await frame.close();
    const deleteLatency = latencies(names, tracker.deleteSent, tracker.gone);
    log(
      `delete ${size} ${implementation}: ${tracker.gone.size}/${size} gone in ${deleteSeconds.toFixed(1)} s` +
        `${allGone ? '' : ' (timed out)'}`,
    );
    outcome.push(
      goalResult({
        scenario: 'delete',
        size,
        kubelet,
        frame,
        completed: allGone,
        pods: size,
        reached: tracker.gone,
        names,
        origin: d0,
        seconds: deleteSeconds,
        latency: deleteLatency,
        latencyLabel: 'delete sent (default grace) → DELETED seen by watch',
        cost: deleteCost,
        extra: {
          deleteSendSeconds: round(deleteSendSeconds, 1),
          runningBeforeDelete: tracker.running.size,
          ...(providerEmptyAt !== undefined
            ? { providerEmptySeconds: round((providerEmptyAt - d0) / 1000, 1) }
            : kubelet.servesKubeletApi
              ? { providerEmptySeconds: 'not within the timeout' }
              : { providerEmptySeconds: 'no provider' }),
        },
        notes: timeoutNotes(context, allGone),
        series: { providerPods: providerSeries },
      }),
    );
    return outcome;
  });
}

/** `scheduled`: a Deployment of N replicas that kube-scheduler places on the node. */
export async function runScheduled(
  context: ScenarioContext,
  implementation: ImplementationName,
  size: number,
): Promise<{ result: RunResult; raw: RawRun }[]> {
  return withRun(context, 'scheduled', size, implementation, async ({ kubelet, namespace, tracker, frame }) => {
    const { admin, log } = context;
    const pod = benchPod('template', undefined);
    const t0 = performance.now();
    await admin.call('POST', `/apis/apps/v1/namespaces/${namespace}/deployments`, {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'bench' },
      spec: {
        replicas: size,
        selector: { matchLabels: { app: 'bench' } },
        template: {
          metadata: { labels: { app: 'bench' } },
          spec: {
            ...pod.spec,
            // Only this run's node, even if another node is left over.
            affinity: {
              nodeAffinity: {
                requiredDuringSchedulingIgnoredDuringExecution: {
                  nodeSelectorTerms: [
                    { matchFields: [{ key: 'metadata.name', operator: 'In', values: [kubelet.nodeName] }] },
                  ],
                },
              },
            },
          },
        },
      },
    });
    const completed = await tracker.until(
      () => tracker.running.size >= size,
      t0 + context.timeoutMs,
      () => `scheduled ${size} ${implementation}: ${tracker.bound.size} bound, ${tracker.running.size}/${size} Running`,
      log,
    );
    const lastRunning = Math.max(...tracker.running.values(), t0);
    const totalSeconds = completed ? (lastRunning - t0) / 1000 : (performance.now() - t0) / 1000;
    const cost = await frame.close();
    const names = [...tracker.seen.keys()];
    const boundToRunning = latencies(names, tracker.bound, tracker.running);
    const createdToRunning = latencies(names, tracker.seen, tracker.running);
    const lastBound = Math.max(...tracker.bound.values(), t0);
    log(
      `scheduled ${size} ${implementation}: ${tracker.running.size}/${size} Running in ${totalSeconds.toFixed(1)} s` +
        `${completed ? '' : ' (timed out)'}`,
    );
    const created = percentiles(createdToRunning);
    return [
      goalResult({
        scenario: 'scheduled',
        size,
        kubelet,
        frame,
        completed,
        pods: size,
        reached: tracker.running,
        names,
        origin: t0,
        seconds: totalSeconds,
        latency: boundToRunning,
        latencyLabel: 'bound to the node (watch) → Running and Ready (watch)',
        cost,
        extra: {
          lastBoundSeconds: round((lastBound - t0) / 1000, 1),
          createdToRunningP50Ms: ms(created.p50),
          createdToRunningP99Ms: ms(created.p99),
        },
        notes: timeoutNotes(context, completed),
      }),
    ];
  });
}

/** `churn`: 50 pods/s created, each deleted 10 s after its create, for the churn duration. */
export async function runChurn(
  context: ScenarioContext,
  implementation: ImplementationName,
  ratePerSecond: number,
): Promise<{ result: RunResult; raw: RawRun }[]> {
  return withRun(context, 'churn', ratePerSecond, implementation, async ({ kubelet, namespace, tracker, frame }) => {
    const { admin, log } = context;
    const lifetimeMs = 10_000;
    const acked = new Set<string>();
    const lag: [number, number][] = [];
    const inFlight = new Set<Promise<void>>();
    const track = (promise: Promise<void>) => {
      inFlight.add(promise);
      void promise.finally(() => inFlight.delete(promise));
    };
    const t0 = performance.now();
    const sampleLag = setInterval(() => {
      let waiting = 0;
      for (const name of acked) if (!tracker.running.has(name) && !tracker.deleteSent.has(name)) waiting++;
      lag.push([ms(performance.now() - t0), waiting]);
    }, 250);
    let created = 0;
    let failures = 0;
    let lastReport = t0;
    while (performance.now() - t0 < context.churnMs) {
      const due = Math.floor(((performance.now() - t0) * ratePerSecond) / 1000);
      while (created < due) {
        const name = `c-${String(created++).padStart(5, '0')}`;
        track(
          createPod(admin, tracker, namespace, benchPod(name, kubelet.nodeName))
            .then(() => {
              acked.add(name);
              return delay(Math.max(0, (tracker.sent.get(name) ?? 0) + lifetimeMs - performance.now()));
            })
            .then(() => deletePod(admin, tracker, namespace, name))
            .catch(() => {
              failures++;
            }),
        );
      }
      if (performance.now() - lastReport > 10_000) {
        lastReport = performance.now();
        log(
          `churn ${implementation}: ${created} created, ${tracker.running.size} Running, lag ${lag.at(-1)?.[1] ?? 0}`,
        );
      }
      await delay(5);
    }
    const churnSeconds = (performance.now() - t0) / 1000;
    // Let the last pods live out their lifetime and be deleted, then wait for them to go.
    while (inFlight.size > 0) await Promise.race(inFlight);
    const allGone = await tracker.until(() => tracker.gone.size >= created, performance.now() + 60_000);
    clearInterval(sampleLag);
    const cost = await frame.close();
    const names = [...tracker.sent.keys()];
    const latency = latencies(names, tracker.sent, tracker.running);
    const lagValues = lag.filter(([at]) => at <= churnSeconds * 1000).map(([, value]) => value);
    const lagStats = percentiles(lagValues);
    const neverRunning = names.filter((n) => !tracker.running.has(n)).length;
    log(
      `churn ${implementation}: ${created} created, ${tracker.running.size} reached Running, p99 ${percentiles(latency).p99.toFixed(0)} ms, max lag ${lagStats.max}`,
    );
    return [
      goalResult({
        scenario: 'churn',
        size: ratePerSecond,
        kubelet,
        frame,
        completed: neverRunning === 0 && allGone,
        pods: created,
        reached: tracker.running,
        names,
        origin: t0,
        seconds: churnSeconds,
        latency,
        latencyLabel: 'create sent → Running and Ready seen by watch',
        cost,
        extra: {
          lagMax: lagStats.max,
          lagP99: lagStats.p99,
          lagMean: round(lagStats.mean, 1),
          neverRunningBeforeDelete: neverRunning,
          deleteP99Ms: ms(percentiles(latencies(names, tracker.deleteSent, tracker.gone)).p99),
          requestFailures: failures,
        },
        notes: [
          `${ratePerSecond} creates/s for ${round(churnSeconds, 0)} s, each pod deleted ${lifetimeMs / 1000} s after its create; lag = created but not Running (and not yet deleted)`,
          ...(allGone ? [] : ['not every pod was gone 60 s after the last delete']),
        ],
        series: { lag },
      }),
    ];
  });
}

/** `soak`: N pods held for the soak duration, with annotation updates and pod replacements. */
export async function runSoak(
  context: ScenarioContext,
  implementation: ImplementationName,
  size: number,
): Promise<{ result: RunResult; raw: RawRun }[]> {
  return withRun(context, 'soak', size, implementation, async ({ kubelet, namespace, tracker, frame }) => {
    const { admin, log } = context;
    const names = Array.from({ length: size }, (_, i) => `s-${String(i).padStart(5, '0')}`);
    const t0 = performance.now();
    await pool(names, CREATE_CONCURRENCY, (name) =>
      createPod(admin, tracker, namespace, benchPod(name, kubelet.nodeName)),
    );
    const ready = await tracker.until(
      () => tracker.running.size >= size,
      t0 + context.timeoutMs,
      () => `soak ${size} ${implementation}: ${tracker.running.size}/${size} Running`,
      log,
    );
    const fillSeconds = (performance.now() - t0) / 1000;
    // Let the burst's garbage be collected before the reading that counts as "start".
    await delay(30_000);
    await frame.mark();
    const start = frame.sampler.sample();
    const s0 = performance.now();
    let tick = 0;
    let patches = 0;
    let replacements = 0;
    const live = [...names];
    const replaced: string[] = [];
    let lastReport = s0;
    // Per second: 10 annotation updates (the virtual kubelet sees a changed pod and calls the
    // provider's updatePod) and 2 replacements (a graceful delete and a new pod: real status writes).
    while (performance.now() - s0 < context.soakMs) {
      const second = performance.now();
      tick++;
      const work: Promise<unknown>[] = [];
      for (let i = 0; i < 10; i++) {
        const name = live[(tick * 10 + i) % live.length] as string;
        work.push(
          admin
            .call(
              'PATCH',
              podPath(namespace, name),
              { metadata: { annotations: { 'bench.virtual-kubelet.io/tick': String(tick) } } },
              { contentType: 'application/merge-patch+json', allowed: [404] },
            )
            .then(() => patches++),
        );
      }
      for (let i = 0; i < 2; i++) {
        const index = (tick * 2 + i) % live.length;
        const old = live[index] as string;
        const fresh = `r-${String(replacements++).padStart(6, '0')}`;
        live[index] = fresh;
        replaced.push(fresh);
        work.push(deletePod(admin, tracker, namespace, old));
        work.push(createPod(admin, tracker, namespace, benchPod(fresh, kubelet.nodeName)));
      }
      await Promise.allSettled(work);
      if (performance.now() - lastReport > 60_000) {
        lastReport = performance.now();
        const rss = frame.sampler.samples.at(-1)?.rssBytes ?? 0;
        log(
          `soak ${implementation}: ${Math.round((performance.now() - s0) / 1000)} s, RSS ${(rss / 2 ** 20).toFixed(0)} MiB`,
        );
      }
      await delay(Math.max(0, 1000 - (performance.now() - second)));
    }
    const soakSeconds = (performance.now() - s0) / 1000;
    // Same settling time at the end as at the start, so both readings are taken alike.
    await delay(30_000);
    const end = frame.sampler.sample();
    const cost = await frame.close();
    const replacementLatency = latencies(replaced, tracker.sent, tracker.running);
    const startRss = start?.rssBytes ?? 0;
    const endRss = end?.rssBytes ?? 0;
    const growth = startRss > 0 ? ((endRss - startRss) / startRss) * 100 : 0;
    log(
      `soak ${implementation}: RSS ${(startRss / 2 ** 20).toFixed(0)} → ${(endRss / 2 ** 20).toFixed(0)} MiB (${growth.toFixed(1)} %) over ${soakSeconds.toFixed(0)} s`,
    );
    const fill = percentiles(latencies(names, tracker.sent, tracker.running));
    return [
      {
        result: {
          ...baseResult('soak', size, kubelet),
          completed: ready && replacementLatency.length === replaced.length,
          pods: size,
          done: size - names.filter((n) => !tracker.running.has(n)).length,
          totalSeconds: round(soakSeconds, 0),
          podsPerSecond: round(size / fillSeconds, 1),
          latencyMs: roundPercentiles(percentiles(replacementLatency)),
          latency: 'replacement pods: create sent → Running and Ready seen by watch',
          ...cost,
          extra: {
            rssStartMiB: round(startRss / 2 ** 20, 1),
            rssEndMiB: round(endRss / 2 ** 20, 1),
            rssGrowthPercent: round(growth, 1),
            fillSeconds: round(fillSeconds, 1),
            fillP99Ms: ms(fill.p99),
            annotationPatches: patches,
            replacements,
          },
          notes: [
            `held ${size} pods for ${round(soakSeconds / 60, 1)} min; each second 10 annotation patches (→ provider updatePod) and 2 pod replacements (graceful delete + create); RSS read 30 s after the fill and 30 s after the churn`,
          ],
        },
        raw: {
          latenciesMs: replacementLatency.map(ms),
          doneAtMs: doneAt(names, tracker.running, t0).map(ms),
          process: frame.sampler.samples,
        },
      },
    ];
  });
}

/** `streaming`: exec, logs and port-forward through the API server with the real kubectl. */
export async function runStreaming(
  context: ScenarioContext,
  implementation: ImplementationName,
): Promise<{ result: RunResult; raw: RawRun }[]> {
  return withRun(context, 'streaming', 1, implementation, async ({ kubelet, namespace, tracker, frame }) => {
    const { admin, cluster, log } = context;
    await createPod(admin, tracker, namespace, benchPod('stream', kubelet.nodeName));
    await tracker.until(() => tracker.running.has('stream'), performance.now() + 60_000);
    const kubectl = (args: string[]) =>
      [cluster.info.kubectl, ['--kubeconfig', cluster.info.kubeconfig, '-n', namespace, ...args]] as const;
    const notes: string[] = [];
    const extra: Record<string, number | string> = {};

    // One-shot exec: the whole kubectl command, process start included.
    const once: number[] = [];
    let onceOutput = '';
    for (let i = 0; i < 20; i++) {
      const t = performance.now();
      const result = await cluster.kubectl(['-n', namespace, 'exec', 'stream', '--', 'echo', 'x']);
      once.push(performance.now() - t);
      onceOutput = `stdout "${result.stdout.trim()}", exit ${result.code}`;
    }
    extra.execOnceP50Ms = ms(percentiles(once).p50);
    extra.execOnceOutput = onceOutput;

    // A long-lived `kubectl exec -i -- cat`: one line out, the same line back.
    const rtt = await interactiveRoundTrips(kubectl(['exec', '-i', 'stream', '--', 'cat']), 200);
    if (rtt.error) notes.push(`exec session: ${rtt.error}`);
    const rttStats = percentiles(rtt.samples);
    extra.execRttP50Ms = ms(rttStats.p50);
    extra.execRttP99Ms = ms(rttStats.p99);

    const execBytes = 64 * 2 ** 20;
    const execThroughput = await pipeThroughput(kubectl(['exec', '-i', 'stream', '--', 'cat']), execBytes);
    extra.execMBps = execThroughput.mbps;
    if (execThroughput.error) notes.push(`exec throughput: ${execThroughput.error}`);

    // Logs: the mock writes one short line per second, so this is request latency more than bandwidth.
    const logTimes: number[] = [];
    let logBytes = 0;
    for (let i = 0; i < 20; i++) {
      const t = performance.now();
      const response = await admin.send('GET', `${podPath(namespace, 'stream')}/log?container=app`);
      logTimes.push(performance.now() - t);
      logBytes += Buffer.byteLength(response.text);
      if (response.status !== 200) notes.push(`logs: HTTP ${response.status}`);
    }
    const logSeconds = logTimes.reduce((a, b) => a + b, 0) / 1000;
    extra.logsP50Ms = ms(percentiles(logTimes).p50);
    extra.logsMBps = round(logBytes / 2 ** 20 / logSeconds, 3);
    extra.logsBytesPerRequest = Math.round(logBytes / 20);

    const forward = await portForwardThroughput(kubectl(['port-forward', 'pod/stream', ':7000']), 64 * 2 ** 20);
    extra.portForwardMBps = forward.mbps;
    extra.portForwardRttP50Ms = ms(percentiles(forward.rtt).p50);
    if (forward.error) notes.push(`port-forward: ${forward.error}`);

    const cost = await frame.close();
    log(
      `streaming ${implementation}: exec rtt p50 ${extra.execRttP50Ms} ms, exec ${extra.execMBps} MB/s, port-forward ${extra.portForwardMBps} MB/s`,
    );
    return [
      {
        result: {
          ...baseResult('streaming', 1, kubelet),
          completed: notes.length === 0,
          pods: 1,
          done: 1,
          totalSeconds: round((performance.now() - frame.origin) / 1000, 1),
          podsPerSecond: 0,
          latencyMs: roundPercentiles(rttStats),
          latency: 'one line through `kubectl exec -i … -- cat` and back',
          ...cost,
          extra,
          notes,
        },
        raw: { latenciesMs: rtt.samples.map(ms), doneAtMs: [], process: frame.sampler.samples },
      },
    ];
  });
}

type Command = readonly [string, readonly string[]];

/** Resolves when a stream can take more data, or will never again (closed or failed). */
function drained(stream: NodeJS.WritableStream & { destroyed: boolean }): Promise<void> {
  if (stream.destroyed) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      stream.off('drain', done);
      stream.off('close', done);
      stream.off('error', done);
      resolve();
    };
    stream.on('drain', done);
    stream.on('close', done);
    stream.on('error', done);
  });
}

/** Writes a line to a long-lived command and times its echo, `count` times. */
async function interactiveRoundTrips(command: Command, count: number): Promise<{ samples: number[]; error?: string }> {
  const child = spawn(command[0], [...command[1]], { stdio: ['pipe', 'pipe', 'pipe'] });
  // kubectl may exit early (the Go mock's exec returns at once): its stdin then fails with EPIPE.
  child.stdin.on('error', () => {});
  const samples: number[] = [];
  let buffered = '';
  let stderr = '';
  let waiter: (() => void) | undefined;
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (chunk: string) => {
    buffered += chunk;
    waiter?.();
  });
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  try {
    for (let i = 0; i < count; i++) {
      const line = `ping-${i}\n`;
      const t = performance.now();
      child.stdin.write(line);
      const deadline = t + 10_000;
      while (!buffered.includes(line)) {
        if (performance.now() > deadline || child.exitCode !== null) {
          return {
            samples,
            error: `no echo of line ${i} within 10 s${stderr ? `: ${stderr.trim().slice(0, 200)}` : ''}`,
          };
        }
        await Promise.race([new Promise<void>((resolve) => (waiter = resolve)), delay(100), exited]);
      }
      samples.push(performance.now() - t);
      buffered = buffered.slice(buffered.indexOf(line) + line.length);
    }
    return { samples };
  } finally {
    child.stdin.end();
    child.kill('SIGTERM');
    await exited;
  }
}

/** Pipes `bytes` through a command that echoes stdin (exec cat) and times the full echo. */
async function pipeThroughput(command: Command, bytes: number): Promise<{ mbps: number; error?: string }> {
  const child = spawn(command[0], [...command[1]], { stdio: ['pipe', 'pipe', 'pipe'] });
  child.stdin.on('error', () => {});
  let received = 0;
  let stderr = '';
  // The clock starts at the first echoed chunk, so kubectl's own start-up is not counted as streaming.
  let t = performance.now();
  let firstChunk = 0;
  const done = new Promise<void>((resolve) => {
    child.stdout.on('data', (chunk: Buffer) => {
      if (received === 0) {
        t = performance.now();
        firstChunk = chunk.length;
      }
      received += chunk.length;
      if (received >= bytes) resolve();
    });
    child.once('exit', () => resolve());
  });
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const chunk = Buffer.alloc(64 * 1024, 0x61);
  const writer = (async () => {
    for (let sent = 0; sent < bytes; sent += chunk.length) {
      if (child.stdin.destroyed) return;
      if (!child.stdin.write(chunk)) await drained(child.stdin);
    }
  })().catch(() => {});
  await Promise.race([done, delay(60_000)]);
  const seconds = (performance.now() - t) / 1000;
  child.stdin.destroy();
  child.kill('SIGTERM');
  await writer;
  const mbps = round((Math.min(received, bytes) - firstChunk) / 2 ** 20 / seconds, 2);
  if (received < bytes) {
    return { mbps, error: `echoed ${received} of ${bytes} bytes${stderr ? `: ${stderr.trim().slice(0, 200)}` : ''}` };
  }
  return { mbps };
}

/** Runs `kubectl port-forward`, then times small round trips and a bulk echo through the local port. */
async function portForwardThroughput(
  command: Command,
  bytes: number,
): Promise<{ mbps: number; rtt: number[]; error?: string }> {
  const child = spawn(command[0], [...command[1]], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  child.stderr.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  try {
    const start = performance.now();
    let port: number | undefined;
    while (!port) {
      port = Number(/Forwarding from 127\.0\.0\.1:(\d+)/.exec(output)?.[1]) || undefined;
      if (performance.now() - start > 20_000 || child.exitCode !== null) {
        return { mbps: 0, rtt: [], error: `kubectl port-forward did not start: ${output.trim().slice(0, 200)}` };
      }
      await delay(50);
    }
    const socket = await new Promise<Socket>((resolve, reject) => {
      const s = connect(port as number, '127.0.0.1', () => resolve(s));
      s.once('error', reject);
    });
    let received = 0;
    let waiter: (() => void) | undefined;
    socket.on('data', (chunk: Buffer) => {
      received += chunk.length;
      waiter?.();
    });
    const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    const waitFor = async (target: number, timeoutMs: number) => {
      const deadline = performance.now() + timeoutMs;
      while (received < target) {
        if (performance.now() > deadline || socket.destroyed) return false;
        await Promise.race([new Promise<void>((resolve) => (waiter = resolve)), delay(100), closed]);
      }
      return true;
    };
    const rtt: number[] = [];
    for (let i = 0; i < 50; i++) {
      const t = performance.now();
      socket.write('x'.repeat(16));
      if (!(await waitFor(received + 16, 10_000))) {
        socket.destroy();
        return { mbps: 0, rtt, error: `no echo after ${i} round trips (${received} bytes back)` };
      }
      rtt.push(performance.now() - t);
    }
    const base = received;
    const t = performance.now();
    const chunk = Buffer.alloc(64 * 1024, 0x62);
    for (let sent = 0; sent < bytes; sent += chunk.length) {
      if (socket.destroyed) break;
      if (!socket.write(chunk)) await drained(socket);
    }
    const ok = await waitFor(base + bytes, 120_000);
    const seconds = (performance.now() - t) / 1000;
    socket.destroy();
    return {
      mbps: round((received - base) / 2 ** 20 / seconds, 2),
      rtt,
      ...(ok ? {} : { error: `echoed ${received - base} of ${bytes} bytes` }),
    };
  } catch (error) {
    return { mbps: 0, rtt: [], error: error instanceof Error ? error.message : String(error) };
  } finally {
    child.kill('SIGTERM');
  }
}
