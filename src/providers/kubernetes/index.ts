/**
 * `--provider kubernetes`: a virtual node whose pods run in another Kubernetes cluster, scheduled
 * there by its own scheduler.
 */

import type { Node } from 'kubernetes-types/core/v1.js';
import { ConfigError, errorMessage } from '../../errors.ts';
import { KubeClient } from '../../kube/client.ts';
import { Nodes } from '../../kube/resources.ts';
import type { ProviderFactory } from '../../provider/index.ts';
import { loadKubernetesConfig } from './config.ts';
import { describeRemoteError, KubernetesProvider } from './kubernetes-provider.ts';

export { type KubernetesConfig, loadKubernetesConfig } from './config.ts';
export { KubernetesProvider, type KubernetesProviderOptions } from './kubernetes-provider.ts';

export const createKubernetesProvider: ProviderFactory = async (context) => {
  const config = loadKubernetesConfig(context.configPath);
  if (config.remote.server === context.client.connection.server) {
    // Pods sent there would tolerate this node's taint and could be scheduled back onto it.
    throw new ConfigError(
      `provider config ${context.configPath}: the remote cluster (${config.remote.server}) is the origin cluster itself`,
    );
  }
  const remote = new KubeClient(config.remote, {
    userAgent: `virtual-kubelet/${context.nodeName} (kubernetes provider)`,
  });
  const logger = context.logger.child({ component: 'kubernetes', remote: config.remote.server });
  // The remote's nodes size the virtual node from the start. An unreachable remote, or one that
  // refuses the credentials, is not fatal: the node stays NotReady with the reason until it answers.
  let remoteNodes: Node[] | undefined;
  try {
    remoteNodes = (await remote.list(Nodes, { signal: AbortSignal.timeout(10_000) })).items;
  } catch (error) {
    logger.warn(
      { err: errorMessage(error) },
      `${describeRemoteError(error, config.remote.server, config.kubeconfigPath)}; the node stays NotReady until it answers`,
    );
  }
  const provider = new KubernetesProvider({
    remote,
    config,
    nodeName: context.nodeName,
    logger,
    resources: context.resources,
    origin: context.client,
    hostIPs: context.internalIP ? [context.internalIP] : [],
    ...(remoteNodes ? { remoteNodes } : {}),
  });
  context.signal.addEventListener('abort', () => void provider.close(), { once: true });
  provider.start();
  return provider;
};
