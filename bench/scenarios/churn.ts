import { setTimeout as delay } from 'node:timers/promises';
import type { ImplementationName } from '../baselines.ts';
import { percentiles } from '../measurement.ts';
import {
  benchPod,
  createPod,
  deletePod,
  goalResult,
  latencies,
  ms,
  type RawRun,
  type RunResult,
  round,
  type ScenarioContext,
  withRun,
} from './harness.ts';

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
