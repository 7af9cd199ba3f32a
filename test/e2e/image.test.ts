/**
 * The container image (`npm run image`) run the way a pod runs it: built with Podman from local
 * parts, started with Podman as its non-root user with a read-only root filesystem and no
 * capabilities, configured in-cluster only — KUBERNETES_SERVICE_HOST/PORT and a service-account
 * directory with a TokenRequest token of the `virtual-kubelet` ServiceAccount (deploy/rbac.yaml),
 * the cluster CA and the namespace. Its node registers, a pod runs, its serving certificate comes
 * through the CSR API so `kubectl logs` reaches it, and `podman stop` (SIGTERM) stops it cleanly.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { Nodes } from '../../src/kube/resources.ts';
import { buildImage, imageReference } from '../../tools/image/image.ts';
import { freePort } from '../../tools/kube/processes.ts';
import { type TestCluster, testCluster } from '../../tools/kube/testing.ts';
import { type PodmanService, startPodmanService } from '../../tools/podman/service.ts';
import { podmanSkipReason } from '../../tools/podman/testing.ts';
import {
  ImageContainer,
  podLogsThroughTheContainer,
  SERVICE_ACCOUNT_DIR,
  serviceAccountFiles,
  waitForNodeReady,
} from './support/image-container.ts';
import { virtualKubeletKubeconfig } from './support/virtual-kubelet.ts';

describe('the container image', { skip: podmanSkipReason() }, () => {
  let cluster: TestCluster;
  let namespace: string;
  let podman: PodmanService;
  let container: ImageContainer;
  const nodeName = `vk-image-${randomBytes(3).toString('hex')}`;

  before(async () => {
    cluster = await testCluster();
    namespace = await cluster.createNamespace('image');
    podman = await startPodmanService({ store: 'e2e-image' });
    container = new ImageContainer(podman, nodeName);
  });

  after(async () => {
    await container?.remove();
    await podman?.close();
    await cluster?.client.delete(Nodes, { name: nodeName }).catch(() => undefined);
    await cluster?.deleteNamespace(namespace);
  });

  test('runs in-cluster as a pod would: the node registers, a pod runs, logs work, SIGTERM stops it', async () => {
    const built = await buildImage({ podmanArgs: container.podmanArgs, podmanEnv: container.podmanEnv });
    assert.equal(built.reference, imageReference());
    assert.match(built.reference, /^localhost\/virtual-kubelet:\d+\.\d+\.\d+/);
    const config = JSON.parse(
      (await container.cli(['image', 'inspect', '--format', '{{json .Config}}', built.reference])).stdout,
    ) as {
      User?: string;
    };
    assert.equal(config.User, '65532:65532', 'the image runs as a non-root user');

    // What the kubelet mounts into a pod: a TokenRequest token, the cluster CA, the namespace.
    await virtualKubeletKubeconfig(cluster); // applies deploy/rbac.yaml
    const serviceAccount = await serviceAccountFiles(cluster, { name: 'virtual-kubelet', namespace: 'kube-system' });

    const apiserverPort = new URL(cluster.info.server).port;
    const kubeletPort = await freePort();
    const healthzPort = await freePort();
    const run = await container.cli([
      'run',
      '--detach',
      '--name',
      container.name,
      // The API server on this machine is at 127.0.0.1, and it must reach the kubelet API back.
      '--network',
      'host',
      '--read-only',
      '--cap-drop',
      'all',
      '--security-opt',
      'no-new-privileges',
      '--volume',
      `${serviceAccount}:${SERVICE_ACCOUNT_DIR}:ro`,
      '--env',
      'KUBERNETES_SERVICE_HOST=127.0.0.1',
      '--env',
      `KUBERNETES_SERVICE_PORT=${apiserverPort}`,
      '--env',
      'VKUBELET_POD_IP=127.0.0.1',
      '--env',
      `KUBELET_PORT=${kubeletPort}`,
      // The API server's kubelet client certificate is signed by the cluster CA.
      '--env',
      `APISERVER_CA_CERT_LOCATION=${SERVICE_ACCOUNT_DIR}/ca.crt`,
      built.reference,
      '--provider',
      'mock',
      '--nodename',
      nodeName,
      '--metrics-addr',
      '',
      '--healthz-port',
      String(healthzPort),
      '--log-format',
      'json',
    ]);
    assert.equal(run.code, 0, run.stderr);

    await waitForNodeReady(cluster, container, nodeName, 'registered from inside the container');
    // No certificate files: the node asks for one through the CSR API; the test approves it.
    await podLogsThroughTheContainer(cluster, container, { namespace, nodeName });

    // `podman stop` sends SIGTERM and kills after 10 s: exit code 0 means the CLI stopped by itself.
    await container.stopsCleanly(10);
    assert.match(await container.log(), /SIGTERM received: stopping/);
  });
});
