/**
 * What every benchmark scenario shares: the run frame (process, control plane and API request
 * measurements), the pod tracker that timestamps what the watch shows, pod creation and deletion
 * with bounded concurrency, clean-up, and the result shape.
 */

import { readFileSync } from 'node:fs';
import { setTimeout as delay } from 'node:timers/promises';
import type { Pod } from 'kubernetes-types/core/v1.js';
import type { TestCluster } from '../../tools/kube/testing.ts';
import { type ApiClient, ApiError } from '../api.ts';
import {
  type ImplementationName,
  nodeNameFor,
  type RunningKubelet,
  runWorkDir,
  type StartContext,
  startImplementation,
} from '../baselines.ts';
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
  splitThrottled,
  subtractTotals,
} from '../measurement.ts';
import type { ScenarioName } from './index.ts';
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
    /**
     * What the implementation itself counted sending during the run (ours: its
     * rest_client_requests_total; the ceiling: its own counters), 429 answers apart, watches left
     * out: unlike `others`, no other client of a shared cluster is in it. Absent for Go.
     */
    kubelet?: Record<string, number>;
    kubeletDetail?: RequestTotals;
    /** Its requests the API server answered 429 (flow control), by `VERB resource`; the client retried them. */
    kubeletThrottled?: RequestTotals;
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

export const CREATE_CONCURRENCY = 32;
export const DELETE_CONCURRENCY = 32;

/** A pod for the mock: one container, no service-account token (the Go mock ignores volumes; ours would fetch it). */
export function benchPod(name: string, nodeName: string | undefined): Pod {
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

export function isRunning(pod: Pod): boolean {
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
export async function pool<T>(items: readonly T[], concurrency: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const item = items[next++] as T;
      await fn(item);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
}

export function podPath(namespace: string, name = ''): string {
  return `/api/v1/namespaces/${namespace}/pods${name ? `/${name}` : ''}`;
}

export async function createPod(admin: ApiClient, tracker: PodTracker, namespace: string, pod: Pod): Promise<void> {
  const name = pod.metadata?.name ?? '';
  tracker.sent.set(name, performance.now());
  await admin.call('POST', podPath(namespace), pod);
}

export async function deletePod(admin: ApiClient, tracker: PodTracker, namespace: string, name: string): Promise<void> {
  tracker.deleteSent.set(name, performance.now());
  await admin.call('DELETE', podPath(namespace, name), undefined, { allowed: [404] });
}

export function clusterPids(cluster: TestCluster): Record<string, number> {
  try {
    const state = JSON.parse(readFileSync(`${cluster.info.dir}/state.json`, 'utf8')) as {
      pids: Record<string, number>;
    };
    return state.pids;
  } catch {
    return {};
  }
}

export function cpuOf(pids: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(pids).map(([name, pid]) => [name, readProcess(pid)?.cpuSeconds ?? 0]));
}

/** The measurement frame shared by every run: process, control plane, API requests. */
export class Frame {
  readonly origin = performance.now();
  readonly sampler: ProcessSampler;
  readonly #context: ScenarioContext;
  readonly #pids: Record<string, number>;
  readonly #kubelet: RunningKubelet;
  #ownBefore: RequestTotals | undefined;
  #cpuBefore: Record<string, number> = {};
  #requestsBefore: RequestTotals = {};
  #benchBefore = new Map<string, number>();
  #processCpuBefore = 0;
  #benchCpuBefore = 0;

  private constructor(context: ScenarioContext, kubelet: RunningKubelet, intervalMs: number) {
    this.#context = context;
    this.#pids = { ...clusterPids(context.cluster), ...kubelet.helperPids };
    this.#kubelet = kubelet;
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
    this.#ownBefore = (await this.#kubelet.ownRequests?.())?.answers;
    this.#benchBefore = new Map(this.#context.admin.counts);
    this.#cpuBefore = cpuOf(this.#pids);
    this.#processCpuBefore = this.sampler.sample()?.cpuSeconds ?? 0;
    this.#benchCpuBefore = benchCpu();
  }

  /** What the phase since the last mark cost. */
  async close(): Promise<Pick<RunResult, 'peakRssBytes' | 'cpuSeconds' | 'controlPlaneCpuSeconds' | 'requests'>> {
    const reading = this.sampler.sample();
    const requests = diffTotals(this.#requestsBefore, await scrapeApiserverRequests(this.#context.admin));
    const ownAfter = this.#ownBefore ? (await this.#kubelet.ownRequests?.())?.answers : undefined;
    const own = ownAfter && this.#ownBefore ? splitThrottled(diffTotals(this.#ownBefore, ownAfter)) : undefined;
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
        ...(own ? { kubelet: byVerb(own.sent), kubeletDetail: own.sent, kubeletThrottled: own.throttled } : {}),
      },
    };
  }
}

export function benchCpu(): number {
  const usage = process.cpuUsage();
  return (usage.user + usage.system) / 1e6;
}

export function round(value: number, digits: number): number {
  const scale = 10 ** digits;
  return Math.round(value * scale) / scale;
}

/** Starts the implementation, a namespace and the tracker; runs `body`; always cleans up. */
export async function withRun(
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
  /** Starts the implementation another way than the mock's (a scenario with a provider of its own). */
  start: (context: StartContext) => Promise<RunningKubelet> = (c) => startImplementation(implementation, c),
): Promise<{ result: RunResult; raw: RawRun }[]> {
  const { admin, cluster, log } = context;
  const nodeName = nodeNameFor(implementation, `${scenario}-${size}`);
  const workDir = runWorkDir(context.workBase, nodeName);
  log(`${scenario} ${size} ${implementation}: starting ${nodeName}`);
  const kubelet = await start({ cluster, admin, nodeName, workDir, profile: context.profile, log });
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
export async function cleanup(context: ScenarioContext, namespace: string, nodeName: string): Promise<void> {
  const { admin, log } = context;
  const started = performance.now();
  await admin.call('DELETE', `/apis/apps/v1/namespaces/${namespace}/deployments`, undefined, { allowed: [404] });
  await admin.call('DELETE', `/apis/apps/v1/namespaces/${namespace}/replicasets?propagationPolicy=Orphan`, undefined, {
    allowed: [404],
  });
  for (let attempt = 0; attempt < 60; attempt++) {
    // Deleting thousands of pods can outlast the API server's 60 s request timeout (504), or the
    // connection is dropped under that load ("socket hang up"); the deletion goes on regardless,
    // and the loop asks again until no pod is left.
    await admin
      .call('DELETE', `${podPath(namespace)}?gracePeriodSeconds=0`, undefined, { allowed: [404, 504] })
      .catch((error: unknown) => {
        if (error instanceof ApiError && error.status !== 0) throw error;
      });
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

export function baseResult(
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
export function latencies(order: Iterable<string>, from: Map<string, number>, to: Map<string, number>): number[] {
  const result: number[] = [];
  for (const name of order) {
    const a = from.get(name);
    const b = to.get(name);
    if (a !== undefined && b !== undefined) result.push(Math.max(0, b - a));
  }
  return result;
}

export function doneAt(names: Iterable<string>, at: Map<string, number>, origin: number): number[] {
  const result: number[] = [];
  for (const name of names) {
    const t = at.get(name);
    if (t !== undefined) result.push(t - origin);
  }
  return result.sort((a, b) => a - b);
}

export function ms(value: number): number {
  return round(value, 1);
}

export function roundPercentiles(p: Percentiles): Percentiles {
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
export interface GoalRun {
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

export function goalResult(run: GoalRun): { result: RunResult; raw: RawRun } {
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

export function timeoutNotes(context: ScenarioContext, completed: boolean): string[] {
  return completed ? [] : [`timed out after ${context.timeoutMs / 1000} s`];
}
