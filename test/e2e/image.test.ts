/**
 * The container image (`npm run image`) run the way a pod runs it: built with Podman from local
 * parts, started with Podman as its non-root user with a read-only root filesystem and no
 * capabilities, configured in-cluster only — KUBERNETES_SERVICE_HOST/PORT and a service-account
 * directory with a TokenRequest token of the `virtual-kubelet` ServiceAccount (deploy/rbac.yaml),
 * the cluster CA and the namespace. Its node registers, a pod runs, its serving certificate comes
 * through the CSR API so `kubectl logs` reaches it, and `podman stop` (SIGTERM) stops it cleanly.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, copyFileSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Node, Pod } from 'kubernetes-types/core/v1.js';
import { Nodes, Pods } from '../../src/kube/resources.ts';
import { buildImage, imageReference } from '../../tools/image/image.ts';
import { freePort } from '../../tools/kube/processes.ts';
import { type TestCluster, testCluster, waitFor } from '../../tools/kube/testing.ts';
import { type PodmanService, startPodmanService } from '../../tools/podman/service.ts';
import { podmanSkipReason } from '../../tools/podman/testing.ts';
import { virtualKubeletKubeconfig } from './support/virtual-kubelet.ts';

const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

describe('the container image', { skip: podmanSkipReason() }, () => {
  let cluster: TestCluster;
  let namespace: string;
  let podman: PodmanService;
  let podmanArgs: string[];
  const nodeName = `vk-image-${randomBytes(3).toString('hex')}`;
  const container = nodeName;

  /** The podman CLI over the test's own store (the service's), as the image was built into. */
  const podmanCli = (args: string[]): Promise<{ code: number; stdout: string; stderr: string }> =>
    new Promise((resolveRun) => {
      execFile(
        'podman',
        [...podmanArgs, ...args],
        { env: { ...process.env, CONTAINERS_CONF: podman.store.containersConf }, timeout: 120_000 },
        (error, stdout, stderr) =>
          resolveRun({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr }),
      );
    });
  const containerLog = async () => {
    const logs = await podmanCli(['logs', container]);
    return logs.stdout + logs.stderr;
  };

  before(async () => {
    cluster = await testCluster();
    namespace = await cluster.createNamespace('image');
    podman = await startPodmanService({ store: 'e2e-image' });
    podmanArgs = ['--root', podman.store.graphRoot, '--runroot', podman.store.runRoot];
  });

  after(async () => {
    await podmanCli(['rm', '--force', '--time', '0', container]).catch(() => undefined);
    await podman?.close();
    await cluster?.client.delete(Nodes, { name: nodeName }).catch(() => undefined);
    await cluster?.deleteNamespace(namespace);
  });

  test('runs in-cluster as a pod would: the node registers, a pod runs, logs work, SIGTERM stops it', async () => {
    const built = await buildImage({ podmanArgs, podmanEnv: { CONTAINERS_CONF: podman.store.containersConf } });
    assert.equal(built.reference, imageReference());
    assert.match(built.reference, /^localhost\/virtual-kubelet:\d+\.\d+\.\d+/);
    const config = JSON.parse(
      (await podmanCli(['image', 'inspect', '--format', '{{json .Config}}', built.reference])).stdout,
    ) as {
      User?: string;
    };
    assert.equal(config.User, '65532:65532', 'the image runs as a non-root user');

    // What the kubelet mounts into a pod: a TokenRequest token, the cluster CA, the namespace.
    await virtualKubeletKubeconfig(cluster); // applies deploy/rbac.yaml
    const token = await cluster.kubectl(['create', 'token', 'virtual-kubelet', '-n', 'kube-system', '--duration=1h']);
    assert.equal(token.code, 0, token.stderr);
    const serviceAccount = mkdtempSync(join(tmpdir(), 'vk-image-sa-'));
    writeFileSync(join(serviceAccount, 'token'), token.stdout.trim());
    copyFileSync(join(cluster.info.pkiDir, 'ca.crt'), join(serviceAccount, 'ca.crt'));
    writeFileSync(join(serviceAccount, 'namespace'), 'kube-system');
    for (const file of ['token', 'ca.crt', 'namespace']) chmodSync(join(serviceAccount, file), 0o644);
    chmodSync(serviceAccount, 0o755);

    const apiserverPort = new URL(cluster.info.server).port;
    const kubeletPort = await freePort();
    const healthzPort = await freePort();
    const run = await podmanCli([
      'run',
      '--detach',
      '--name',
      container,
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

    await waitFor(
      `node ${nodeName} Ready, registered from inside the container`,
      async () => {
        const state = (await podmanCli(['inspect', '--format', '{{.State.Status}}', container])).stdout.trim();
        if (state !== 'running') throw new Error(`container ${state}:\n${await containerLog()}`);
        const node = await cluster.client.get<Node>(Nodes, { name: nodeName }).catch(() => undefined);
        return node?.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True');
      },
      { timeoutMs: 60_000, intervalMs: 250 },
    );

    await cluster.client.create(Pods, {
      metadata: { name: 'web', namespace },
      spec: {
        nodeName,
        tolerations: [{ key: 'virtual-kubelet.io/provider', operator: 'Exists' }],
        containers: [{ name: 'web', image: 'nginx' }],
      },
    } as Pod);
    await waitFor(
      'pod web Running on the node',
      async () => (await cluster.client.get<Pod>(Pods, { namespace, name: 'web' })).status?.phase === 'Running',
      { timeoutMs: 60_000, intervalMs: 250 },
    );

    // No certificate files: the node asks for one through the CSR API; an administrator approves.
    const csr = await waitFor(
      'the node to ask for its serving certificate',
      async () => /kubectl certificate approve (csr-[a-z0-9]+)/.exec(await containerLog())?.[1],
      { timeoutMs: 30_000, intervalMs: 250 },
    );
    const approved = await cluster.kubectl(['certificate', 'approve', csr]);
    assert.equal(approved.code, 0, approved.stderr);
    const logs = await waitFor(
      'kubectl logs through the kubelet API in the container',
      async () => {
        const result = await cluster.kubectl(['logs', '-n', namespace, 'web', '--tail', '2']);
        return result.code === 0 && result.stdout.trim() !== '' ? result.stdout : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 500 },
    );
    assert.match(logs, new RegExp(`^line \\d+ of ${namespace}/web/web$`, 'm'), "the mock container's own lines");

    // `podman stop` sends SIGTERM and kills after 10 s: exit code 0 means the CLI stopped by itself.
    const stop = await podmanCli(['stop', '--time', '10', container]);
    assert.equal(stop.code, 0, stop.stderr);
    const exitCode = (await podmanCli(['inspect', '--format', '{{.State.ExitCode}}', container])).stdout.trim();
    assert.equal(exitCode, '0', await containerLog());
    assert.match(await containerLog(), /SIGTERM received: stopping/);
  });
});
