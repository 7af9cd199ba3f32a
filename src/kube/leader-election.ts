/**
 * Leader election on a coordination.k8s.io Lease, with client-go's semantics (tools/leaderelection):
 *
 * - A candidate takes the lease when it is free (no holder: released) or expired: its holder has
 *   not renewed it for `leaseDurationSeconds`, measured on the candidate's own clock from the
 *   moment it saw the last change, never from the holder's `renewTime` (so clock skew between
 *   machines does not matter, only their rates).
 * - Every write is an update of the version last read (optimistic concurrency), so two candidates
 *   racing for an expired lease cannot both win; taking it over increments `leaseTransitions`.
 * - The leader renews every retry period. It stops leading when a renewal meets another holder, or
 *   when no renewal has succeeded for the renew deadline — which is shorter than the lease
 *   duration, so it has stopped before anyone else may take over.
 * - On a clean stop the leader releases the lease (no holder, 1 s duration), and a waiting
 *   candidate takes over at once instead of after the lease duration.
 *
 * Unlike client-go, a candidate also watches the lease, so it notices a release (or a renewal)
 * within milliseconds rather than at its next poll.
 *
 * Like client-go this is not fencing: a leader that is paused longer than the lease duration (and
 * not just cut off) can still write after a successor took over. Deployments should keep the
 * defaults' ratio between lease duration and renew deadline.
 */
import type { Lease } from 'kubernetes-types/coordination/v1.js';
import type { Logger } from 'pino';
import { errorMessage, isAlreadyExists, isConflict, isNotFound } from '../errors.ts';
import { silentLogger } from '../log.ts';
import { Wakeup } from '../util/sleep.ts';
import type { KubeClient } from './client.ts';
import { followObject } from './follow-object.ts';
import { Leases } from './resources.ts';
import { microTime } from './time.ts';

/** The calls leader election makes; `KubeClient` has them, tests pass fakes. */
export type LeaseClient = Pick<KubeClient, 'get' | 'create' | 'replace' | 'watch'>;

export interface LeaderElectionOptions {
  client: LeaseClient;
  /** Where the Lease lives. */
  namespace: string;
  /** The Lease's name: one per thing elected (here, per node). */
  name: string;
  /** This candidate, unique among the replicas: client-go uses `<hostname>_<uuid>`. */
  identity: string;
  /** How long a lease is valid without renewal. Default 15 s. */
  leaseDurationMs?: number;
  /** The leader gives up when no renewal succeeded for this long. Default 10 s. */
  renewDeadlineMs?: number;
  /** How often the leader renews and a candidate retries. Default 2 s. */
  retryPeriodMs?: number;
  logger?: Logger;
}

/** client-go's JitterFactor: a candidate retries after between 1 and 2.2 retry periods. */
const JITTER_FACTOR = 1.2;

/** Why leading ended, from {@link LeaderElector.lead}. */
export type LeadershipEnd = 'stopped' | 'lost';

export class LeaderElector {
  readonly #options: LeaderElectionOptions;
  readonly #client: LeaseClient;
  readonly #logger: Logger;
  readonly leaseDurationMs: number;
  readonly renewDeadlineMs: number;
  readonly retryPeriodMs: number;
  /** The lease as last read or written. */
  #observed: Lease | undefined;
  /** Local time at which the observed record last changed. */
  #observedAt = 0;
  #leading = false;
  #failures = 0;
  readonly #changed = new Wakeup();
  /** Times this candidate became leader, for metrics. */
  acquisitions = 0;

  constructor(options: LeaderElectionOptions) {
    this.#options = options;
    this.#client = options.client;
    this.#logger = options.logger ?? silentLogger();
    this.leaseDurationMs = options.leaseDurationMs ?? 15_000;
    this.renewDeadlineMs = options.renewDeadlineMs ?? 10_000;
    this.retryPeriodMs = options.retryPeriodMs ?? 2_000;
    if (this.leaseDurationMs <= this.renewDeadlineMs) {
      throw new RangeError('the lease duration must be longer than the renew deadline');
    }
    if (this.renewDeadlineMs <= this.retryPeriodMs * JITTER_FACTOR) {
      throw new RangeError(`the renew deadline must be longer than ${JITTER_FACTOR} retry periods`);
    }
  }

  get identity(): string {
    return this.#options.identity;
  }

  /** `namespace/name` of the Lease. */
  get lease(): string {
    return `${this.#options.namespace}/${this.#options.name}`;
  }

  get isLeader(): boolean {
    return this.#leading;
  }

  /** The holder last observed ('' when the lease is free or unknown). */
  get leader(): string {
    return this.#observed?.spec?.holderIdentity ?? '';
  }

  /** `leaseTransitions` last observed. */
  get transitions(): number {
    return this.#observed?.spec?.leaseTransitions ?? 0;
  }

  /**
   * Waits until this candidate holds the lease. Resolves true once it does, false if `signal`
   * aborts first.
   */
  async acquire(signal: AbortSignal): Promise<boolean> {
    if (this.#leading) return true;
    const watching = new AbortController();
    const stopWatching = () => watching.abort();
    signal.addEventListener('abort', stopWatching, { once: true });
    void this.#watch(AbortSignal.any([signal, watching.signal]));
    this.#logger.info(`waiting to acquire the leader lease ${this.lease} as ${this.identity}`);
    let reportedHolder: string | undefined;
    let nextPollAt = 0;
    try {
      while (!signal.aborted) {
        // A lease that the watch shows held and valid is not polled before the next retry
        // period; a free or expired one is tried at once.
        const heldByOther = this.leader !== '' && this.leader !== this.identity && Date.now() < this.#expiresAt();
        if (!heldByOther || Date.now() >= nextPollAt) {
          if (await this.#tryAcquireOrRenew(signal)) {
            this.#leading = true;
            this.acquisitions++;
            this.#logger.info(
              { transitions: this.transitions },
              `acquired the leader lease ${this.lease}: ${this.identity} leads`,
            );
            return true;
          }
          nextPollAt = Date.now() + this.retryPeriodMs * (1 + Math.random() * JITTER_FACTOR);
        }
        if (this.leader && this.leader !== reportedHolder) {
          reportedHolder = this.leader;
          this.#logger.info(`the leader lease ${this.lease} is held by ${this.leader}; standing by`);
        }
        // Until the next poll, or the moment the observed lease expires, or a change the watch
        // reports (a release, a renewal), whichever comes first.
        const until = Math.min(nextPollAt, this.leader ? this.#expiresAt() + 1 : nextPollAt);
        await this.#changed.wait(Math.max(0, until - Date.now()), signal);
      }
      return false;
    } finally {
      signal.removeEventListener('abort', stopWatching);
      watching.abort();
    }
  }

  /**
   * Renews the lease every retry period while this process leads. Resolves 'stopped' when
   * `signal` aborts (call {@link release} next), or 'lost' when a renewal finds another holder
   * or the renew deadline passes without a successful renewal.
   */
  async lead(signal: AbortSignal): Promise<LeadershipEnd> {
    let renewedAt = Date.now();
    while (!signal.aborted) {
      await this.#changed.wait(this.retryPeriodMs, signal);
      if (signal.aborted) break;
      const remaining = renewedAt + this.renewDeadlineMs - Date.now();
      const attempt = AbortSignal.any([signal, AbortSignal.timeout(Math.max(1, remaining))]);
      if (await this.#tryAcquireOrRenew(attempt)) {
        renewedAt = Date.now();
        continue;
      }
      if (signal.aborted) break;
      const holder = this.leader;
      if (holder && holder !== this.identity) {
        this.#lost(`the lease is now held by ${holder}`);
        return 'lost';
      }
      if (Date.now() - renewedAt >= this.renewDeadlineMs) {
        this.#lost(`no renewal succeeded within the renew deadline of ${this.renewDeadlineMs / 1000}s`);
        return 'lost';
      }
    }
    return 'stopped';
  }

  /**
   * Gives the lease up (no holder, 1 s duration) so a standby takes over at once. Bounded by
   * `timeoutMs`: a stop must not hang on an unreachable API server (the lease then expires).
   */
  async release(timeoutMs = 1_000): Promise<boolean> {
    if (!this.#leading) return true;
    this.#leading = false;
    const observed = this.#observed;
    if (!observed || observed.spec?.holderIdentity !== this.identity) return true;
    const now = microTime();
    try {
      this.#observe(
        await this.#client.replace(
          Leases,
          {
            ...observed,
            spec: {
              holderIdentity: '',
              leaseDurationSeconds: 1,
              acquireTime: now,
              renewTime: now,
              leaseTransitions: observed.spec?.leaseTransitions ?? 0,
            },
          },
          { signal: AbortSignal.timeout(timeoutMs) },
        ),
      );
      this.#logger.info(`released the leader lease ${this.lease}`);
      return true;
    } catch (error) {
      this.#logger.warn(
        { err: errorMessage(error) },
        `could not release the leader lease ${this.lease}; a standby takes over when it expires`,
      );
      return false;
    }
  }

  #lost(why: string): void {
    this.#leading = false;
    this.#logger.error(`lost the leader lease ${this.lease}: ${why}`);
  }

  /** When the observed lease expires, on the local clock; 0 when it is free or unknown. */
  #expiresAt(): number {
    const spec = this.#observed?.spec;
    if (!spec?.holderIdentity) return 0;
    return this.#observedAt + (spec.leaseDurationSeconds ?? 0) * 1000;
  }

  /** Records a lease read or written; the clock restarts only when the record itself changed. */
  #observe(lease: Lease | undefined): void {
    const record = (l: Lease | undefined) =>
      JSON.stringify([
        l?.spec?.holderIdentity,
        l?.spec?.renewTime,
        l?.spec?.acquireTime,
        l?.spec?.leaseDurationSeconds,
        l?.spec?.leaseTransitions,
      ]);
    if (!lease || record(lease) !== record(this.#observed)) this.#observedAt = Date.now();
    this.#observed = lease;
  }

  async #watch(signal: AbortSignal): Promise<void> {
    for await (const lease of followObject(this.#client, Leases, this.#options.name, {
      namespace: this.#options.namespace,
      signal,
      onError: (error) => this.#logger.debug({ err: errorMessage(error) }, 'leader lease watch failed; retrying'),
    })) {
      this.#observe(lease);
      this.#changed.wake();
    }
  }

  /** One attempt, as client-go's tryAcquireOrRenew. True when this candidate holds the lease afterwards. */
  async #tryAcquireOrRenew(signal: AbortSignal): Promise<boolean> {
    const held = await this.#attempt(signal);
    if (held) this.#failures = 0;
    return held;
  }

  async #attempt(signal: AbortSignal): Promise<boolean> {
    const { namespace, name } = this.#options;
    const now = microTime();
    const ours = (previous: Lease | undefined): Lease['spec'] => {
      const renewing = previous?.spec?.holderIdentity === this.identity;
      return {
        holderIdentity: this.identity,
        leaseDurationSeconds: Math.ceil(this.leaseDurationMs / 1000),
        renewTime: now,
        acquireTime: renewing ? (previous?.spec?.acquireTime ?? now) : now,
        leaseTransitions: (previous?.spec?.leaseTransitions ?? 0) + (renewing || !previous ? 0 : 1),
      };
    };
    try {
      // Fast path for the leader: update the version it wrote last.
      if (this.#leading && this.#observed?.spec?.holderIdentity === this.identity) {
        try {
          this.#observe(
            await this.#client.replace(Leases, { ...this.#observed, spec: ours(this.#observed) }, { signal }),
          );
          return true;
        } catch (error) {
          if (!isConflict(error) && !isNotFound(error)) throw error;
          // Someone else wrote the lease: read it and decide below.
        }
      }
      let current: Lease;
      try {
        current = await this.#client.get(Leases, { namespace, name }, signal);
      } catch (error) {
        if (!isNotFound(error)) throw error;
        this.#observe(
          await this.#client.create(
            Leases,
            {
              apiVersion: 'coordination.k8s.io/v1',
              kind: 'Lease',
              metadata: { name, namespace },
              spec: ours(undefined),
            },
            { signal },
          ),
        );
        return true;
      }
      this.#observe(current);
      const holder = current.spec?.holderIdentity;
      if (holder && holder !== this.identity && Date.now() < this.#expiresAt()) return false;
      this.#observe(await this.#client.replace(Leases, { ...current, spec: ours(current) }, { signal }));
      return true;
    } catch (error) {
      // A lost race (conflict, or a create that met an existing lease) is routine; anything else
      // (an unreachable API server, missing RBAC) is logged at the first failure and every doubling.
      if (signal.aborted) return false;
      const routine = isConflict(error) || isAlreadyExists(error);
      this.#failures = routine ? 0 : this.#failures + 1;
      const level = !routine && (this.#failures & (this.#failures - 1)) === 0 ? 'warn' : 'debug';
      this.#logger[level](
        { err: errorMessage(error), failures: this.#failures },
        `could not read or write the leader lease ${this.lease}`,
      );
      return false;
    }
  }
}
