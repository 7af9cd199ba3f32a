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
import type { KubeClient } from '../kube/client.ts';
import { type EventRecorder, noEvents } from '../kube/events.ts';
import { Informer } from '../kube/informer.ts';
import { Nodes } from '../kube/resources.ts';
import { kubeTime } from '../kube/time.ts';
import { silentLogger } from '../log.ts';
import { NaiveNodeProvider, type NodeProvider } from '../provider/contracts.ts';
import { sleep, Wakeup } from '../util/sleep.ts';
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
  client: KubeClient;
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
}

export class NodeController {
  readonly #options: NodeControllerOptions;
  readonly #client: KubeClient;
  readonly #provider: NodeProvider;
  readonly #logger: Logger;
  readonly #events: EventRecorder;
  readonly #lease: NodeLease | undefined;
  readonly #informer: Informer<Node>;
  #desired: Node;
  #started = false;
  #pingError: string | undefined;
  #needEnsure = true;
  #lastPostedAt = 0;
  #nodeUid: string | undefined;
  readonly #statusWakeup = new Wakeup();
  readonly #leaseWakeup = new Wakeup();
  #resolveReady: () => void = () => {};
  /** Resolves once the Node exists in the API with this process's status. */
  readonly ready: Promise<void>;
  /** Counters for tests and metrics. */
  readonly stats = { statusPatches: 0, creates: 0, pings: 0, pingFailures: 0 };

  constructor(options: NodeControllerOptions) {
    this.#options = options;
    this.#client = options.client;
    this.#provider = options.provider ?? new NaiveNodeProvider();
    this.#logger = options.logger ?? silentLogger();
    this.#events = options.events ?? noEvents;
    this.#desired = options.node;
    const leaseOptions = options.lease ?? true;
    if (leaseOptions !== false) {
      this.#lease = new NodeLease({
        client: options.client,
        nodeName: this.name,
        logger: this.#logger,
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

  /** The lease's last renewTime, for tests and diagnostics. */
  get leaseRenewTime(): string | undefined {
    return this.#lease?.renewTime;
  }

  /**
   * Marks the node ready (or not) for reasons outside the provider's ping: the wiring calls it
   * once the pod controller is running.
   */
  setStarted(started: boolean): void {
    this.#started = started;
    this.#kick();
  }

  #readiness(): Readiness {
    if (this.#pingError !== undefined) {
      return { ready: false, reason: 'KubeletNotReady', message: `provider ping failed: ${this.#pingError}` };
    }
    if (!this.#started) return { ready: false, reason: 'KubeletNotReady', message: 'virtual kubelet is starting' };
    return READY;
  }

  #desiredStatus() {
    const status = { ...this.#desired.status };
    status.conditions = withReadiness(status.conditions ?? [], this.#readiness());
    return status;
  }

  #kick(): void {
    this.#statusWakeup.wake();
  }

  /** Runs until `signal` aborts. */
  async run(signal: AbortSignal): Promise<void> {
    this.#provider.notifyNodeStatus((update) => {
      this.#desired = mergeProviderNode(this.#desired, update);
      this.#kick();
    });
    this.#informer.addHandlers({
      onDelete: () => {
        this.#logger.warn(`node ${this.name} was deleted; registering it again`);
        this.#needEnsure = true;
        this.#kick();
      },
      onUpdate: () => this.#kick(),
    });
    this.#informer.start(signal);
    await Promise.race([this.#informer.synced, new Promise((resolve) => signal.addEventListener('abort', resolve))]);
    if (signal.aborted) return;
    await Promise.all([this.#statusLoop(signal), this.#pingLoop(signal), this.#leaseLoop(signal)]);
  }

  async #statusLoop(signal: AbortSignal): Promise<void> {
    const interval = this.#options.statusUpdateIntervalMs ?? 60_000;
    let failures = 0;
    while (!signal.aborted) {
      try {
        await this.#reconcile(signal);
        failures = 0;
      } catch (error) {
        if (signal.aborted) return;
        failures++;
        this.#logger.warn({ err: errorMessage(error) }, `could not update node ${this.name}`);
        await sleep(Math.min(7000, 100 * 2 ** failures), signal);
        continue;
      }
      const untilHeartbeat = Math.max(0, this.#lastPostedAt + interval - Date.now());
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
          this.#kick();
          return;
        }
        throw error;
      }
    }
    const desiredStatus = this.#desiredStatus();
    const heartbeatDue = Date.now() - this.#lastPostedAt >= (this.#options.statusUpdateIntervalMs ?? 60_000);
    if (!heartbeatDue && !statusDiffers(desiredStatus, current.status)) return;
    try {
      const patched = await this.#client.patch(
        Nodes,
        { name: this.name, subresource: 'status' },
        nodeStatusPatch(desiredStatus, current.status, kubeTime()),
        'strategic',
        { signal },
      );
      this.stats.statusPatches++;
      this.#lastPostedAt = Date.now();
      this.#noteUid(patched);
      if (!this.#isReadyResolved && desiredStatus.conditions?.some((c) => c.type === 'Ready')) {
        this.#isReadyResolved = true;
        this.#resolveReady();
      }
    } catch (error) {
      if (isNotFound(error)) {
        this.#needEnsure = true;
        this.#kick();
        return;
      }
      throw error;
    }
  }

  #isReadyResolved = false;

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
      const now = kubeTime();
      const status = this.#desiredStatus();
      status.conditions = status.conditions?.map((c) => ({ ...c, lastHeartbeatTime: now, lastTransitionTime: now }));
      const created = await this.#client.create(Nodes, { ...this.#desired, status }, { signal });
      this.stats.creates++;
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
        this.stats.pings++;
        await this.#provider.ping({ signal: AbortSignal.any([signal, AbortSignal.timeout(timeout)]) });
      } catch (error) {
        if (signal.aborted) return;
        this.stats.pingFailures++;
        failure = errorMessage(error) || 'ping failed';
      }
      if (failure !== this.#pingError) {
        if (failure) this.#logger.warn({ err: failure }, `provider ping failed: node ${this.name} is NotReady`);
        else if (this.#pingError !== undefined)
          this.#logger.info(`provider ping succeeds again: node ${this.name} is Ready`);
        this.#pingError = failure;
        this.#kick();
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
    let backoff = 100;
    while (!signal.aborted) {
      let wait = interval;
      try {
        if (this.#nodeUid === undefined) await this.ready;
        await lease.renew(this.#nodeUid, signal);
        backoff = 100;
      } catch (error) {
        if (signal.aborted) return;
        this.#logger.warn({ err: errorMessage(error) }, `could not renew the lease of node ${this.name}`);
        wait = backoff;
        backoff = Math.min(7000, backoff * 2);
      }
      await this.#leaseWakeup.wait(wait, signal);
    }
  }
}
