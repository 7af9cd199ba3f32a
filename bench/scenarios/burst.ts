import { setTimeout as delay } from 'node:timers/promises';
import { type ImplementationName, providerPodCount } from '../baselines.ts';
import { liveHeapBytes } from '../heap.ts';
import { percentiles } from '../measurement.ts';
import { startLatencyProbe } from '../probe.ts';
import {
  benchPod,
  CREATE_CONCURRENCY,
  createPod,
  DELETE_CONCURRENCY,
  deletePod,
  goalResult,
  latencies,
  ms,
  pool,
  type RawRun,
  type RunResult,
  round,
  type ScenarioContext,
  timeoutNotes,
  withRun,
} from './harness.ts';

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

    // With --profile: the live heap before the pods and once they all run, for the heap per cached pod.
    const heapBefore = kubelet.heapSnapshot ? await kubelet.heapSnapshot() : undefined;
    // Writing the snapshot is not the burst's CPU (peak RSS with --profile includes it, though).
    if (heapBefore) await frame.mark();
    // Another client's view of the API server during the burst (bench/probe.ts).
    const probe = phases.burst ? await startLatencyProbe(admin, namespace) : undefined;
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
    const probed = await probe?.stop();
    const lastRunning = Math.max(...tracker.running.values(), t0);
    const totalSeconds = completed ? (lastRunning - t0) / 1000 : (performance.now() - t0) / 1000;
    const cost = await frame.close();
    const heapAfter = heapBefore && kubelet.heapSnapshot ? await kubelet.heapSnapshot() : undefined;
    const heapPerPodBytes =
      heapBefore && heapAfter && tracker.running.size > 0
        ? Math.round((liveHeapBytes(heapAfter) - liveHeapBytes(heapBefore)) / tracker.running.size)
        : undefined;
    if (heapPerPodBytes !== undefined)
      log(`burst ${size} ${implementation}: ${heapPerPodBytes} bytes of live heap per pod`);
    const latency = latencies(names, tracker.sent, tracker.running);
    log(
      `burst ${size} ${implementation}: ${tracker.running.size}/${size} Running in ${totalSeconds.toFixed(1)} s` +
        `${completed ? '' : ' (timed out)'}, p99 ${percentiles(latency).p99.toFixed(0)} ms` +
        `${probed ? `; a second client's GET p99 ${probed.latencyMs.p99.toFixed(0)} ms (${probed.latencyMs.count} GETs, ${probed.refused} refused)` : ''}`,
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
          extra: {
            createSeconds: round(createSeconds, 1),
            ...(heapPerPodBytes !== undefined ? { heapPerPodBytes } : {}),
            ...(probed
              ? {
                  probeGets: probed.latencyMs.count,
                  probeGetP50Ms: ms(probed.latencyMs.p50),
                  probeGetP99Ms: ms(probed.latencyMs.p99),
                  probeGetMaxMs: ms(probed.latencyMs.max),
                  probeRefused: probed.refused,
                }
              : {}),
          },
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
    // Every answer is the whole PodList (megabytes at 10 000 pods), which both processes pay for:
    // asked every second it took a visible share of the delete phase's CPU on both sides. So it
    // is asked every 5 s while the API still has pods, and every 250 ms once it has none.
    const poller = (async () => {
      let askedAt = Number.NEGATIVE_INFINITY;
      while (polling) {
        const every = tracker.gone.size >= size ? 250 : 5000;
        if (performance.now() - askedAt >= every) {
          askedAt = performance.now();
          const count = await providerPodCount(context.cluster, kubelet);
          if (count !== undefined) {
            providerSeries.push([ms(performance.now() - d0), count]);
            if (count === 0) {
              providerEmptyAt ??= performance.now();
              return;
            }
          }
        }
        await delay(250);
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
