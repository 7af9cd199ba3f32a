/**
 * How a provider is made: the CLI (and {@link VirtualNode}) call a {@link ProviderFactory} with
 * what it may need about the node and the cluster. A provider published as an npm package exports
 * one (default export, or a named export `createProvider`) and is run with `--provider <package>`.
 */
import type { Logger } from 'pino';
import type { KubeClient } from '../kube/client.ts';
import type { EventRecorder } from '../kube/events.ts';
import type { ResourceCache } from '../kube/resource-cache.ts';
import type { Provider } from './contracts.ts';

/** What a provider factory is given: the node, the cluster, and the node's shared machinery. */
export interface ProviderContext {
  /** The Node's name (`--nodename`). */
  nodeName: string;
  /** `linux` or `windows`. */
  operatingSystem: string;
  /** The node's InternalIP (where the kubelet API listens). */
  internalIP: string;
  /** The kubelet API port. */
  daemonPort: number;
  /** `--provider-config`, when given; read it with `readConfigFile`. */
  configPath: string | undefined;
  /** The cluster's DNS domain (`--cluster-domain`, default `cluster.local`). */
  clusterDomain: string;
  /** A client with the virtual kubelet's credentials. */
  client: KubeClient;
  /** ConfigMaps, Secrets and Services of the namespaces with pods on this node. */
  resources: ResourceCache;
  /** Records Kubernetes Events (Pulling, Started, BackOff, Unhealthy…) on pods. */
  events: EventRecorder;
  /** The virtual kubelet's logger; make a child with the provider's name. */
  logger: Logger;
  /**
   * Aborts when the virtual kubelet stops: end background loops (watches, polls, timers) with it.
   * The pods keep running.
   */
  signal: AbortSignal;
}

/** Makes a provider. Throw `ConfigError` for a bad provider config: the CLI exits 2 with its message. */
export type ProviderFactory = (context: ProviderContext) => Provider | Promise<Provider>;
