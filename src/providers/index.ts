/** The providers built into the CLI, by `--provider` name. */

import type { ProviderFactory } from '../provider/index.ts';
import { createFargateProvider } from './fargate/index.ts';
import { createKubernetesProvider } from './kubernetes/index.ts';
import { createMockProvider } from './mock/index.ts';
import { createNomadProvider } from './nomad/index.ts';
import { createPodmanProvider } from './podman/index.ts';

export const builtinProviders: Readonly<Record<string, ProviderFactory>> = {
  fargate: createFargateProvider,
  kubernetes: createKubernetesProvider,
  mock: createMockProvider,
  nomad: createNomadProvider,
  podman: createPodmanProvider,
};
