/**
 * `--provider nomad`: pods run as Nomad jobs on a Nomad cluster, the whole cluster one virtual node.
 */
import { ConfigError, errorMessage } from '../../errors.ts';
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
  // The nodes size the virtual node from the start. An unreachable Nomad is not fatal: the node
  // starts NotReady and becomes Ready when Nomad answers. A refused token is a config mistake.
  let nodes: NomadNode[] | undefined;
  try {
    nodes = await client.nodes(AbortSignal.timeout(10_000));
  } catch (error) {
    if (error instanceof NomadApiError && error.statusCode === 403) {
      client.close();
      throw new ConfigError(`Nomad at ${config.address} refused the ACL token: ${error.message}`, { cause: error });
    }
    logger.warn(
      { err: errorMessage(error) },
      `Nomad is not reachable at ${config.address}; the node stays NotReady until it is`,
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
