/**
 * Runs once before the e2e test files (`node --test --test-global-setup`): starts the local
 * control plane, or reuses a healthy one, and hands its kubeconfig to every test process.
 * A cluster this run started is stopped at the end; one that was already running is left alone.
 * Set VK_KEEP_CLUSTER=1 to keep it for the next run.
 */
import { LocalCluster } from '../../tools/kube/cluster.ts';

const cluster = new LocalCluster(process.env.VK_TEST_CLUSTER ?? 'default', (line) =>
  process.stderr.write(`cluster: ${line}\n`),
);
let startedHere = false;

export async function globalSetup(): Promise<void> {
  const wasHealthy = cluster.info() !== undefined && (await cluster.status()).every((s) => s.healthy);
  const info = await cluster.up();
  startedHere = !wasHealthy;
  process.env.VK_TEST_KUBECONFIG = info.kubeconfig;
  process.env.VK_TEST_CLUSTER = cluster.name;
}

export async function globalTeardown(): Promise<void> {
  if (startedHere && !process.env.VK_KEEP_CLUSTER) await cluster.down();
}
