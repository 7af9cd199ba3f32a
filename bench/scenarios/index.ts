/**
 * The benchmark scenarios, one file each. Each run starts one implementation on a fresh node and a
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
 * | `fargate`   | N pods through `--provider fargate` against moto, and the same tasks driven directly; AWS calls per pod |
 * | `nomad`     | N pods through the Nomad provider on a real Nomad, beside the same jobs sent straight to Nomad     |
 * | `kubernetes` | N pods through the Kubernetes provider into a remote cluster, beside the same pods created there |
 */
import type { ImplementationName } from '../baselines.ts';

export const SCENARIOS = [
  'burst',
  'scheduled',
  'churn',
  'delete',
  'streaming',
  'soak',
  'fargate',
  'nomad',
  'kubernetes',
] as const;
export type ScenarioName = (typeof SCENARIOS)[number];

/** Which implementations a scenario can measure. */
export function supports(scenario: ScenarioName, implementation: ImplementationName): boolean {
  // The ceiling has no kubelet API; the soak's targets are ours (the baselines cannot reach 10 000 pods in time).
  if (scenario === 'streaming') return implementation !== 'ceiling';
  if (scenario === 'soak') return implementation.startsWith('ours');
  // A provider of ours against its backend; the direct baseline runs inside the scenario.
  if (scenario === 'fargate') return implementation === 'ours';
  // Its own comparison (straight to Nomad) runs inside ours' run.
  if (scenario === 'nomad') return implementation === 'ours';
  if (scenario === 'kubernetes') return implementation === 'ours';
  return true;
}

export { runBurst } from './burst.ts';
export { runChurn } from './churn.ts';
export { runFargate } from './fargate.ts';
export type { RawRun, RunResult, ScenarioContext } from './harness.ts';
export { PodTracker } from './harness.ts';
export { runKubernetes } from './kubernetes.ts';
export { runNomad } from './nomad.ts';
export { runScheduled } from './scheduled.ts';
export { runSoak } from './soak.ts';
export { runStreaming } from './streaming.ts';
