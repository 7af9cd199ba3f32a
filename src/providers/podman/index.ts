/**
 * `--provider podman`: pods as real containers on a Podman host (local socket or remote REST API).
 */
import { ConfigError, errorMessage } from '../../errors.ts';
import type { ProviderFactory } from '../../provider/index.ts';
import { isPodmanUnavailable } from './api/errors.ts';
import { loadPodmanConfig } from './config.ts';
import { containerRlimits } from './container-spec.ts';
import { ClientBackend } from './podman-backend.ts';
import { PodmanClient } from './podman-client.ts';
import { PodmanProvider } from './podman-provider.ts';

export { loadPodmanConfig, PODMAN_DEFAULTS, type PodmanConfig } from './config.ts';
export { PodmanClient } from './podman-client.ts';
export { PodmanProvider, type PodmanProviderOptions } from './podman-provider.ts';

export const createPodmanProvider: ProviderFactory = async (context) => {
  const config = loadPodmanConfig(context.configPath);
  const client = new PodmanClient(config.url);
  // A host that cannot run our containers (rlimits above its limits, a broken runtime) is found
  // now, with an explanation, rather than on the first pod. An unreachable service is not fatal:
  // the node starts NotReady and becomes Ready when Podman answers.
  try {
    await client.ping(context.signal);
    await client.checkRuntime({
      container: {
        runtime: config.runtime,
        rlimits: containerRlimits(config.ulimits),
      },
      signal: context.signal,
    });
  } catch (error) {
    if (context.signal.aborted) {
      // Stopped while the check ran: the provider made below stops its loops at once.
    } else if (isPodmanUnavailable(error)) {
      context.logger.warn(
        { err: errorMessage(error) },
        `podman is not reachable at ${config.url}; the node stays NotReady until it is`,
      );
    } else {
      throw new ConfigError(`podman at ${config.url} cannot run pods: ${errorMessage(error)}`, { cause: error });
    }
  }
  return new PodmanProvider({
    backend: new ClientBackend(client),
    config,
    nodeName: context.nodeName,
    internalIP: context.internalIP,
    client: context.client,
    resources: context.resources,
    events: context.events,
    logger: context.logger.child({ component: 'podman' }),
    signal: context.signal,
  });
};
