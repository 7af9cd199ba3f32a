/**
 * Keeps the virtual node registered and alive: creates the Node (again, if someone deletes it),
 * renews its Lease, pings the provider, and patches the node status when it changes and at
 * least once per status interval.
 *
 * Unlike the Go implementation, a failed ping is published (Ready=False with the provider's
 * message) instead of silently letting the node go stale, and a deleted Node comes back within
 * seconds, with its lease.
 */
import type { Node } from 'kubernetes-types/core/v1.js';
import type { Logger } from 'pino';
import { errorMessage, isAlreadyExists, isConflict, isNotFound } from '../errors.ts';
import type { KubeApi } from '../kube/client.ts';
import { type EventRecorder, noEvents } from '../kube/events.ts';
import { Informer } from '../kube/informer.ts';
import { Nodes } from '../kube/resources.ts';
import { kubeTime } from '../kube/time.ts';
import { silentLogger } from '../log.ts';
import { NaiveNodeProvider, type NodeProvider } from '../provider/contracts.ts';
import { Backoff } from '../util/backoff.ts';
import { type Clock, systemClock } from '../util/clock.ts';
import { abortable, sleep, Wakeup } from '../util/sleep.ts';
import { NodeLease } from './lease.ts';
import {
  mergeProviderNode,
  nodeMetadataPatch,
  nodeStatusPatch,
  READY,
  type Readiness,
  statusDiffers,
  withReadiness,
} from './node-status.ts';

export interface NodeControllerOptions {
  /** The API: a `KubeClient`, or in unit tests an in-memory fake. */
  client: KubeApi;
  /** The node to register (see `nodeTemplate`), after the provider has configured it. */
  node: Node;
  provider?: NodeProvider;
  /** Lease heartbeats; on by default. */
  lease?: boolean | { durationSeconds?: number; renewIntervalMs?: number };
  /** How often to ping the provider. Default 10 s. */
  pingIntervalMs?: number;
  /** A ping slower than this fails. Default 5 s. */
  pingTimeoutMs?: number;
  /** Post status at least this often even when nothing changed. Default 60 s. */
  statusUpdateIntervalMs?: number;
  logger?: Logger;
  events?: EventRecorder;
  /** Time for heartbeats and lease renewals. Default the real one. */
  clock?: Clock;
}

/**
 * Lease renewals and status writes that fail are retried after 100 ms, doubling up to 7 s (the
 * kubelet retries its lease at 200 ms doubling to 7 s).
 */
const RETRY = { initialMs: 100, maxMs: 7_000 };

export class NodeController {
  readonly #options: NodeControllerOptions;
  readonly #client: KubeApi;
  readonly #provider: NodeProvider;
  readonly #logger: Logger;
  readonly #events: EventRecorder;
  readonly #lease: NodeLease | undefined;
  readonly #informer: Informer<Node>;
  readonly #clock: Clock;
  #desired: Node;
  #pingError: string | undefined;
  /** The Node must be looked up (and created if missing) before the next patch. */
  #needEnsure = true;
  #lastPostedAt = Number.NEGATIVE_INFINITY;
  #nodeUid: string | undefined;
  readonly #statusWakeup = new Wakeup();
  readonly #leaseWakeup = new Wakeup();
  #resolveReady: (() => void) | undefined;
  /** Resolves once the Node exists in the API with this process's status. */
  readonly ready: Promise<void>;

  constructor(options: NodeControllerOptions) {
    this.#options = options;
    this.#client = options.client;
    this.#provider = options.provider ?? new NaiveNodeProvider();
    this.#logger = options.logger ?? silentLogger();
    this.#events = options.events ?? noEvents;
    this.#clock = options.clock ?? systemClock;
    this.#desired = options.node;
    const leaseOptions = options.lease ?? true;
    if (leaseOptions !== false) {
      this.#lease = new NodeLease({
        client: options.client,
        nodeName: this.name,
        logger: this.#logger,
        clock: this.#clock,
        ...(typeof leaseOptions === 'object' && leaseOptions.durationSeconds
          ? { durationSeconds: leaseOptions.durationSeconds }
          : {}),
      });
    }
    this.#informer = new Informer<Node>({
      client: options.client,
      type: Nodes,
      fieldSelector: `metadata.name=${this.name}`,
      logger: this.#logger,
    });
    this.ready = new Promise((resolve) => {
      this.#resolveReady = resolve;
    });
  }

  get name(): string {
    return this.#options.node.metadata?.name ?? '';
  }

  /** The Node as the API last reported it. */
  get node(): Node | undefined {
    return this.#informer.get(this.name);
  }

  /** The node as this process wants it published. */
  get desiredNode(): Node {
    return this.#desired;
  }

  /**
   * Ready unless the provider's ping fails. (A node is registered only once it can run pods:
   * `VirtualNode` starts this controller after the pod controller knows the provider's pods.)
   */
  #readiness(): Readiness {
    if (this.#pingError !== undefined) {
      return { ready: false, reason: 'KubeletNotReady', message: `provider ping failed: ${this.#pingError}` };
    }
    return READY;
  }

  #desiredStatus() {
    const status = { ...this.#desired.status };
    status.conditions = withReadiness(status.conditions ?? [], this.#readiness());
    return status;
  }

  /** Runs until `signal` aborts. */
  async run(shutdown: AbortSignal): Promise<void> {
    // A signal of its own: the controller's loops listen to it, not to the one every component shares.
    const signal = AbortSignal.any([shutdown]);
    this.#provider.notifyNodeStatus((update) => {
      this.#desired = mergeProviderNode(this.#desired, update);
      this.#statusWakeup.wake();
    });
    this.#informer.addHandlers({
      onDelete: () => {
        this.#logger.warn(`node ${this.name} was deleted; registering it again`);
        this.#needEnsure = true;
        this.#statusWakeup.wake();
      },
      onUpdate: () => this.#statusWakeup.wake(),
    });
    this.#informer.start(signal);
    await abortable(this.#informer.synced, signal);
    if (signal.aborted) return;
    await Promise.all([this.#statusLoop(signal), this.#pingLoop(signal), this.#leaseLoop(signal)]);
  }

  async #statusLoop(signal: AbortSignal): Promise<void> {
    const interval = this.#options.statusUpdateIntervalMs ?? 60_000;
    const backoff = new Backoff(RETRY);
    while (!signal.aborted) {
      try {
        await this.#reconcile(signal);
        backoff.reset();
      } catch (error) {
        if (signal.aborted) return;
        this.#logger.warn({ err: errorMessage(error) }, `could not update node ${this.name}`);
        await sleep(backoff.next(), signal);
        continue;
      }
      const untilHeartbeat = Math.max(0, this.#lastPostedAt + interval - this.#clock.now());
      await this.#statusWakeup.wait(untilHeartbeat, signal);
    }
  }

  /** Makes the API's node match the desired one: create it if missing, patch metadata and status. */
  async #reconcile(signal: AbortSignal): Promise<void> {
    let current = this.#informer.get(this.name);
    if (this.#needEnsure || !current) {
      current = await this.#ensureNode(signal);
      this.#needEnsure = false;
    }
    const metadataPatch = nodeMetadataPatch(this.#desired, current);
    if (metadataPatch) {
      try {
        current = await this.#client.patch(Nodes, { name: this.name }, metadataPatch, 'merge', { signal });
      } catch (error) {
        if (isNotFound(error)) this.#needEnsure = true;
        // A conflict means someone changed the taints meanwhile: the informer brings their version, then we retry.
        if (isConflict(error) || isNotFound(error)) {
          this.#statusWakeup.wake();
          return;
        }
        throw error;
      }
    }
    const desiredStatus = this.#desiredStatus();
    const heartbeatDue = this.#clock.now() - this.#lastPostedAt >= (this.#options.statusUpdateIntervalMs ?? 60_000);
    if (!heartbeatDue && !statusDiffers(desiredStatus, current.status)) return;
    try {
      const patched = await this.#client.patch(
        Nodes,
        { name: this.name, subresource: 'status' },
        nodeStatusPatch(desiredStatus, current.status, kubeTime(new Date(this.#clock.now()))),
        'strategic',
        { signal },
      );
      this.#lastPostedAt = this.#clock.now();
      this.#noteUid(patched);
      this.#resolveReady?.();
      this.#resolveReady = undefined;
    } catch (error) {
      if (isNotFound(error)) {
        this.#needEnsure = true;
        this.#statusWakeup.wake();
        return;
      }
      throw error;
    }
  }

  #noteUid(node: Node): void {
    const uid = node.metadata?.uid;
    if (uid && uid !== this.#nodeUid) {
      const recreated = this.#nodeUid !== undefined;
      this.#nodeUid = uid;
      if (recreated) {
        this.#lease?.reset();
        this.#leaseWakeup.wake();
      }
    }
  }

  async #ensureNode(signal: AbortSignal): Promise<Node> {
    const existing = this.#informer.get(this.name);
    if (existing) {
      this.#noteUid(existing);
      return existing;
    }
    try {
      // Created with its real conditions (Ready=True when started), so the node lifecycle controller
      // lifts the not-ready taint that admission puts on every new Node at its first look.
      const now = kubeTime(new Date(this.#clock.now()));
      const status = this.#desiredStatus();
      status.conditions = status.conditions?.map((c) => ({ ...c, lastHeartbeatTime: now, lastTransitionTime: now }));
      const created = await this.#client.create(Nodes, { ...this.#desired, status }, { signal });
      this.#logger.info(`registered node ${this.name}`);
      this.#events.record(created, 'Normal', 'Starting', 'Starting virtual-kubelet.');
      this.#noteUid(created);
      return created;
    } catch (error) {
      if (!isAlreadyExists(error)) throw error;
      const node = await this.#client.get(Nodes, { name: this.name }, signal);
      this.#noteUid(node);
      return node;
    }
  }

  async #pingLoop(signal: AbortSignal): Promise<void> {
    const interval = this.#options.pingIntervalMs ?? 10_000;
    const timeout = this.#options.pingTimeoutMs ?? 5_000;
    while (!signal.aborted) {
      let failure: string | undefined;
      try {
        await this.#provider.ping({ signal: AbortSignal.any([signal, AbortSignal.timeout(timeout)]) });
      } catch (error) {
        if (signal.aborted) return;
        failure = errorMessage(error) || 'ping failed';
      }
      if (failure !== this.#pingError) {
        if (failure) this.#logger.warn({ err: failure }, `provider ping failed: node ${this.name} is NotReady`);
        else if (this.#pingError !== undefined)
          this.#logger.info(`provider ping succeeds again: node ${this.name} is Ready`);
        this.#pingError = failure;
        this.#statusWakeup.wake();
      }
      await sleep(interval, signal);
    }
  }

  async #leaseLoop(signal: AbortSignal): Promise<void> {
    if (!this.#lease) return;
    const lease = this.#lease;
    const leaseOptions = this.#options.lease;
    const interval =
      (typeof leaseOptions === 'object' ? leaseOptions.renewIntervalMs : undefined) ?? lease.durationSeconds * 250;
    const backoff = new Backoff(RETRY);
    while (!signal.aborted) {
      let wait = interval;
      try {
        if (this.#nodeUid === undefined) {
          await abortable(this.ready, signal);
          if (signal.aborted) return;
        }
        await lease.renew(this.#nodeUid, signal);
        backoff.reset();
      } catch (error) {
        if (signal.aborted) return;
        this.#logger.warn({ err: errorMessage(error) }, `could not renew the lease of node ${this.name}`);
        wait = backoff.next();
      }
      await this.#leaseWakeup.wait(wait, signal);
    }
  }
}
