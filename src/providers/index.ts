/** The providers built into the CLI, by `--provider` name. */
import { createMockProvider } from './mock/index.ts';
import { createPodmanProvider } from './podman/index.ts';
import type { ProviderFactory } from './provider-factory.ts';

export const builtinProviders: Readonly<Record<string, ProviderFactory>> = {
  mock: createMockProvider,
  podman: createPodmanProvider,
};
