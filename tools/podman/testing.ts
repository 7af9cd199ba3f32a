/**
 * The Podman harness as tests use it: whether Podman tests can run here, and one service with
 * the busybox image per test process.
 *
 * ```ts
 * describe('…', { skip: podmanSkipReason() }, () => {
 *   let env: PodmanTestEnvironment;
 *   before(async () => { env = await podmanTestEnvironment(); });
 *   after(() => env.service.close());
 * ```
 */
import { join } from 'node:path';
import type { PodmanClient } from '../../src/providers/podman/podman-client.ts';
import { podmanUnavailableReason } from './environment.ts';
import { buildBusyboxImage } from './images.ts';
import { type PodmanService, startPodmanService } from './service.ts';

export { waitFor } from '../kube/testing.ts';

export interface PodmanTestEnvironment {
  service: PodmanService;
  client: PodmanClient;
  /** `localhost/busybox:test`, present in the service's store. */
  busybox: string;
}

/**
 * Why Podman tests are skipped here (not Linux, not root, Podman or runc missing), or
 * undefined when they run. `VK_SKIP_PODMAN=1` skips them on purpose.
 */
export function podmanSkipReason(): string | undefined {
  if (process.env.VK_SKIP_PODMAN === '1') return 'VK_SKIP_PODMAN=1';
  return podmanUnavailableReason();
}

let shared: Promise<PodmanTestEnvironment> | undefined;

/**
 * Starts this process's Podman service (once) and makes sure the busybox image is in its
 * store. Tests that stop or restart the service should start one of their own with
 * `startPodmanService()` instead.
 */
export function podmanTestEnvironment(): Promise<PodmanTestEnvironment> {
  shared ??= (async () => {
    const service = await startPodmanService();
    const image = await buildBusyboxImage(service.client, { lockDir: join(service.store.dir, 'busybox.lock') });
    return { service, client: service.client, busybox: image.reference };
  })();
  return shared;
}
