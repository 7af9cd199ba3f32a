/**
 * The node heartbeat: the Lease `kube-node-lease/<node>`, renewed every quarter of its duration
 * (10 s of 40 s), as the kubelet does. The node lifecycle controller treats a node whose lease
 * and status both go stale for its grace period (50 s) as unreachable.
 */
import type { Lease } from 'kubernetes-types/coordination/v1.js';
import type { Logger } from 'pino';
import { errorMessage, isAlreadyExists, isConflict, isNotFound } from '../errors.ts';
import type { KubeApi } from '../kube/client.ts';
import { Leases } from '../kube/resources.ts';
import { microTime } from '../kube/time.ts';
import { type Clock, systemClock } from '../util/clock.ts';

export const NODE_LEASE_NAMESPACE = 'kube-node-lease';

export interface NodeLeaseOptions {
  client: KubeApi;
  nodeName: string;
  /** Default 40 s. */
  durationSeconds?: number;
  logger?: Logger;
  /** The renewTime's source. Default the real time. */
  clock?: Clock;
}

/** The lease object for a node owned by the Node with `nodeUid`. */
export function nodeLease(nodeName: string, nodeUid: string | undefined, durationSeconds: number, now: Date): Lease {
  return {
    apiVersion: 'coordination.k8s.io/v1',
    kind: 'Lease',
    metadata: {
      name: nodeName,
      namespace: NODE_LEASE_NAMESPACE,
      ...(nodeUid ? { ownerReferences: [{ apiVersion: 'v1', kind: 'Node', name: nodeName, uid: nodeUid }] } : {}),
    },
    spec: { holderIdentity: nodeName, leaseDurationSeconds: durationSeconds, renewTime: microTime(now) },
  };
}

export class NodeLease {
  readonly #options: NodeLeaseOptions;
  #last: Lease | undefined;

  constructor(options: NodeLeaseOptions) {
    this.#options = options;
  }

  get durationSeconds(): number {
    return this.#options.durationSeconds ?? 40;
  }

  /**
   * Renews (or creates) the lease, owned by the Node with `nodeUid`. Optimistic like the
   * kubelet: it updates the last lease it wrote and re-reads only after a conflict.
   */
  async renew(nodeUid: string | undefined, signal: AbortSignal): Promise<void> {
    const { client, nodeName } = this.#options;
    const desired = nodeLease(
      nodeName,
      nodeUid,
      this.durationSeconds,
      new Date((this.#options.clock ?? systemClock).now()),
    );
    for (let attempt = 0; attempt < 3; attempt++) {
      if (!this.#last) {
        try {
          this.#last = await client.get(Leases, { namespace: NODE_LEASE_NAMESPACE, name: nodeName }, signal);
        } catch (error) {
          if (!isNotFound(error)) throw error;
          try {
            this.#last = await client.create(Leases, desired, { signal });
            return;
          } catch (createError) {
            if (!isAlreadyExists(createError)) throw createError;
            continue;
          }
        }
      }
      const update: Lease = {
        ...this.#last,
        metadata: { ...this.#last?.metadata, ...desired.metadata },
        spec: { ...this.#last?.spec, ...desired.spec },
      };
      try {
        this.#last = await client.replace(Leases, update, { signal });
        return;
      } catch (error) {
        // Someone else wrote it (or deleted it): read it again and retry.
        if (!isConflict(error) && !isNotFound(error)) throw error;
        this.#options.logger?.debug({ err: errorMessage(error) }, 'lease changed underneath; re-reading');
        this.#last = undefined;
      }
    }
    throw new Error(`could not renew lease ${NODE_LEASE_NAMESPACE}/${nodeName} after 3 attempts`);
  }

  /** Forgets the cached lease (after the node was re-created). */
  reset(): void {
    this.#last = undefined;
  }
}
