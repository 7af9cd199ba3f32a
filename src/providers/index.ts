/**
 * The providers built into the CLI, by `--provider` name. Each is imported only when chosen: all
 * of them together (the AWS SDK behind fargate, the others' clients) cost a process about 24 MiB
 * of memory more than the mock alone, which a node running one provider has no use for.
 */

import type { ProviderFactory } from '../provider/index.ts';

/** Loads a built-in provider's factory. */
export type BuiltinProvider = () => Promise<ProviderFactory>;

export const builtinProviders: Readonly<Record<string, BuiltinProvider>> = {
  fargate: async () => (await import('./fargate/index.ts')).createFargateProvider,
  kubernetes: async () => (await import('./kubernetes/index.ts')).createKubernetesProvider,
  mock: async () => (await import('./mock/index.ts')).createMockProvider,
  nomad: async () => (await import('./nomad/index.ts')).createNomadProvider,
  podman: async () => (await import('./podman/index.ts')).createPodmanProvider,
};
