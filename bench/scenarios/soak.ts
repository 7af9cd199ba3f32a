import { setTimeout as delay } from 'node:timers/promises';
import type { ImplementationName } from '../baselines.ts';
import { percentiles } from '../measurement.ts';
import {
  baseResult,
  benchPod,
  CREATE_CONCURRENCY,
  createPod,
  deletePod,
  doneAt,
  latencies,
  ms,
  podPath,
  pool,
  type RawRun,
  type RunResult,
  round,
  roundPercentiles,
  type ScenarioContext,
  withRun,
} from './harness.ts';

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
    // One reading against one is at the mercy of where the garbage collector is (this process's
    // RSS moves by 20 MiB within a minute): the medians of the first and the last window of the
    // soak say the same more steadily. The window is 5 minutes, or a sixth of a shorter soak.
    const windowMs = Math.min(300_000, (soakSeconds * 1000) / 6);
    const startAt = start?.atMs ?? 0;
    const endAt = end?.atMs ?? 0;
    const rssIn = (from: number, to: number) =>
      frame.sampler.samples.filter((r) => r.atMs >= from && r.atMs <= to).map((r) => r.rssBytes);
    const firstMedian = percentiles(rssIn(startAt, startAt + windowMs)).p50;
    const lastMedian = percentiles(rssIn(endAt - 30_000 - windowMs, endAt - 30_000)).p50;
    const medianGrowth = firstMedian > 0 ? ((lastMedian - firstMedian) / firstMedian) * 100 : 0;
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
            rssMedianFirstMiB: round(firstMedian / 2 ** 20, 1),
            rssMedianLastMiB: round(lastMedian / 2 ** 20, 1),
            rssMedianGrowthPercent: round(medianGrowth, 1),
            fillSeconds: round(fillSeconds, 1),
            fillP99Ms: ms(fill.p99),
            annotationPatches: patches,
            replacements,
          },
          notes: [
            `held ${size} pods for ${round(soakSeconds / 60, 1)} min; each second 10 annotation patches (→ provider updatePod) and 2 pod replacements (graceful delete + create); RSS read 30 s after the fill and 30 s after the churn; the medians of the soak's first and last ${round(windowMs / 60_000, 1)} minutes beside`,
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
