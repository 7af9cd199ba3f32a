/**
 * Scenarios that compare a provider with its backend driven directly (nomad, kubernetes) run the
 * direct path once before ours and once after, on the same backend in the same run, and compare
 * our rate with the mean of the two: what they report about the direct runs is the same.
 */
import type { Percentiles } from '../measurement.ts';
import { round } from './harness.ts';

/** One direct run: the same pods sent straight to the backend until they run, then removed. */
export interface DirectRun {
  done: boolean;
  running: number;
  seconds: number;
  latency: Percentiles;
}

/** The mean rate of the two direct runs, in pods per second. */
export function directRate(before: DirectRun, after: DirectRun): number {
  return (before.running / before.seconds + after.running / after.seconds) / 2;
}

/** The result's `extra` fields for the direct runs beside ours; `latencyLabel` says what a direct latency measures. */
export function directComparisonExtra(
  before: DirectRun,
  after: DirectRun,
  ourRate: number,
  latencyLabel: string,
): Record<string, number | string> {
  const rate = directRate(before, after);
  return {
    directBeforeSeconds: round(before.seconds, 2),
    directBeforeP50Ms: round(before.latency.p50, 1),
    directBeforeP99Ms: round(before.latency.p99, 1),
    directAfterSeconds: round(after.seconds, 2),
    directAfterP50Ms: round(after.latency.p50, 1),
    directAfterP99Ms: round(after.latency.p99, 1),
    directPodsPerSecond: round(rate, 2),
    directLatency: latencyLabel,
    oursOverDirectRate: round(ourRate / rate, 2),
  };
}
