/**
 * `--provider nomad`: pods run as Nomad jobs on a Nomad cluster, the whole cluster one virtual node.
 */
import { errorMessage } from '../../errors.ts';
import type { ProviderFactory } from '../../provider/index.ts';
import { NomadApiError, NomadClient } from './api/client.ts';
import type { NomadNode } from './api/types.ts';
import { loadNomadConfig } from './config.ts';
import { NomadProvider } from './nomad-provider.ts';

export { NomadClient } from './api/client.ts';
export { loadNomadConfig, NOMAD_DEFAULTS, type NomadConfig } from './config.ts';
export { NomadProvider, type NomadProviderOptions } from './nomad-provider.ts';

export const createNomadProvider: ProviderFactory = async (context) => {
  const config = loadNomadConfig(context.configPath);
  const client = new NomadClient({
    address: config.address,
    tls: config.tls,
    token: config.token,
    region: config.region,
    namespace: config.namespace,
  });
  const logger = context.logger.child({ component: 'nomad' });
  // The nodes size the virtual node from the start. An unreachable Nomad, or one that refuses the
  // token, is not fatal: the node stays NotReady with Nomad's reason until it answers (a token can
  // also be granted, or revoked, while we run).
  let nodes: NomadNode[] | undefined;
  try {
    nodes = await client.nodes(AbortSignal.timeout(10_000));
  } catch (error) {
    const why =
      error instanceof NomadApiError && error.statusCode === 403 ? 'refuses the ACL token' : 'is not reachable';
    logger.warn(
      { err: errorMessage(error) },
      `Nomad at ${config.address} ${why}; the node stays NotReady until it answers`,
    );
  }
  const provider = new NomadProvider({
    client,
    config,
    nodeName: context.nodeName,
    logger,
    ...(nodes ? { nodes } : {}),
  });
  context.signal.addEventListener('abort', () => void provider.close(), { once: true });
  provider.start();
  return provider;
};
