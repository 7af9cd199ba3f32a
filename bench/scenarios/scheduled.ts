import type { ImplementationName } from '../baselines.ts';
import { percentiles } from '../measurement.ts';
import {
  benchPod,
  goalResult,
  latencies,
  ms,
  type RawRun,
  type RunResult,
  round,
  type ScenarioContext,
  timeoutNotes,
  withRun,
} from './harness.ts';

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
