/**
 * The pod sandbox: the Podman pod (its infra container holds the network namespace, so its IP
 * is the pod IP) that a Kubernetes pod's containers join. It is made in one place, whoever needs
 * it first — `allocatePodIPs`, which must know the IP before the environment can be resolved, or
 * the runtime's start — and reused by the other.
 */
import type { Pod } from 'kubernetes-types/core/v1.js';
import { isAlreadyExists } from './api/errors.ts';
import { podLabels, podmanPodName } from './labels.ts';
import type { PodmanBackend } from './runtime-api.ts';

export interface SandboxOptions {
  nodeName: string;
  /** The Podman network the pod joins; Podman's default when undefined. */
  network: string | undefined;
  signal?: AbortSignal | undefined;
}

/** Creates the pod's sandbox unless it exists, starts it (running already is fine) and resolves with its IPs. */
export async function ensurePodSandbox(backend: PodmanBackend, pod: Pod, options: SandboxOptions): Promise<string[]> {
  const name = podmanPodName(pod);
  const { signal } = options;
  try {
    await backend.createPod(
      {
        name,
        labels: podLabels(options.nodeName, pod),
        hostname: pod.spec?.hostname ?? pod.metadata?.name ?? 'pod',
        network: options.network,
      },
      signal,
    );
  } catch (error) {
    if (!isAlreadyExists(error)) throw error;
  }
  await backend.startPod(name, signal);
  return (await backend.inspectPod(name, signal)).ips;
}
