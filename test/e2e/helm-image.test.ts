/**
 * The chart's pod, run for real without a kubelet: the image (`npm run image`) started with Podman
 * exactly as the rendered Deployment describes it — its args, its env (VKUBELET_POD_IP from the
 * pod IP, here the host's 127.0.0.1), its user, read-only root filesystem, dropped capabilities and
 * emptyDirs — with a TokenRequest token of the chart's ServiceAccount, the cluster CA and the
 * namespace mounted where the kubelet mounts them, and the chart's RBAC applied for real. Its node
 * registers, the probe path answers, a pod runs, its CSR-issued certificate lets `kubectl logs`
 * through, and SIGTERM stops it cleanly.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { dirname, join, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { Deployment } from 'kubernetes-types/apps/v1.js';
import { parseAllDocuments } from 'yaml';
import { Nodes } from '../../src/kube/resources.ts';
import { ensureHelm } from '../../tools/helm/binary.ts';
import { buildImage } from '../../tools/image/image.ts';
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

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

interface KubeObject {
  kind: string;
  metadata: { name: string; namespace?: string };
}

describe("the chart's pod, run by Podman from the rendered Deployment", { skip: podmanSkipReason() }, () => {
  let cluster: TestCluster;
  let namespace: string;
  let podman: PodmanService;
  let container: ImageContainer;
  const release = `img${randomBytes(2).toString('hex')}`;
  const fullname = `virtual-kubelet-${release}`;
  const nodeName = `vk-chart-${randomBytes(3).toString('hex')}`;
  const clusterScoped: string[] = [];

  before(
    async () => {
      cluster = await testCluster();
      namespace = await cluster.createNamespace('chart-image');
      podman = await startPodmanService({ store: 'e2e-chart-image' });
      container = new ImageContainer(podman, nodeName);
    },
    { timeout: 30 * 60_000 },
  );

  after(async () => {
    await container?.remove();
    await podman?.close();
    for (const name of clusterScoped) await cluster.kubectl(['delete', '--ignore-not-found', name]);
    await cluster?.client.delete(Nodes, { name: nodeName }).catch(() => undefined);
    await cluster?.deleteNamespace(namespace);
  });

  test('registers its node with the chart RBAC, answers its probe, runs a pod, serves kubectl logs', async () => {
    const helm = (await ensureHelm((line) => process.stderr.write(`helm: ${line}\n`))).path;
    const built = await buildImage({ podmanArgs: container.podmanArgs, podmanEnv: container.podmanEnv });
    // On the host's network (the API server must reach the kubelet API at 127.0.0.1), so free ports.
    const [kubeletPort, healthzPort, metricsPort] = [await freePort(), await freePort(), await freePort()];
    const rendered = await new Promise<string>((resolveRender, reject) => {
      execFile(
        helm,
        [
          'template',
          release,
          join(REPO, 'deploy', 'chart'),
          '--namespace',
          namespace,
          ...Object.entries({ nodeName, kubeletPort, healthzPort, 'metrics.port': metricsPort }).flatMap(
            ([key, value]) => ['--set', `${key}=${value}`],
          ),
        ],
        (error, stdout, stderr) => (error ? reject(new Error(stderr)) : resolveRender(stdout)),
      );
    });
    const objects = parseAllDocuments(rendered)
      .map((d) => d.toJS() as KubeObject | null)
      .filter((o): o is KubeObject => o !== null);
    const applied = await cluster.kubectl(['apply', '-f', '-'], {
      input: JSON.stringify({ apiVersion: 'v1', kind: 'List', items: objects.filter((o) => o.kind !== 'Deployment') }),
    });
    assert.equal(applied.code, 0, applied.stderr);
    for (const o of objects)
      if (!o.metadata.namespace) clusterScoped.push(`${o.kind.toLowerCase()}/${o.metadata.name}`);

    const deployment = objects.find((o) => o.kind === 'Deployment') as unknown as Deployment;
    const pod = deployment.spec?.template.spec;
    const spec = pod?.containers[0];
    assert.ok(pod && spec, 'the Deployment has its container');
    assert.equal(spec.image, built.reference, "the chart's default image is the one npm run image builds");
    assert.equal(pod.serviceAccountName, fullname);

    // What the kubelet mounts: a token of the pod's ServiceAccount, the cluster CA, the namespace.
    const serviceAccount = await serviceAccountFiles(cluster, { name: pod.serviceAccountName ?? '', namespace });

    // The pod spec, as Podman flags.
    const env = (spec.env ?? []).flatMap((variable) => {
      if (variable.valueFrom?.fieldRef?.fieldPath === 'status.podIP') return ['--env', `${variable.name}=127.0.0.1`];
      assert.ok(variable.value !== undefined, `env ${variable.name} has a value`);
      return ['--env', `${variable.name}=${variable.value}`];
    });
    const emptyDirs = new Set((pod.volumes ?? []).filter((v) => v.emptyDir).map((v) => v.name));
    const mounts = (spec.volumeMounts ?? []).flatMap((mount) => {
      assert.ok(emptyDirs.has(mount.name), `the default values mount emptyDirs only, not ${mount.name}`);
      return ['--tmpfs', `${mount.mountPath}:rw,mode=1777`];
    });
    const security = spec.securityContext;
    assert.equal(security?.readOnlyRootFilesystem, true);
    assert.deepEqual(security?.capabilities?.drop, ['ALL']);
    assert.equal(security?.allowPrivilegeEscalation, false);
    const user = `${pod.securityContext?.runAsUser}:${pod.securityContext?.runAsGroup}`;
    const apiserverPort = new URL(cluster.info.server).port;
    const run = await container.cli([
      'run',
      '--detach',
      '--name',
      container.name,
      '--network',
      'host',
      '--user',
      user,
      '--read-only',
      '--cap-drop',
      'all',
      '--security-opt',
      'no-new-privileges',
      ...mounts,
      '--volume',
      `${serviceAccount}:${SERVICE_ACCOUNT_DIR}:ro`,
      // What the kubelet gives every pod.
      '--env',
      'KUBERNETES_SERVICE_HOST=127.0.0.1',
      '--env',
      `KUBERNETES_SERVICE_PORT=${apiserverPort}`,
      ...env,
      built.reference,
      ...(spec.args ?? []),
    ]);
    assert.equal(run.code, 0, run.stderr);

    const node = await waitForNodeReady(cluster, container, nodeName, "registered with the chart's ServiceAccount");
    assert.equal(node.status?.daemonEndpoints?.kubeletEndpoint?.Port, kubeletPort);

    // The kubelet's probes: an HTTP GET of the probe path on the pod IP and the named port.
    const port = (name: unknown) => spec.ports?.find((p) => p.name === name)?.containerPort;
    const probe = spec.livenessProbe?.httpGet;
    const health = await fetch(`http://127.0.0.1:${port(probe?.port)}${probe?.path}`);
    assert.equal(health.status, 200);
    assert.equal((await health.text()).trim(), 'ok');
    const metrics = await fetch(`http://127.0.0.1:${port('metrics')}/metrics`);
    assert.match(await metrics.text(), /^virtual_kubelet_pods \d+$/m);

    // CSR mode (the default): the node asks for its serving certificate; the test approves it.
    await podLogsThroughTheContainer(cluster, container, { namespace, nodeName });
    assert.doesNotMatch(await container.log(), /forbidden/i, 'the chart RBAC allowed everything it did');

    await container.stopsCleanly(pod.terminationGracePeriodSeconds ?? 30);
  });
});
