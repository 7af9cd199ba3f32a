/**
 * Runs one container probe with the kubelet's timing: the first check after
 * `initialDelaySeconds`, then every `periodSeconds`, each bounded by `timeoutSeconds`; the result
 * flips only after `successThreshold` successes or `failureThreshold` failures in a row.
 */
import type { Probe } from 'kubernetes-types/core/v1.js';

export type ProbeKind = 'startup' | 'liveness' | 'readiness';

export interface ProbeOutcome {
  ok: boolean;
  /** Why it failed, for the `Unhealthy` event. */
  message?: string;
}

/** Performs one check; must honour the signal (the probe timeout). */
export type ProbeCheck = (signal: AbortSignal) => Promise<ProbeOutcome>;

export interface ProbeTiming {
  initialDelayMs: number;
  periodMs: number;
  timeoutMs: number;
  successThreshold: number;
  failureThreshold: number;
}

/** The probe's timing with the API's defaults filled in. */
export function probeTiming(probe: Probe): ProbeTiming {
  return {
    initialDelayMs: (probe.initialDelaySeconds ?? 0) * 1000,
    periodMs: Math.max(1, probe.periodSeconds ?? 10) * 1000,
    timeoutMs: Math.max(1, probe.timeoutSeconds ?? 1) * 1000,
    successThreshold: Math.max(1, probe.successThreshold ?? 1),
    failureThreshold: Math.max(1, probe.failureThreshold ?? 3),
  };
}

export class ProbeWorker {
  readonly kind: ProbeKind;
  readonly #timing: ProbeTiming;
  readonly #check: ProbeCheck;
  readonly #onChange: (healthy: boolean, message: string | undefined) => void;
  #timer: NodeJS.Timeout | undefined;
  #controller: AbortController | undefined;
  #successes = 0;
  #failures = 0;
  /** The current verdict: liveness starts healthy; readiness and startup start unproven. */
  healthy: boolean;
  stopped = false;

  constructor(
    kind: ProbeKind,
    probe: Probe,
    check: ProbeCheck,
    onChange: (healthy: boolean, message: string | undefined) => void,
  ) {
    this.kind = kind;
    this.#timing = probeTiming(probe);
    this.#check = check;
    this.#onChange = onChange;
    this.healthy = kind === 'liveness';
  }

  /** Starts checking; the first check comes after the initial delay. */
  start(): void {
    this.#schedule(this.#timing.initialDelayMs);
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.#timer);
    this.#controller?.abort();
  }

  #schedule(delay: number): void {
    if (this.stopped) return;
    this.#timer = setTimeout(() => void this.#run(), delay);
    this.#timer.unref();
  }

  async #run(): Promise<void> {
    const started = Date.now();
    this.#controller = new AbortController();
    const timer = setTimeout(() => this.#controller?.abort(new Error('timeout')), this.#timing.timeoutMs);
    let outcome: ProbeOutcome;
    try {
      outcome = await this.#check(this.#controller.signal);
      if (this.#controller.signal.aborted)
        outcome = { ok: false, message: `${this.kind} probe timed out after ${this.#timing.timeoutMs / 1000}s` };
    } catch (error) {
      outcome = {
        ok: false,
        message: this.#controller.signal.aborted ? `${this.kind} probe timed out` : (error as Error).message,
      };
    } finally {
      clearTimeout(timer);
    }
    if (this.stopped) return;
    if (outcome.ok) {
      this.#failures = 0;
      this.#successes++;
      if (!this.healthy && this.#successes >= this.#timing.successThreshold) {
        this.healthy = true;
        this.#onChange(true, undefined);
      }
    } else {
      this.#successes = 0;
      this.#failures++;
      if (this.#failures >= this.#timing.failureThreshold) {
        this.#failures = 0;
        // Readiness reports a change only; a failed liveness or startup probe is news every time
        // (the container gets restarted).
        if (this.kind !== 'readiness' || this.healthy) {
          this.healthy = false;
          this.#onChange(false, outcome.message);
        }
      }
    }
    // A startup probe stops after its first success; the others go on.
    if (this.kind === 'startup' && this.healthy) return;
    this.#schedule(Math.max(0, this.#timing.periodMs - (Date.now() - started)));
  }
}
