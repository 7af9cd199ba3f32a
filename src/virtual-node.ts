/**
 * The common case in one call: connect to the cluster, make the provider, and run the node and
 * pod controllers together.
 *
 * ```ts
 * const node = new VirtualNode({ nodeName: 'vk-1', provider: myProvider });
 * await node.run(AbortSignal.timeout(…));   // or a signal aborted on SIGTERM
 * ```
 */
import { randomUUID, X509Certificate } from 'node:crypto';
import { hostname } from 'node:os';
import type { Node, Taint } from 'kubernetes-types/core/v1.js';
import type { Logger } from 'pino';
import { DEFAULT_BURST, DEFAULT_QPS, KubeClient } from './kube/client.ts';
import { type EventRecorder, KubeEventRecorder, noEvents } from './kube/events.ts';
import { type ClusterConnection, loadKubeConfig } from './kube/kubeconfig.ts';
import { LeaderElector } from './kube/leader-election.ts';
import { ResourceCache } from './kube/resource-cache.ts';
import type { WorkQueueMetrics } from './kube/work-queue.ts';
import { Authenticator } from './kubelet-api/auth/authenticator.ts';
import { Authorizer } from './kubelet-api/auth/authorizer.ts';
import { KubeletServer } from './kubelet-api/server.ts';
import {
  type KeyMaterial,
  readCertificateFile,
  readKeyPair,
  selfSignedKeyPair,
  watchKeyPair,
} from './kubelet-api/serving-certificate.ts';
import { ServingCertificateRotation } from './kubelet-api/serving-certificate-rotation.ts';
import { silentLogger } from './log.ts';
import { NodeController } from './node/node-controller.ts';
import { DEFAULT_KUBELET_PORT, nodeTemplate } from './node/node-template.ts';
import { PodController } from './pods/pod-controller.ts';
import { isNodeProvider, type Provider } from './provider/contracts.ts';
import type { ProviderContext, ProviderFactory } from './provider/factory.ts';
import { abortable } from './util/sleep.ts';

/** Everything about a virtual node; only `nodeName` and `provider` are required. */
export interface VirtualNodeOptions {
  /** The Node's name in the cluster (`--nodename`). */
  nodeName: string;
  /** The provider, or a factory that makes it with the node's context. */
  provider: Provider | ProviderFactory;
  /** The provider's name: the default taint's value and the runtime name in nodeInfo. Default `provider`. */
  providerName?: string;
  /** A kubeconfig path or a connection; default: KUBECONFIG, ~/.kube/config, then in-cluster. */
  kubeconfig?: string | ClusterConnection;
  /** An existing client instead of `kubeconfig`. */
  client?: KubeClient;
  /**
   * Client-side API rate limit, requests per second at most; below it the rate follows the API
   * server's 429s (AIMD). Default 1000 (the Go implementation is stuck at 5). Events have their own budget (`eventQps`).
   */
  kubeApiQps?: number;
  /** Client-side API burst above the rate. Default 2000 (Go: 10). */
  kubeApiBurst?: number;
  /** `linux` (default) or `windows`: the node's `kubernetes.io/os` label and nodeInfo. */
  operatingSystem?: string;
  /** The address the API server reaches the kubelet API at: the node's InternalIP. Default 127.0.0.1. */
  internalIP?: string;
  /** The kubelet API port, published in `status.daemonEndpoints`. Default 10250. */
  kubeletPort?: number;
  /** The version in `nodeInfo.kubeletVersion` (what `kubectl get nodes` shows). Default `v1.37.2-vk`. */
  kubeletVersion?: string;
  /** The node's taint; `false` for none. Default `virtual-kubelet.io/provider=<providerName>:NoSchedule`. */
  taint?: Taint | false;
  /** Labels added to the defaults (`type=virtual-kubelet`, `kubernetes.io/role=agent`, hostname, os). */
  labels?: Record<string, string>;
  /** `status.declaredFeatures`, e.g. `['ExtendWebSocketsToKubelet']`. */
  declaredFeatures?: string[];
  /** The cluster's DNS domain, passed to the provider. Default `cluster.local`. */
  clusterDomain?: string;
  /** `--provider-config`, passed to a provider factory. */
  providerConfigPath?: string;
  /** Concurrent pod syncs (provider calls). Default 10. */
  podSyncWorkers?: number;
  /** Concurrent pod status writes. Default 64. */
  podStatusWorkers?: number;
  /** Every pod is synced again this often, even without a change. Default 60 000 ms. */
  resyncPeriodMs?: number;
  /** The node status is written on change and at least this often. Default 60 000 ms. */
  statusUpdateIntervalMs?: number;
  /** How often the provider's `ping` is called; a failure makes the node NotReady. Default 10 000 ms. */
  pingIntervalMs?: number;
  /** How often providers without `notifyPods` are asked for pod status. Default 5 000 ms. */
  statusPollIntervalMs?: number;
  /** The node Lease heartbeat (default on, 40 s, renewed every quarter of it); `false` for none. */
  lease?: boolean | { durationSeconds?: number; renewIntervalMs?: number };
  /** Record Kubernetes Events (default), or pass a recorder of your own; `false` for none. */
  events?: boolean | EventRecorder;
  /** Events written per second (the kubelet's `--event-qps`). Default 50. */
  eventQps?: number;
  /** Events written in a burst. Default 100. */
  eventBurst?: number;
  /** A pino logger. Default silent. */
  logger?: Logger;
  /** Callbacks for work-queue metrics (depth, adds, latency), e.g. to Prometheus. */
  queueMetrics?: WorkQueueMetrics;
  /** Hook to change the Node before it is registered (after the provider's configureNode). */
  configureNode?: (node: Node) => void;
  /** The kubelet HTTPS API (logs, exec, port-forward, stats); `false` to run without it. Default off. */
  kubeletApi?: KubeletApiOptions | false;
  /**
   * Run as one of several replicas for the same node: only the holder of a Lease runs the
   * controllers and serves the kubelet API; the others wait to take over.
   */
  leaderElection?: LeaderElectionSettings;
}

/** `--leader-elect` and its flags (client-go's names and defaults). */
export interface LeaderElectionSettings {
  /** Namespace of the Lease. Default `kube-system`. */
  namespace?: string;
  /** Name of the Lease. Default `virtual-kubelet-<node>`. */
  leaseName?: string;
  /** This replica's identity. Default `<hostname>_<random uuid>`. */
  identity?: string;
  /** Defaults 15 s, 10 s and 2 s. */
  leaseDurationMs?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
}

/** The Lease a node's replicas compete for, unless configured otherwise. */
export function leaderLeaseName(nodeName: string): string {
  return `virtual-kubelet-${nodeName}`;
}

/** Thrown by `run` when this replica stopped leading without being asked to (a standby may lead now). */
export class LeadershipLostError extends Error {
  override name = 'LeadershipLostError';
}

/** How the serving certificate is requested from the cluster and renewed. */
export interface CertificateSigningOptions {
  /** Keep the issued certificate and key here (`--cert-dir`), so a restart reuses them. */
  directory?: string;
  /** Requested lifetime in seconds (CSR `expirationSeconds`, at least 600). Default: the signer's. */
  expirationSeconds?: number;
  /** Approve our own requests (needs RBAC `approve` on the kubelet-serving signer). */
  selfApprove?: boolean;
  /** Renew this long after a certificate arrives instead of at 70–90 % of its lifetime (tests). */
  renewAfterMs?: number;
}

/** Options of the kubelet API server. */
export interface KubeletApiOptions {
  /** Listen address. Default all interfaces. */
  address?: string;
  /**
   * Serving certificate and key files (reloaded when they change). Without them the certificate is
   * requested from the cluster (see `certificateSigning`).
   */
  certificateFile?: string;
  keyFile?: string;
  /**
   * Without certificate files: request the serving certificate through the CSR API and renew it
   * (the default), or `false` to serve a self-signed one.
   */
  certificateSigning?: CertificateSigningOptions | false;
  /** CA file that verifies client certificates (the API server's kubelet client certificate). */
  clientCAFile?: string;
  /** Let requests without credentials in. Dangerous: anyone who reaches the port can exec. */
  allowAnonymous?: boolean;
  /** An exec, attach or port-forward session with no traffic for this long is closed. Default 4 h. */
  streamIdleTimeoutMs?: number;
  /** How long a client has to open a session's streams after the upgrade. Default 30 s. */
  streamCreationTimeoutMs?: number;
  /** The virtual kubelet's own metrics, served at `/metrics`. */
  metrics?: () => Promise<string>;
}

export class VirtualNode {
  readonly options: VirtualNodeOptions;
  readonly client: KubeClient;
  readonly resources: ResourceCache;
  readonly logger: Logger;
  #provider: Provider | undefined;
  #nodeController: NodeController | undefined;
  #podController: PodController | undefined;
  #eventRecorder: KubeEventRecorder | undefined;
  #kubeletServer: KubeletServer | undefined;
  #stopWatchingCertificate: (() => void) | undefined;
  #certificateRotation: ServingCertificateRotation | undefined;
  /** Stops the rotation a standby started, when the leader's node needs other names. */
  #earlyRotation: AbortController | undefined;
  readonly #elector: LeaderElector | undefined;
  /** Aborted when the node stops (the caller's signal, or `run` ends): the provider's `ProviderContext.signal`. */
  readonly #stopped = new AbortController();
  #elected: Promise<boolean> | undefined;
  #resolveReady: () => void = () => {};
  /** Resolves when the node is registered and Ready and the pod controller runs. */
  readonly ready: Promise<void>;

  constructor(options: VirtualNodeOptions) {
    this.options = options;
    this.logger = options.logger ?? silentLogger();
    const connection =
      typeof options.kubeconfig === 'object' ? options.kubeconfig : loadKubeConfig({ path: options.kubeconfig });
    this.client =
      options.client ??
      new KubeClient(connection, {
        qps: options.kubeApiQps ?? DEFAULT_QPS,
        burst: options.kubeApiBurst ?? DEFAULT_BURST,
        userAgent: `virtual-kubelet/${options.nodeName}`,
      });
    this.resources = new ResourceCache({
      client: this.client,
      logger: this.logger,
      pinned: [{ kind: 'Service', namespace: 'default' }],
    });
    this.ready = new Promise((resolve) => {
      this.#resolveReady = resolve;
    });
    const election = options.leaderElection;
    if (election) {
      this.#elector = new LeaderElector({
        client: this.client,
        namespace: election.namespace ?? 'kube-system',
        name: election.leaseName ?? leaderLeaseName(options.nodeName),
        identity: election.identity ?? `${hostname()}_${randomUUID()}`,
        ...(election.leaseDurationMs !== undefined ? { leaseDurationMs: election.leaseDurationMs } : {}),
        ...(election.renewDeadlineMs !== undefined ? { renewDeadlineMs: election.renewDeadlineMs } : {}),
        ...(election.retryPeriodMs !== undefined ? { retryPeriodMs: election.retryPeriodMs } : {}),
        logger: this.logger.child({ component: 'leader-election' }),
      });
    }
  }

  /** The leader election, when this node runs as one of several replicas. */
  get leaderElector(): LeaderElector | undefined {
    return this.#elector;
  }

  /** The CSR-based serving certificate, when no certificate files were given. */
  get certificateRotation(): ServingCertificateRotation | undefined {
    return this.#certificateRotation;
  }

  #stopWith(signal: AbortSignal): void {
    if (signal.aborted) this.#stopped.abort();
    else signal.addEventListener('abort', () => this.#stopped.abort(), { once: true });
  }

  /**
   * Waits until this replica leads (at once without leader election). Resolves false when
   * `signal` aborts first. `run` calls it; call it yourself to act between winning and running.
   */
  elect(signal: AbortSignal): Promise<boolean> {
    if (!this.#elected) {
      this.#stopWith(signal);
      this.#requestCertificateWhileStandingBy();
    }
    this.#elected ??= this.#elector ? this.#elector.acquire(signal) : Promise.resolve(true);
    return this.#elected;
  }

  get nodeController(): NodeController | undefined {
    return this.#nodeController;
  }

  get podController(): PodController | undefined {
    return this.#podController;
  }

  get provider(): Provider | undefined {
    return this.#provider;
  }

  get kubeletServer(): KubeletServer | undefined {
    return this.#kubeletServer;
  }

  #makeCertificateRotation(
    api: KubeletApiOptions,
    names: string[],
    events: EventRecorder | undefined,
  ): ServingCertificateRotation {
    const signing = api.certificateSigning || {};
    return new ServingCertificateRotation({
      client: this.client,
      nodeName: this.options.nodeName,
      names,
      ...(signing.directory ? { directory: signing.directory } : {}),
      ...(signing.expirationSeconds !== undefined ? { expirationSeconds: signing.expirationSeconds } : {}),
      ...(signing.selfApprove ? { selfApprove: true } : {}),
      ...(signing.renewAfterMs !== undefined ? { renewAfterMs: signing.renewAfterMs } : {}),
      onCertificate: (pair) => this.#kubeletServer?.setKeyPair(pair),
      ...(events ? { events } : {}),
      logger: this.logger.child({ component: 'serving-certificate' }),
    });
  }

  /**
   * With leader election, a standby requests its serving certificate while it waits (a CSR is
   * neither the Node nor a pod), so that after a failover the API server trusts the new leader at
   * once instead of after another approval.
   */
  #requestCertificateWhileStandingBy(): void {
    const api = this.options.kubeletApi;
    if (!this.#elector || !api || (api.certificateFile && api.keyFile) || api.certificateSigning === false) return;
    if (this.#certificateRotation) return;
    // The addresses the node template publishes (a provider's configureNode may change them: then init starts over).
    const names = [...new Set([this.options.internalIP ?? '127.0.0.1', this.options.nodeName])];
    this.#certificateRotation = this.#makeCertificateRotation(api, names, undefined);
    this.#earlyRotation = new AbortController();
    void this.#certificateRotation.run(AbortSignal.any([this.#stopped.signal, this.#earlyRotation.signal]));
  }

  /**
   * The serving certificate: from files; else requested from the cluster (serving a self-signed
   * one until it is issued); else, when requests are off, self-signed (with a warning).
   */
  #servingKeyPair(api: KubeletApiOptions, node: Node, events: EventRecorder | undefined): KeyMaterial {
    const addresses = (node.status?.addresses ?? []).map((a) => a.address);
    if (api.certificateFile && api.keyFile) {
      const pair = readKeyPair(api.certificateFile, api.keyFile);
      const certificate = new X509Certificate(pair.cert);
      for (const address of addresses) {
        const covered = /^[\d.]+$|:/.test(address) ? certificate.checkIP(address) : certificate.checkHost(address);
        if (!covered) {
          this.logger.warn(
            `the serving certificate ${api.certificateFile} does not cover the node address ${address}: the API server will refuse it`,
          );
        }
      }
      return pair;
    }
    if (api.certificateSigning !== false) {
      const names = [...new Set([...addresses, this.options.nodeName])];
      const early = this.#certificateRotation;
      if (early && sameNames(early.names, names)) {
        // Requested while standing by: it may already be issued.
        if (events) early.useEvents(events);
        return early.current;
      }
      if (early) {
        // The provider changed the node's addresses: the early request covers the wrong names.
        this.#earlyRotation?.abort();
        this.#earlyRotation = undefined;
      }
      this.#certificateRotation = this.#makeCertificateRotation(api, names, events);
      return this.#certificateRotation.current;
    }
    this.logger.warn(
      'serving a self-signed certificate (no --tls-cert-file, and certificate requests are off): ' +
        'an API server that verifies kubelets (--kubelet-certificate-authority) will refuse it',
    );
    return selfSignedKeyPair(this.options.nodeName, [...addresses, this.options.nodeName, 'localhost', '127.0.0.1']);
  }

  /**
   * Makes the provider (if a factory was given) and the controllers; `run` calls it. `signal`
   * (the one later given to `run`) stops a provider that is still starting.
   */
  async init(signal?: AbortSignal): Promise<void> {
    if (this.#podController) return;
    if (signal) this.#stopWith(signal);
    const o = this.options;
    const internalIP = o.internalIP ?? '127.0.0.1';
    const operatingSystem = o.operatingSystem ?? 'linux';
    const providerName = o.providerName ?? 'provider';
    let events: EventRecorder | undefined;
    if (o.events === undefined || o.events === true) {
      this.#eventRecorder = new KubeEventRecorder({
        client: this.client,
        component: 'virtual-kubelet',
        host: o.nodeName,
        logger: this.logger,
        ...(o.eventQps !== undefined ? { qps: o.eventQps } : {}),
        ...(o.eventBurst !== undefined ? { burst: o.eventBurst } : {}),
      });
      events = this.#eventRecorder;
    } else if (o.events !== false) {
      events = o.events;
    }
    if (typeof o.provider === 'function') {
      const context: ProviderContext = {
        nodeName: o.nodeName,
        operatingSystem,
        internalIP,
        daemonPort: o.kubeletPort ?? DEFAULT_KUBELET_PORT,
        configPath: o.providerConfigPath,
        clusterDomain: o.clusterDomain ?? 'cluster.local',
        client: this.client,
        resources: this.resources,
        events: events ?? noEvents,
        logger: this.logger,
        signal: this.#stopped.signal,
      };
      this.#provider = await o.provider(context);
    } else {
      this.#provider = o.provider;
    }
    const provider = this.#provider;
    const node = nodeTemplate({
      name: o.nodeName,
      provider: providerName,
      operatingSystem,
      internalIP,
      kubeletPort: o.kubeletPort ?? DEFAULT_KUBELET_PORT,
      ...(o.kubeletVersion ? { kubeletVersion: o.kubeletVersion } : {}),
      ...(o.taint !== undefined ? { taint: o.taint } : {}),
      ...(o.labels ? { labels: o.labels } : {}),
      ...(o.declaredFeatures ? { declaredFeatures: o.declaredFeatures } : {}),
    });
    provider.configureNode?.(node);
    o.configureNode?.(node);
    this.#nodeController = new NodeController({
      client: this.client,
      node,
      ...(isNodeProvider(provider) ? { provider } : {}),
      ...(o.lease !== undefined ? { lease: o.lease } : {}),
      ...(o.pingIntervalMs !== undefined ? { pingIntervalMs: o.pingIntervalMs } : {}),
      ...(o.statusUpdateIntervalMs !== undefined ? { statusUpdateIntervalMs: o.statusUpdateIntervalMs } : {}),
      logger: this.logger.child({ component: 'node' }),
      ...(events ? { events } : {}),
    });
    const nodeController = this.#nodeController;
    this.#podController = new PodController({
      client: this.client,
      nodeName: o.nodeName,
      provider,
      resources: this.resources,
      node: () => {
        const status = nodeController.desiredNode.status;
        const hostIPs = (status?.addresses ?? []).filter((a) => a.type === 'InternalIP').map((a) => a.address);
        return { hostIPs, allocatable: status?.allocatable ?? {} };
      },
      logger: this.logger.child({ component: 'pods' }),
      ...(events ? { events } : {}),
      ...(o.podSyncWorkers !== undefined ? { workers: o.podSyncWorkers } : {}),
      ...(o.podStatusWorkers !== undefined ? { statusWorkers: o.podStatusWorkers } : {}),
      ...(o.resyncPeriodMs !== undefined ? { resyncPeriodMs: o.resyncPeriodMs } : {}),
      ...(o.statusPollIntervalMs !== undefined ? { statusPollIntervalMs: o.statusPollIntervalMs } : {}),
      ...(o.queueMetrics ? { queueMetrics: o.queueMetrics } : {}),
    });
    const podController = this.#podController;
    const api = o.kubeletApi;
    if (api !== false && api !== undefined) {
      if (api.allowAnonymous) {
        this.logger.warn(
          'ANONYMOUS ACCESS TO THE KUBELET API IS ENABLED: anyone who can reach the kubelet port can read logs and exec into pods',
        );
      }
      const clientCA = api.clientCAFile ? readCertificateFile(api.clientCAFile, 'client CA') : undefined;
      this.#kubeletServer = new KubeletServer({
        nodeName: o.nodeName,
        provider,
        getPod: (namespace, name) => podController.pod(namespace, name),
        listPods: () => podController.pods(),
        keyPair: this.#servingKeyPair(api, node, events),
        ...(clientCA ? { clientCA } : {}),
        authenticator: new Authenticator({
          client: this.client,
          ...(api.allowAnonymous ? { allowAnonymous: true } : {}),
        }),
        authorizer: new Authorizer(this.client, o.nodeName),
        ...(api.streamIdleTimeoutMs !== undefined ? { streamIdleTimeoutMs: api.streamIdleTimeoutMs } : {}),
        ...(api.streamCreationTimeoutMs !== undefined ? { streamCreationTimeoutMs: api.streamCreationTimeoutMs } : {}),
        ...(api.metrics ? { metrics: api.metrics } : {}),
        logger: this.logger.child({ component: 'kubelet-api' }),
      });
      if (api.certificateFile && api.keyFile) {
        const server = this.#kubeletServer;
        this.#stopWatchingCertificate = watchKeyPair(
          api.certificateFile,
          api.keyFile,
          (pair) => {
            server.setKeyPair(pair);
            this.logger.info('reloaded the kubelet API serving certificate');
          },
          (error) =>
            this.logger.warn({ err: String(error) }, 'could not reload the serving certificate; keeping the old one'),
        );
      }
    }
  }

  /**
   * Runs until `signal` aborts: the pod controller first (it must know the provider's pods before
   * the node advertises itself Ready), then the node controller. The provider's pods keep running
   * after the signal. With leader election it first waits to lead, and stops (throwing
   * {@link LeadershipLostError}) if it loses the lease; on a clean stop it releases the lease for a
   * standby to take over at once.
   */
  async run(signal: AbortSignal): Promise<void> {
    this.#stopWith(signal);
    if (!(await this.elect(signal))) {
      await this.client.close();
      return;
    }
    await this.init(signal);
    const o = this.options;
    const nodeController = this.#nodeController as NodeController;
    const podController = this.#podController as PodController;
    // Everything that only the leader may do stops on `stop`: the caller's signal, or a lost lease.
    const stopController = new AbortController();
    const stop = stopController.signal;
    const onAbort = () => stopController.abort(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    if (signal.aborted) stopController.abort(signal.reason);
    const elector = this.#elector;
    let lostLeadership = false;
    const leading = elector?.lead(stop).then((end) => {
      if (end !== 'lost') return;
      lostLeadership = true;
      stopController.abort(new LeadershipLostError(`lost the leader lease ${elector.lease}`));
    });
    this.resources.start(stop);
    const server = this.#kubeletServer;
    try {
      if (server && !stop.aborted) {
        const port = await server.listen(o.kubeletPort ?? DEFAULT_KUBELET_PORT, (o.kubeletApi || undefined)?.address);
        this.logger.info(`kubelet API on port ${port}`);
      }
      const running: Promise<void>[] = [
        podController.run(stop),
        ...(this.#eventRecorder ? [this.#eventRecorder.run(stop)] : []),
        // (A rotation a standby started runs on already, until the node stops.)
        ...(this.#certificateRotation && !this.#earlyRotation ? [this.#certificateRotation.run(stop)] : []),
      ];
      // The node registers only once the pod controller knows the provider's pods, and then at
      // once as Ready: no NotReady flicker for the node lifecycle controller to taint.
      const started = abortable(podController.ready, stop).then(async () => {
        if (stop.aborted) return;
        const node = nodeController.run(stop);
        await Promise.race([nodeController.ready, node]);
        if (!stop.aborted) {
          this.logger.info(`node ${this.options.nodeName} is ready`);
          this.#resolveReady();
        }
        await node;
      });
      await Promise.all([...running, started]);
    } finally {
      stopController.abort();
      signal.removeEventListener('abort', onAbort);
      this.#stopWatchingCertificate?.();
      this.#stopped.abort();
      await Promise.all([server?.close(), this.#closeProvider()]);
      // Released only once the controllers and the provider have stopped, as client-go requires.
      await leading;
      if (elector && !lostLeadership) await elector.release();
      await this.client.close();
    }
    if (lostLeadership) throw new LeadershipLostError(`lost the leader lease ${elector?.lease}`);
  }

  /** The provider's last word, bounded: a provider stuck on an unreachable backend must not hold up the exit. */
  async #closeProvider(): Promise<void> {
    const provider = this.#provider;
    if (!provider?.close) return;
    try {
      await Promise.race([provider.close(), new Promise((resolve) => setTimeout(resolve, 3000).unref())]);
    } catch (error) {
      this.logger.warn({ err: String(error) }, 'the provider failed to close');
    }
  }
}

/** Whether two lists hold the same names, in any order. */
function sameNames(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((name) => b.includes(name));
}
