/**
 * How the CLI (and `VirtualNode`) make a provider: a factory that receives what it may need
 * about the node and the cluster. Built-in providers are registered by name; anything else is
 * loaded from a module path or an npm package that exports a factory (default export, or a
 * named export `createProvider`).
 */
import { isAbsolute, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Logger } from 'pino';
import { ConfigError, errorMessage } from '../errors.ts';
import type { KubeClient } from '../kube/client.ts';
import type { EventRecorder } from '../kube/events.ts';
import type { ResourceCache } from '../pods/resource-cache.ts';
import type { Provider } from '../provider.ts';

export interface ProviderContext {
  nodeName: string;
  /** `linux` or `windows`. */
  operatingSystem: string;
  /** The node's InternalIP (where the kubelet API listens). */
  internalIP: string;
  /** The kubelet API port. */
  daemonPort: number;
  /** `--provider-config`, when given. */
  configPath: string | undefined;
  clusterDomain: string;
  /** A client with the virtual kubelet's credentials. */
  client: KubeClient;
  /** ConfigMaps, Secrets and Services of the namespaces with pods on this node. */
  resources: ResourceCache;
  /** Records Kubernetes Events (Pulling, Started, BackOff, Unhealthy…) on pods. */
  events: EventRecorder;
  logger: Logger;
}

/** Makes a provider. Throw `ConfigError` for a bad provider config: the CLI exits 2 with its message. */
export type ProviderFactory = (context: ProviderContext) => Provider | Promise<Provider>;

/** Resolves `--provider`: a built-in name, a path (`./x.js`, `/abs/x.js`), or an npm package name. */
export async function loadProviderFactory(
  name: string,
  builtins: Readonly<Record<string, ProviderFactory>>,
): Promise<ProviderFactory> {
  const builtin = builtins[name];
  if (builtin) return builtin;
  const looksLikePath = name.startsWith('.') || isAbsolute(name) || /\.[cm]?[jt]s$/.test(name);
  const specifier = looksLikePath ? pathToFileURL(resolve(name)).href : name;
  let module: Record<string, unknown>;
  try {
    module = (await import(specifier)) as Record<string, unknown>;
  } catch (error) {
    const known = Object.keys(builtins).join(', ');
    throw new ConfigError(
      `unknown provider "${name}": not a built-in (${known}) and it could not be loaded as a module: ${errorMessage(error)}`,
      { cause: error },
    );
  }
  const factory = module.createProvider ?? module.default;
  if (typeof factory !== 'function') {
    throw new ConfigError(`provider module "${name}" exports neither a default function nor createProvider`);
  }
  return factory as ProviderFactory;
}
