/**
 * The Kubernetes provider: each local pod is one pod in a remote cluster (remote-pod.ts says how
 * it is translated), placed there by the remote's own scheduler.
 *
 * State lives in the remote cluster, not here: an informer (list, then watch) follows the remote
 * pods labelled with this node's owner labels, and every status change it sees is pushed to the
 * controller — no polling. A restarted virtual kubelet rebuilds everything from that list: the
 * origin uid label says which local pod a remote pod is, and a create that meets an existing pod
 * of the same uid adopts it (the remote API refuses a second pod of the same name, so a pod is
 * never created twice).
 *
 * Deleting: the remote pod is deleted with the local deletion's grace period and a uid
 * precondition (never someone else's pod of the same name); the remote kubelet's terminated
 * statuses come back through the watch and finish the local deletion. A remote pod deleted behind
 * our back is reported Failed (`RemotePodDeleted`), as a kubelet reports a pod whose sandbox
 * vanished: the pod's controller (ReplicaSet, Job) replaces it; it is not recreated here, because a
 * remote operator who deletes a pod usually means it.
 */
import type { Duplex, Readable } from 'node:stream';
import type { Node, Pod, PodStatus } from 'kubernetes-types/core/v1.js';
import type { Logger } from 'pino';
import {
  errorMessage,
  InvalidInputError,
  isAlreadyExists,
  isNotFound,
  KubeApiError,
  NotFoundError,
  NotImplementedError,
} from '../../errors.ts';
import type { KubeClient } from '../../kube/client.ts';
import { Informer } from '../../kube/informer.ts';
import { Namespaces, Nodes, Pods } from '../../kube/resources.ts';
import {
  type AttachIO,
  type ContainerLogOptions,
  gracePeriodSeconds,
  type Provider,
  type ProviderCallOptions,
  podKey,
  type ResourceCache,
  type StatsSummary,
} from '../../provider/index.ts';
import { abortable } from '../../util/sleep.ts';
import type { KubernetesConfig } from './config.ts';
import { OriginTokens, tokenSecretVolume } from './origin-token.ts';
import { ObjectReflector } from './reflected-objects.ts';
import { type NodeSize, remoteNodeSize } from './remote-capacity.ts';
import { withOriginEnvironment } from './remote-env.ts';
import { type CpuTotals, type PodMetrics, summaryFromPodMetrics } from './remote-metrics.ts';
import {
  LABEL_MANAGED_BY,
  LABEL_ORIGIN_CLUSTER,
  LABEL_ORIGIN_NAMESPACE,
  LABEL_ORIGIN_NODE,
  LABEL_ORIGIN_UID,
  labelSafe,
  localStatusFromRemote,
  MANAGED_BY,
  type Ownership,
  originOf,
  ownedPodsSelector,
  remoteEphemeralContainers,
  remoteNamespaceName,
  remotePodAnnotations,
  remotePodFromPod,
  remotePodLabels,
  statusAfterRemoteDeletion,
} from './remote-pod.ts';
import { RemoteStreams } from './remote-streams.ts';

/** How long getPods waits for the first list of the remote pods. */
const SYNC_WAIT_MS = 10_000;
/** How often the remote's other pods are listed again to size the node (a list of every pod). */
const OTHERS_REFRESH_MS = 30_000;

export interface KubernetesProviderOptions {
  /** A client for the remote cluster. */
  remote: KubeClient;
  config: KubernetesConfig;
  nodeName: string;
  logger: Logger;
  /** The origin's ConfigMaps and Secrets, copied to the remote for the pods that use them. */
  resources: ResourceCache;
  /** The origin cluster, for service-account tokens (TokenRequest) and adopted pods' specs. */
  origin: KubeClient;
  /** Nodes read by the factory, to size the node before the first ping. */
  remoteNodes?: Node[];
  /** The virtual node's IPs (its InternalIP): `status.hostIP` of the local pods, so of their env. */
  hostIPs?: readonly string[];
}

/** A remote refusal the pod can never get past by retrying: invalid, denied by admission, over quota. */
function isRefusal(error: unknown): error is KubeApiError {
  if (!(error instanceof KubeApiError)) return false;
  if (error.statusCode === 400 || error.statusCode === 422) return true;
  // 403 is also RBAC's answer when our own credentials lack a permission: that one is retried
  // (an administrator can grant it) and shows on the node.
  return error.statusCode === 403 && !/ cannot (create|get|list|watch|delete|patch) resource /.test(error.message);
}

/** What the node reports when the remote cluster does not answer as it should. */
export function describeRemoteError(error: unknown, server: string, kubeconfig: string): string {
  if (error instanceof KubeApiError) {
    if (error.statusCode === 401) {
      return `the remote cluster ${server} refuses the credentials of ${kubeconfig} (401 Unauthorized)`;
    }
    if (error.statusCode === 403) return `the remote cluster ${server} denies access: ${error.message}`;
    return `the remote cluster ${server} answers ${error.statusCode} ${error.reason}: ${error.message}`;
  }
  return `the remote cluster ${server} is not reachable: ${errorMessage(error)}`;
}

export class KubernetesProvider implements Provider {
  readonly #remote: KubeClient;
  readonly #config: KubernetesConfig;
  readonly #owner: Ownership;
  readonly #logger: Logger;
  /**
   * The virtual node's labels, to recognise the scheduling terms that selected it: the Node as
   * registered (configureNode sees it), until then the hostname alone.
   */
  #nodeLabels: Record<string, string>;
  readonly #stop = new AbortController();
  readonly #informer: Informer<Pod>;
  readonly #reflector: ObjectReflector;
  readonly #resources: ResourceCache;
  readonly #hostIPs: readonly string[];
  readonly #tokens: OriginTokens;
  readonly #origin: KubeClient;
  /** Adopted pods whose tokens are being taken over (a restart), so each is fetched once. */
  readonly #adoptingTokens = new Set<string>();
  readonly #streams: RemoteStreams;
  /** The remote pod of each local pod key, as the watch last reported it. */
  readonly #byLocalKey = new Map<string, Pod>();
  /** Local pods whose remote pod we were asked to delete (key → origin uid). */
  readonly #deleting = new Map<string, string>();
  /** Local pods whose remote pod vanished behind our back: the Failed status they keep reporting. */
  readonly #departed = new Map<string, { uid: string; pod: Pod }>();
  readonly #lastNotified = new Map<string, string>();
  /** Cumulative CPU per container, integrated from the remote's metrics (see remote-metrics.ts). */
  readonly #cpuTotals: CpuTotals = new Map();
  /** Remote namespaces known to exist (no create attempt for them). */
  readonly #namespaces = new Set<string>();
  #podCallback: ((pod: Pod) => void) | undefined;
  #nodeCallback: ((node: Node) => void) | undefined;
  #remoteNodes: Node[];
  #others: Pod[] = [];
  #othersReadAt = 0;
  #lastNodeJson: string | undefined;

  constructor(options: KubernetesProviderOptions) {
    this.#remote = options.remote;
    this.#config = options.config;
    this.#owner = { originCluster: options.config.originCluster, nodeName: options.nodeName };
    this.#logger = options.logger;
    this.#nodeLabels = { 'kubernetes.io/hostname': options.nodeName, ...options.config.nodeLabels };
    this.#remoteNodes = options.remoteNodes ?? [];
    this.#resources = options.resources;
    this.#hostIPs = options.hostIPs ?? [];
    this.#reflector = new ObjectReflector({
      remote: options.remote,
      resources: options.resources,
      owner: this.#owner,
      labels: options.config.labels,
      annotations: options.config.annotations,
      logger: options.logger,
      signal: this.#stop.signal,
    });
    this.#streams = new RemoteStreams(options.remote.connection);
    this.#origin = options.origin;
    this.#tokens = new OriginTokens({
      origin: options.origin,
      remote: options.remote,
      resources: options.resources,
      owner: this.#owner,
      logger: options.logger,
      signal: this.#stop.signal,
    });
    this.#informer = new Informer<Pod>({
      client: this.#remote,
      type: Pods,
      labelSelector: ownedPodsSelector(this.#owner),
      logger: this.#logger,
      // A remote that comes back after an outage is noticed within this bound even if the watch
      // silently died with it.
      stallTimeoutMs: 60_000,
      maxBackoffMs: 5_000,
    });
    this.#informer.addHandlers({
      onAdd: (remote) => this.#onRemote(remote),
      onUpdate: (_previous, remote) => this.#onRemote(remote),
      onDelete: (remote) => this.#onRemoteDeleted(remote),
    });
  }

  /** Starts following the remote pods of this node. */
  start(): void {
    this.#informer.start(this.#stop.signal);
  }

  async close(): Promise<void> {
    this.#stop.abort();
    await this.#remote.close();
  }

  // ── the pod lifecycle ────────────────────────────────────────────────────────────────────────

  #remoteNamespace(pod: Pod): string {
    return remoteNamespaceName(pod.metadata?.namespace ?? 'default', this.#config.namespaces);
  }

  #context(pod: Pod) {
    return {
      ...this.#owner,
      remoteNamespace: this.#remoteNamespace(pod),
      nodeLabels: this.#nodeLabels,
      labels: this.#config.labels,
      annotations: this.#config.annotations,
    };
  }

  /**
   * Pods come unresolved (see remote-env.ts): the remote pod's env names the remote copies of
   * ConfigMaps and Secrets instead of carrying their values.
   */
  resolvesEnvironment(): boolean {
    return true;
  }

  /** The pod with its environment as the remote pod gets it, once the origin's Services are synced. */
  async #withOriginEnvironment(pod: Pod): Promise<Pod> {
    const namespace = pod.metadata?.namespace ?? 'default';
    await Promise.all([
      this.#resources.ready('Service', 'default'),
      ...(pod.spec?.enableServiceLinks === false ? [] : [this.#resources.ready('Service', namespace)]),
    ]);
    return withOriginEnvironment(pod, {
      sources: this.#resources,
      nodeName: this.#owner.nodeName,
      hostIPs: this.#hostIPs,
    });
  }

  /** Whether a remote pod carries this node's owner labels. */
  #owns(remote: Pod): boolean {
    const labels = remote.metadata?.labels ?? {};
    return (
      labels[LABEL_ORIGIN_CLUSTER] === this.#owner.originCluster &&
      labels[LABEL_ORIGIN_NODE] === labelSafe(this.#owner.nodeName)
    );
  }

  async createPod(pod: Pod, options: ProviderCallOptions): Promise<void> {
    const namespace = pod.metadata?.namespace ?? 'default';
    const name = pod.metadata?.name ?? '';
    const uid = pod.metadata?.uid ?? '';
    const key = podKey(namespace, name);
    if (this.#byLocalKey.get(key)?.metadata?.labels?.[LABEL_ORIGIN_UID] === uid) return; // adopted
    const remoteNamespace = this.#remoteNamespace(pod);
    const where = `${remoteNamespace}/${name}`;
    this.#departed.delete(key);
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        // The ConfigMaps, Secrets and tokens first, so that the remote pod starts with them.
        await this.#reflector.ensure(pod, key, remoteNamespace, options.signal);
        const tokens = await this.#tokens.ensure(pod, key, remoteNamespace, options.signal).catch((error: unknown) => {
          throw new Error(`could not write pod ${key}'s service-account token: ${errorMessage(error)}`, {
            cause: error,
          });
        });
        const replacedVolumes = Object.fromEntries(tokens.map((plan) => [plan.volumeName, tokenSecretVolume(plan)]));
        const remotePod = remotePodFromPod(await this.#withOriginEnvironment(pod), {
          ...this.#context(pod),
          replacedVolumes,
        });
        await this.#remote.create(Pods, remotePod, { signal: options.signal });
        this.#logger.debug({ pod: key, remote: where }, 'created the remote pod');
        return;
      } catch (error) {
        if (isRefusal(error)) {
          throw new InvalidInputError(`the remote cluster refused pod ${where}: ${error.message}`, { cause: error });
        }
        if (isNotFound(error) && this.#config.namespaces.create && !this.#namespaces.has(remoteNamespace)) {
          await this.#createNamespace(remoteNamespace, namespace, options.signal);
          continue;
        }
        if (!isAlreadyExists(error)) throw error;
      }
      // A pod of that name is there already: ours from before a restart, a stale one of an
      // earlier pod of the same name, or someone else's.
      let existing: Pod;
      try {
        existing = await this.#remote.get(Pods, { namespace: remoteNamespace, name }, options.signal);
      } catch (error) {
        if (isNotFound(error)) continue; // it went meanwhile
        throw error;
      }
      if (!this.#owns(existing)) {
        throw new InvalidInputError(
          `remote pod ${where} already exists and does not belong to virtual node ${this.#owner.nodeName} of cluster ${this.#owner.originCluster}`,
        );
      }
      if (existing.metadata?.labels?.[LABEL_ORIGIN_UID] === uid) {
        this.#logger.info({ pod: key, remote: where }, 'adopted the remote pod already running this pod');
        return;
      }
      // An earlier pod of the same name that we did not get to delete: it is gone locally.
      this.#logger.info({ pod: key, remote: where }, 'deleting a stale remote pod of an earlier pod of this name');
      await this.#remote
        .delete(
          Pods,
          { namespace: remoteNamespace, name },
          {
            gracePeriodSeconds: 0,
            preconditions: { uid: existing.metadata?.uid ?? '' },
            signal: options.signal,
          },
        )
        .catch((error: unknown) => {
          if (!isNotFound(error)) throw error;
        });
    }
    throw new Error(`remote pod ${where} could not be created: a pod of that name keeps coming back`);
  }

  async #createNamespace(remoteNamespace: string, localNamespace: string, signal: AbortSignal): Promise<void> {
    try {
      await this.#remote.create(
        Namespaces,
        {
          metadata: {
            name: remoteNamespace,
            labels: {
              ...this.#config.labels,
              [LABEL_MANAGED_BY]: MANAGED_BY,
              [LABEL_ORIGIN_CLUSTER]: this.#owner.originCluster,
              [LABEL_ORIGIN_NAMESPACE]: localNamespace,
            },
            annotations: { ...this.#config.annotations },
          },
        },
        { signal },
      );
      this.#logger.info({ namespace: remoteNamespace }, 'created the remote namespace');
    } catch (error) {
      if (!isAlreadyExists(error)) throw error;
    }
    this.#namespaces.add(remoteNamespace);
  }

  async updatePod(pod: Pod, options: ProviderCallOptions): Promise<void> {
    const key = podKey(pod.metadata?.namespace ?? 'default', pod.metadata?.name ?? '');
    const current = this.#byLocalKey.get(key);
    if (!current || current.metadata?.labels?.[LABEL_ORIGIN_UID] !== pod.metadata?.uid) return;
    if (this.#deleting.has(key)) return;
    const context = this.#context(pod);
    const labels: Record<string, string | null> = remotePodLabels(pod, context);
    const annotations: Record<string, string | null> = remotePodAnnotations(pod, context);
    // A strategic merge patch removes map keys set to null.
    for (const old of Object.keys(current.metadata?.labels ?? {})) if (!(old in labels)) labels[old] = null;
    for (const old of Object.keys(current.metadata?.annotations ?? {})) {
      if (!(old in annotations)) annotations[old] = null;
    }
    const spec: Record<string, unknown> = {
      containers: (pod.spec?.containers ?? []).map((c) => ({ name: c.name, image: c.image })),
    };
    if (pod.spec?.activeDeadlineSeconds !== undefined) spec.activeDeadlineSeconds = pod.spec.activeDeadlineSeconds;
    const location = { namespace: context.remoteNamespace, name: pod.metadata?.name ?? '' };
    await this.#remote.patch(Pods, location, { metadata: { labels, annotations }, spec }, 'strategic', {
      signal: options.signal,
      answer: 'metadata',
    });
    // `kubectl debug`: ephemeral containers only grow, and go through their own subresource.
    const known = new Set((current.spec?.ephemeralContainers ?? []).map((c) => c.name));
    const remoteVolumes = new Set((current.spec?.volumes ?? []).map((v) => v.name));
    if (!pod.spec?.ephemeralContainers?.some((c) => !known.has(c.name))) return;
    // A debug container may read ConfigMaps and Secrets the pod did not use before.
    await this.#reflector.ensure(pod, key, context.remoteNamespace, options.signal);
    const translated = await this.#withOriginEnvironment(pod);
    const added = remoteEphemeralContainers(translated, remoteVolumes).filter((c) => !known.has(c.name));
    if (added.length > 0) {
      await this.#remote.patch(
        Pods,
        { ...location, subresource: 'ephemeralcontainers' },
        { spec: { ephemeralContainers: added } },
        'strategic',
        { signal: options.signal, answer: 'metadata' },
      );
    }
  }

  /** Ephemeral containers run in the remote pod, through the remote's `pods/ephemeralcontainers`. */
  runsEphemeralContainers(): boolean {
    return true;
  }

  async deletePod(pod: Pod, options: ProviderCallOptions): Promise<void> {
    const namespace = pod.metadata?.namespace ?? 'default';
    const name = pod.metadata?.name ?? '';
    const uid = pod.metadata?.uid ?? '';
    const key = podKey(namespace, name);
    const remoteNamespace = this.#remoteNamespace(pod);
    const current = this.#byLocalKey.get(key);
    if (this.#departed.get(key)?.uid === uid) {
      this.#departed.delete(key);
      throw new NotFoundError(`remote pod ${remoteNamespace}/${name} is gone already`);
    }
    // Only the remote pod of this very local pod: another pod of the same name may be there now.
    const remoteUid = current?.metadata?.labels?.[LABEL_ORIGIN_UID] === uid ? current.metadata?.uid : undefined;
    if (current && !remoteUid) throw new NotFoundError(`remote pod ${remoteNamespace}/${name} is not this pod's`);
    const grace = gracePeriodSeconds(pod);
    this.#deleting.set(key, uid);
    try {
      await this.#remote.delete(
        Pods,
        { namespace: remoteNamespace, name },
        {
          gracePeriodSeconds: grace,
          ...(remoteUid ? { preconditions: { uid: remoteUid } } : {}),
          signal: options.signal,
          answer: 'metadata',
        },
      );
      this.#logger.debug({ pod: key, grace }, 'deleted the remote pod');
    } catch (error) {
      if (isNotFound(error)) {
        this.#deleting.delete(key);
        throw new NotFoundError(`remote pod ${remoteNamespace}/${name} does not exist`, { cause: error });
      }
      if (error instanceof KubeApiError && error.statusCode === 409) {
        // The uid precondition failed: the pod of that name is another one now.
        this.#deleting.delete(key);
        throw new NotFoundError(`remote pod ${remoteNamespace}/${name} is not this pod's`, { cause: error });
      }
      throw error;
    }
  }

  /** The local view of a remote pod: the local identity, the remote spec and the reflected status. */
  #localPod(key: string): Pod | undefined {
    const departed = this.#departed.get(key);
    if (departed) return departed.pod;
    const remote = this.#byLocalKey.get(key);
    const origin = remote && originOf(remote);
    if (!remote || !origin) return undefined;
    return {
      metadata: {
        namespace: origin.namespace,
        name: origin.name,
        uid: origin.uid,
        labels: { ...remote.metadata?.labels },
        annotations: { ...remote.metadata?.annotations },
      },
      spec: remote.spec ?? { containers: [] },
      status: localStatusFromRemote(remote),
    };
  }

  async getPod(namespace: string, name: string, options: ProviderCallOptions): Promise<Pod | undefined> {
    options.signal.throwIfAborted();
    return this.#localPod(podKey(namespace, name));
  }

  async getPodStatus(namespace: string, name: string, options: ProviderCallOptions): Promise<PodStatus | undefined> {
    options.signal.throwIfAborted();
    return this.#localPod(podKey(namespace, name))?.status;
  }

  async getPods(options: ProviderCallOptions): Promise<Pod[]> {
    const synced = await abortable(
      Promise.race([
        this.#informer.synced.then(() => true),
        new Promise<false>((resolve) => setTimeout(resolve, SYNC_WAIT_MS, false).unref()),
      ]),
      options.signal,
    );
    if (!synced) {
      // The controller adopts nothing then, and creates each API pod again (which adopts it on
      // AlreadyExists); remote pods whose local pod went meanwhile are collected once the remote answers.
      void this.#informer.synced.then(() => this.#collectOrphans());
      throw new Error(
        `${describeRemoteError(new Error(`no list of its pods within ${SYNC_WAIT_MS / 1000} s`), this.#remote.connection.server, this.#config.kubeconfigPath)}`,
      );
    }
    const pods: Pod[] = [];
    for (const key of this.#byLocalKey.keys()) {
      const pod = this.#localPod(key);
      if (pod) pods.push(pod);
    }
    return pods;
  }

  /**
   * Deletes the remote pods whose local pod is gone (or is another pod of the same name): what the
   * controller does at start with getPods, for a start when the remote did not answer in time.
   */
  async #collectOrphans(): Promise<void> {
    const signal = this.#stop.signal;
    for (const remote of [...this.#byLocalKey.values()]) {
      const origin = originOf(remote);
      if (!origin || remote.metadata?.deletionTimestamp || signal.aborted) continue;
      try {
        const local = await this.#origin.get(Pods, { namespace: origin.namespace, name: origin.name }, signal);
        if (local.metadata?.uid === origin.uid) continue;
      } catch (error) {
        if (!isNotFound(error)) {
          this.#logger.warn(
            { pod: `${origin.namespace}/${origin.name}`, err: errorMessage(error) },
            'could not check a remote pod against the origin',
          );
          continue;
        }
      }
      this.#logger.info(
        { pod: `${origin.namespace}/${origin.name}`, remote: `${remote.metadata?.namespace}/${remote.metadata?.name}` },
        'deleting a remote pod whose local pod is gone',
      );
      await this.#remote
        .delete(
          Pods,
          { namespace: remote.metadata?.namespace ?? '', name: remote.metadata?.name ?? '' },
          {
            gracePeriodSeconds: remote.spec?.terminationGracePeriodSeconds ?? 30,
            preconditions: { uid: remote.metadata?.uid ?? '' },
            signal,
            answer: 'metadata',
          },
        )
        .catch((error: unknown) => {
          if (!isNotFound(error) && !signal.aborted) {
            this.#logger.warn({ err: errorMessage(error) }, 'could not delete an orphaned remote pod');
          }
        });
    }
  }

  notifyPods(callback: (pod: Pod) => void): void {
    this.#podCallback = callback;
  }

  // ── the watch ────────────────────────────────────────────────────────────────────────────────

  #onRemote(remote: Pod): void {
    const origin = originOf(remote);
    if (!origin) return;
    const key = podKey(origin.namespace, origin.name);
    const known = this.#byLocalKey.get(key);
    // Two remote pods for one local key can only be a stale one being replaced: the newest wins.
    if (
      known &&
      known.metadata?.uid !== remote.metadata?.uid &&
      known.metadata?.labels?.[LABEL_ORIGIN_UID] !== origin.uid
    ) {
      this.#lastNotified.delete(key);
    }
    this.#byLocalKey.set(key, remote);
    this.#reflector.adopt(remote, origin.namespace, key);
    this.#adoptTokens(remote, key, origin);
    this.#notify(key, origin.uid, localStatusFromRemote(remote));
  }

  #onRemoteDeleted(remote: Pod): void {
    const origin = originOf(remote);
    if (!origin) return;
    const key = podKey(origin.namespace, origin.name);
    if (this.#byLocalKey.get(key)?.metadata?.uid !== remote.metadata?.uid) return; // a stale one's deletion
    this.#byLocalKey.delete(key);
    void this.#reflector.release(key, origin.namespace, this.#stop.signal);
    void this.#tokens.release(key);
    const last = localStatusFromRemote(remote);
    const localPod: Pod = {
      metadata: { namespace: origin.namespace, name: origin.name, uid: origin.uid },
      spec: remote.spec ?? { containers: [] },
    };
    if (this.#deleting.get(key) === origin.uid) {
      this.#deleting.delete(key);
      this.#notify(key, origin.uid, statusAfterRemoteDeletion(last, localPod));
      this.#lastNotified.delete(key);
      return;
    }
    const why = `the remote pod ${remote.metadata?.namespace}/${remote.metadata?.name} was deleted in the remote cluster ${this.#remote.connection.server}`;
    this.#logger.warn({ pod: key }, `${why}; reporting the pod Failed`);
    const status = statusAfterRemoteDeletion(last, localPod, why);
    this.#departed.set(key, { uid: origin.uid, pod: { ...localPod, status } });
    this.#notify(key, origin.uid, status);
  }

  /**
   * A remote pod with token Secrets that nobody refreshes (a restart): the local pod is read once
   * from the origin and its tokens requested again, which also restarts their refresh.
   */
  #adoptTokens(remote: Pod, key: string, origin: { namespace: string; name: string; uid: string }): void {
    const hasTokens = remote.spec?.volumes?.some((v) => v.secret?.secretName?.startsWith('vk-token-'));
    if (!hasTokens || this.#tokens.refreshing(key) || this.#adoptingTokens.has(key)) return;
    if (remote.metadata?.deletionTimestamp) return;
    this.#adoptingTokens.add(key);
    const signal = this.#stop.signal;
    void (async () => {
      try {
        const pod = await this.#origin.get(Pods, { namespace: origin.namespace, name: origin.name }, signal);
        if (pod.metadata?.uid !== origin.uid || this.#tokens.refreshing(key)) return;
        await this.#tokens.ensure(pod, key, remote.metadata?.namespace ?? '', signal);
      } catch (error) {
        if (!signal.aborted) {
          this.#logger.warn({ pod: key, err: errorMessage(error) }, 'could not take over the service-account token');
        }
      } finally {
        this.#adoptingTokens.delete(key);
      }
    })();
  }

  #notify(key: string, uid: string, status: PodStatus): void {
    const callback = this.#podCallback;
    if (!callback) return;
    const json = JSON.stringify(status);
    if (this.#lastNotified.get(key) === json) return;
    this.#lastNotified.set(key, json);
    const [namespace, name] = [key.slice(0, key.indexOf('/')), key.slice(key.indexOf('/') + 1)];
    callback({ metadata: { namespace, name, uid }, status });
  }

  // ── logs, exec, attach, port-forward: proxied to the remote API server ──────────────────────

  /** The remote pod of a local pod, for streaming: NotFound when there is none. */
  #remoteLocation(namespace: string, name: string): { namespace: string; name: string } {
    const remote = this.#byLocalKey.get(podKey(namespace, name));
    if (!remote?.metadata?.namespace) throw new NotFoundError(`pod ${namespace}/${name} has no remote pod`);
    return { namespace: remote.metadata.namespace, name: remote.metadata.name ?? name };
  }

  getContainerLogs(
    namespace: string,
    podName: string,
    containerName: string,
    logOptions: ContainerLogOptions,
    options: ProviderCallOptions,
  ): Promise<Readable> {
    const remote = this.#remoteLocation(namespace, podName);
    return this.#streams.logs(remote.namespace, remote.name, containerName, logOptions, options.signal);
  }

  runInContainer(
    namespace: string,
    podName: string,
    containerName: string,
    command: string[],
    io: AttachIO,
    options: ProviderCallOptions,
  ): Promise<number> {
    const remote = this.#remoteLocation(namespace, podName);
    return this.#streams.remoteCommand(remote.namespace, remote.name, containerName, command, io, options.signal);
  }

  attachToContainer(
    namespace: string,
    podName: string,
    containerName: string,
    io: AttachIO,
    options: ProviderCallOptions,
  ): Promise<number> {
    const remote = this.#remoteLocation(namespace, podName);
    return this.#streams.remoteCommand(remote.namespace, remote.name, containerName, undefined, io, options.signal);
  }

  portForward(
    namespace: string,
    podName: string,
    port: number,
    stream: Duplex,
    options: ProviderCallOptions,
  ): Promise<void> {
    const remote = this.#remoteLocation(namespace, podName);
    return this.#streams.portForward(remote.namespace, remote.name, port, stream, options.signal);
  }

  // ── kubectl top: the remote's metrics.k8s.io ─────────────────────────────────────────────────

  async getStatsSummary(options: ProviderCallOptions): Promise<StatsSummary> {
    let items: PodMetrics[];
    try {
      const list = await this.#remote.request<{ items?: PodMetrics[] }>(
        'GET',
        `/apis/metrics.k8s.io/v1beta1/pods?labelSelector=${encodeURIComponent(ownedPodsSelector(this.#owner))}`,
        { verb: 'list', resource: 'pods.metrics.k8s.io', signal: options.signal },
      );
      items = list.items ?? [];
    } catch (error) {
      if (error instanceof KubeApiError && (error.statusCode === 404 || error.statusCode === 503)) {
        throw new NotImplementedError(
          `the remote cluster ${this.#remote.connection.server} serves no metrics.k8s.io (is metrics-server installed there?): ${error.message}`,
          { cause: error },
        );
      }
      throw error;
    }
    const byRemote = new Map<string, Pod>();
    for (const key of this.#byLocalKey.keys()) {
      const remote = this.#byLocalKey.get(key);
      const local = this.#localPod(key);
      if (remote && local) byRemote.set(`${remote.metadata?.namespace}/${remote.metadata?.name}`, local);
    }
    return summaryFromPodMetrics(
      items,
      (namespace, name) => byRemote.get(`${namespace}/${name}`),
      this.#cpuTotals,
      this.#owner.nodeName,
      new Date(),
    );
  }

  // ── the node ─────────────────────────────────────────────────────────────────────────────────

  async ping(options: ProviderCallOptions): Promise<void> {
    try {
      this.#remoteNodes = (await this.#remote.list(Nodes, { signal: options.signal })).items;
      const fixed = this.#config.capacity;
      const needsPods = !['cpu', 'memory', 'pods'].every((name) => fixed[name] !== undefined);
      if (needsPods && Date.now() - this.#othersReadAt >= OTHERS_REFRESH_MS) {
        const pods = await this.#remote.list(Pods, {
          fieldSelector: 'status.phase!=Succeeded,status.phase!=Failed',
          signal: options.signal,
        });
        this.#others = pods.items.filter((pod) => !this.#owns(pod) && pod.spec?.nodeName);
        this.#othersReadAt = Date.now();
      }
    } catch (error) {
      throw new Error(describeRemoteError(error, this.#remote.connection.server, this.#config.kubeconfigPath), {
        cause: error,
      });
    }
    this.#publishNode();
  }

  notifyNodeStatus(callback: (node: Node) => void): void {
    this.#nodeCallback = callback;
  }

  #size(): NodeSize {
    return remoteNodeSize(this.#remoteNodes, this.#others, this.#config.capacity);
  }

  #annotations(): Record<string, string> {
    return {
      'virtual-kubelet.io/remote-server': this.#remote.connection.server,
      'virtual-kubelet.io/remote-nodes': String(this.#remoteNodes.length),
    };
  }

  configureNode(node: Node): void {
    const { capacity, allocatable } = this.#size();
    Object.assign(node, {
      metadata: {
        ...node.metadata,
        labels: { ...node.metadata?.labels, ...this.#config.nodeLabels },
        annotations: { ...node.metadata?.annotations, ...this.#annotations() },
      },
      status: { ...node.status, capacity, allocatable },
    });
    this.#nodeLabels = { ...node.metadata?.labels };
  }

  #publishNode(): void {
    const callback = this.#nodeCallback;
    if (!callback) return;
    const { capacity, allocatable } = this.#size();
    const node: Node = {
      metadata: { labels: { ...this.#config.nodeLabels }, annotations: this.#annotations() },
      status: { capacity, allocatable },
    };
    const json = JSON.stringify(node);
    if (json === this.#lastNodeJson) return;
    this.#lastNodeJson = json;
    callback(node);
  }
}
