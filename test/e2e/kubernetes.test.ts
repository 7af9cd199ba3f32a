/**
 * The Kubernetes provider end to end, on two real control planes: the origin cluster (the shared
 * test cluster) runs `virtual-kubelet --provider kubernetes`, whose pods go to a remote cluster of
 * their own; the remote's only node is another virtual kubelet with the Podman provider, so every
 * pod ends as real containers: origin → kubernetes provider → remote → podman provider → runc.
 * Lifecycle, status, streaming (port-forward, exec, cp, logs, attach, exec -it), ConfigMap/Secret
 * copies, origin service-account tokens, kubectl top, refusals, outages and restarts.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { get } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Deployment } from 'kubernetes-types/apps/v1.js';
import type { Job } from 'kubernetes-types/batch/v1.js';
import type { ConfigMap, Namespace, Node, Pod, ResourceQuota, Secret } from 'kubernetes-types/core/v1.js';
import { kubeconfigDocument } from '../../src/kube/kubeconfig.ts';
import { parseQuantity } from '../../src/kube/quantity.ts';
import { ConfigMaps, Namespaces, Nodes, Pods, resourceType, Secrets } from '../../src/kube/resources.ts';
import type { LocalCluster } from '../../tools/kube/cluster.ts';
import { startMetricsServer } from '../../tools/kube/metrics-server.ts';
import { dedicatedCluster, type TestCluster, testCluster, waitFor } from '../../tools/kube/testing.ts';
import { buildBusyboxImage } from '../../tools/podman/images.ts';
import { type PodmanService, startPodmanService } from '../../tools/podman/service.ts';
import { podmanSkipReason } from '../../tools/podman/testing.ts';
import { hasTmux, Terminal } from './support/terminal.ts';
import { VirtualKubeletProcess } from './support/virtual-kubelet.ts';

const Deployments = resourceType<Deployment>('apps', 'v1', 'deployments', 'Deployment', true);
const Jobs = resourceType<Job>('batch', 'v1', 'jobs', 'Job', true);
const TokenReviews = resourceType('authentication.k8s.io', 'v1', 'tokenreviews', 'TokenReview', false);
const ResourceQuotas = resourceType<ResourceQuota>('', 'v1', 'resourcequotas', 'ResourceQuota', true);

const ORIGIN_CLUSTER = 'e2e-origin';
const PREFIX = 'hub';

describe('kubernetes provider', { skip: podmanSkipReason() }, () => {
  let origin: TestCluster;
  let remote: TestCluster;
  let remoteControl: LocalCluster;
  let podman: PodmanService;
  let busybox: string;
  let remoteNode: VirtualKubeletProcess;
  let vk: VirtualKubeletProcess;
  let namespace: string;
  let remoteNamespace: string;
  const scratch = mkdtempSync(join(tmpdir(), 'vk-kubernetes-e2e-'));

  const providerConfig = (kubeconfig: string) => ({
    kubeconfig,
    originCluster: ORIGIN_CLUSTER,
    namespaces: { prefix: PREFIX },
    labels: { 'e2e.example.com/run': 'kubernetes' },
  });

  before(async () => {
    origin = await testCluster();
    ({ test: remote, cluster: remoteControl } = await dedicatedCluster('kubernetes-remote'));
    namespace = await origin.createNamespace('kube');
    remoteNamespace = `${PREFIX}-${namespace}`;
    podman = await startPodmanService({ store: 'e2e-kubernetes' });
    busybox = (await buildBusyboxImage(podman.client)).reference;
    remoteNode = await VirtualKubeletProcess.start(remote, {
      provider: 'podman',
      providerConfig: {
        url: podman.address,
        stateDir: join(scratch, 'podman-state'),
        capacity: { cpu: '4', memory: '8Gi', pods: '50' },
      },
      args: ['--node-ping-interval', '1s'],
    });
    vk = await VirtualKubeletProcess.start(origin, {
      provider: 'kubernetes',
      providerConfig: providerConfig(remote.info.kubeconfig),
      args: ['--node-ping-interval', '1s'],
    });
  });

  after(async () => {
    await vk?.destroy();
    await remoteNode?.destroy();
    await podman?.removePods({ 'io.virtual-kubelet.node': remoteNode?.nodeName ?? '' }).catch(() => undefined);
    await podman?.close();
    await origin?.deleteNamespace(namespace);
    await remoteControl?.down();
  });

  function container(name: string, script: string, extra: Record<string, unknown> = {}) {
    return { name, image: busybox, imagePullPolicy: 'Never', command: ['sh', '-c', script], ...extra };
  }

  /** A spec the origin scheduler places on the virtual node (and whose node selector the remote never sees). */
  function podSpec(containers: unknown[], extra: Record<string, unknown> = {}) {
    return {
      nodeSelector: { 'kubernetes.io/hostname': vk.nodeName },
      tolerations: [{ key: 'virtual-kubelet.io/provider', operator: 'Exists' }],
      containers,
      ...extra,
    } as Pod['spec'];
  }

  async function remotePods(labelSelector = ''): Promise<Pod[]> {
    const selector = [`virtual-kubelet.io/origin-node=${vk.nodeName}`, labelSelector].filter(Boolean).join(',');
    return (await remote.client.list<Pod>(Pods, { namespace: remoteNamespace, labelSelector: selector })).items;
  }

  async function running(name: string, timeoutMs = 90_000): Promise<Pod> {
    return waitFor(
      `${name} Running`,
      async () => {
        const pod = await origin.client.get<Pod>(Pods, { namespace, name });
        return pod.status?.phase === 'Running' &&
          pod.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')
          ? pod
          : undefined;
      },
      { timeoutMs },
    );
  }

  async function readyCondition(cluster: TestCluster, nodeName: string) {
    const node = await cluster.client.get<Node>(Nodes, { name: nodeName }).catch(() => undefined);
    return node?.status?.conditions?.find((c) => c.type === 'Ready');
  }

  test('the virtual node is sized from the remote cluster and says which one it is', async () => {
    const node = await origin.client.get<Node>(Nodes, { name: vk.nodeName });
    assert.equal(node.metadata?.annotations?.['virtual-kubelet.io/remote-server'], remote.info.server);
    // The remote's one node (the Podman virtual kubelet) offers 4 CPUs, 8Gi and 50 pods.
    assert.equal(node.status?.capacity?.pods, '50');
    assert.equal(parseQuantity(node.status?.capacity?.cpu ?? ''), 4);
    assert.equal(parseQuantity(node.status?.capacity?.memory ?? ''), 8 * 2 ** 30);
  });

  test('a Deployment: Running in the origin, its pods Running in the mapped remote namespace, stamped and stripped', async () => {
    await origin.client.create(Deployments, {
      metadata: { name: 'web', namespace },
      spec: {
        replicas: 2,
        selector: { matchLabels: { app: 'web' } },
        template: {
          metadata: { labels: { app: 'web' } },
          spec: podSpec(
            [
              container(
                'httpd',
                'mkdir -p /www && echo "hello via two clusters" > /www/index.html && exec httpd -f -p 8080 -h /www',
                {
                  ports: [{ containerPort: 8080 }],
                },
              ),
            ],
            { terminationGracePeriodSeconds: 2 },
          ),
        },
      },
    });
    const pods = await waitFor(
      'two web pods Running and Ready',
      async () => {
        const list = (await origin.client.list<Pod>(Pods, { namespace, labelSelector: 'app=web' })).items;
        const ready = list.filter(
          (p) =>
            p.status?.phase === 'Running' &&
            p.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'),
        );
        return ready.length === 2 ? ready : undefined;
      },
      { timeoutMs: 120_000 },
    );
    const remoteList = await remotePods('app=web');
    assert.equal(remoteList.length, 2);
    const remoteNs = await remote.client.get<Namespace>(Namespaces, { name: remoteNamespace });
    assert.equal(remoteNs.metadata?.labels?.['app.kubernetes.io/managed-by'], 'virtual-kubelet');
    assert.equal(remoteNs.metadata?.labels?.['virtual-kubelet.io/origin-cluster'], ORIGIN_CLUSTER);
    assert.equal(remoteNs.metadata?.labels?.['virtual-kubelet.io/origin-namespace'], namespace);
    for (const pod of pods) {
      const twin = remoteList.find((r) => r.metadata?.name === pod.metadata?.name);
      assert.ok(twin, `remote pod for ${pod.metadata?.name}`);
      assert.equal(twin.status?.phase, 'Running');
      assert.equal(twin.spec?.nodeName, remoteNode.nodeName, 'placed by the remote scheduler on the remote node');
      assert.equal(twin.metadata?.labels?.['virtual-kubelet.io/origin-uid'], pod.metadata?.uid);
      assert.equal(twin.metadata?.labels?.['virtual-kubelet.io/origin-cluster'], ORIGIN_CLUSTER);
      assert.equal(twin.metadata?.labels?.['e2e.example.com/run'], 'kubernetes');
      assert.equal(twin.metadata?.annotations?.['virtual-kubelet.io/origin-name'], pod.metadata?.name);
      assert.equal(twin.metadata?.ownerReferences, undefined);
      assert.equal(twin.spec?.nodeSelector, undefined);
      assert.equal(twin.spec?.automountServiceAccountToken, false);
      // The origin's token projection is replaced by a Secret with a token of the origin.
      const tokenVolume = twin.spec?.volumes?.find((v) => v.name.startsWith('kube-api-access-'));
      assert.match(tokenVolume?.secret?.secretName ?? '', /^vk-token-/);
      assert.ok(!twin.spec?.volumes?.some((v) => v.projected?.sources?.some((p) => p.serviceAccountToken)));
      // The status comes back: the remote pod IP and the Podman container ID.
      assert.equal(pod.status?.podIP, twin.status?.podIP);
      assert.match(pod.status?.containerStatuses?.[0]?.containerID ?? '', /^podman:\/\//);
    }
  });

  const kubectl = (args: string[], input?: string) =>
    origin.kubectl(['-n', namespace, ...args], { timeoutMs: 60_000, ...(input !== undefined ? { input } : {}) });

  test('kubectl port-forward in the origin returns the page of the httpd in the remote', async () => {
    const [pod] = (await origin.client.list<Pod>(Pods, { namespace, labelSelector: 'app=web' })).items;
    assert.ok(pod);
    const forward = origin.kubectlProcess(['-n', namespace, 'port-forward', `pod/${pod.metadata?.name}`, ':8080']);
    try {
      const port = Number(
        await waitFor('the local port', () => /Forwarding from 127\.0\.0\.1:(\d+)/.exec(forward.stdout)?.[1]),
      );
      const page = () =>
        new Promise<string | undefined>((resolve) => {
          get(`http://127.0.0.1:${port}/`, (res) => {
            let text = '';
            res.on('data', (c: Buffer) => {
              text += c.toString();
            });
            res.on('end', () => resolve(text));
          }).on('error', () => resolve(undefined));
        });
      assert.equal(await waitFor('the page', page), 'hello via two clusters\n');
      // A second connection over the same kubectl: one remote stream each.
      assert.equal(await page(), 'hello via two clusters\n');
    } finally {
      forward.stop();
    }
  });

  test('exec (output, exit code, stdin), cp both ways byte-exact, logs and logs -f, through the remote API', async () => {
    await origin.client.create(Pods, {
      metadata: { name: 'tools', namespace },
      spec: podSpec([container('main', 'i=0; while true; do i=$((i+1)); echo "tick $i"; sleep 1; done')]),
    });
    await running('tools');
    const exec = await kubectl(['exec', 'tools', '--', 'sh', '-c', 'echo $((6*7)); echo oops >&2']);
    assert.equal(exec.code, 0, exec.stderr);
    assert.equal(exec.stdout, '42\n');
    assert.equal(exec.stderr, 'oops\n');
    assert.equal((await kubectl(['exec', 'tools', '--', 'sh', '-c', 'exit 3'])).code, 3);
    const piped = await kubectl(['exec', '-i', 'tools', '--', 'cat'], 'through stdin\n');
    assert.equal(piped.stdout, 'through stdin\n');

    const payload = randomBytes(512 * 1024);
    const local = join(scratch, 'payload.bin');
    writeFileSync(local, payload);
    const into = await kubectl(['cp', local, 'tools:/tmp/payload.bin']);
    assert.equal(into.code, 0, into.stderr);
    const back = join(scratch, 'back.bin');
    const out = await kubectl(['cp', 'tools:/tmp/payload.bin', back]);
    assert.equal(out.code, 0, out.stderr);
    const digest = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');
    assert.equal(digest(readFileSync(back)), digest(payload));

    const logs = await kubectl(['logs', 'tools', '--tail=2']);
    assert.equal(logs.code, 0, logs.stderr);
    assert.match(logs.stdout, /^tick \d+\ntick \d+\n$/);
    const follow = origin.kubectlProcess(['-n', namespace, 'logs', '-f', 'tools', '--tail=1']);
    try {
      const first = Number(await waitFor('a first line', () => /tick (\d+)/.exec(follow.stdout)?.[1]));
      await waitFor('later lines, followed', () => follow.stdout.includes(`tick ${first + 2}`), { timeoutMs: 15_000 });
    } finally {
      follow.stop();
    }
  });

  test('kubectl logs options reach the remote kubelet: --timestamps, --limit-bytes, --since, a missing container', async () => {
    await running('tools');
    const stamped = await kubectl(['logs', 'tools', '--timestamps', '--tail=1']);
    assert.equal(stamped.code, 0, stamped.stderr);
    assert.match(stamped.stdout, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z tick \d+\n$/);
    const limited = await kubectl(['logs', 'tools', '--limit-bytes=6']);
    assert.equal(limited.stdout, 'tick 1');
    const recent = await kubectl(['logs', 'tools', '--since=3s']);
    const all = await kubectl(['logs', 'tools']);
    const count = (text: string) => text.split('\n').filter(Boolean).length;
    assert.ok(count(recent.stdout) >= 1 && count(recent.stdout) < count(all.stdout), recent.stdout);
    const missing = await kubectl(['logs', 'tools', '-c', 'nope']);
    assert.notEqual(missing.code, 0);
    assert.match(missing.stderr, /nope/);
  });

  test('kubectl attach -i to a container reading its stdin', async () => {
    await origin.client.create(Pods, {
      metadata: { name: 'reads', namespace },
      spec: podSpec([container('main', 'read line; echo "got $line"; sleep 3600', { stdin: true, stdinOnce: true })]),
    });
    await running('reads');
    const attached = origin.kubectlProcess(['-n', namespace, 'attach', '-i', 'reads']);
    try {
      // kubectl may attach after the first bytes are written: write until the answer comes.
      await waitFor(
        'the attached container’s answer',
        () => {
          if (attached.stdout.includes('got hello')) return true;
          attached.write('hello\n');
          return false;
        },
        { timeoutMs: 30_000, intervalMs: 1000 },
      ).catch((error: Error) => assert.fail(`${error.message}; stdout ${attached.stdout} stderr ${attached.stderr}`));
    } finally {
      attached.stop();
    }
  });

  test('kubectl debug: the ephemeral container runs in the remote pod, its status and logs come back', async () => {
    await running('tools');
    const debug = await kubectl([
      'debug',
      'tools',
      `--image=${busybox}`,
      '--image-pull-policy=Never',
      '-c',
      'dbg',
      '--target=main',
      '--',
      'sh',
      '-c',
      'echo from-debug; sleep 30',
    ]);
    assert.equal(debug.code, 0, debug.stderr);
    const status = await waitFor('the ephemeral container started', async () => {
      const pod = await origin.client.get<Pod>(Pods, { namespace, name: 'tools' });
      const dbg = pod.status?.ephemeralContainerStatuses?.find((c) => c.name === 'dbg');
      return dbg?.state?.running || dbg?.state?.terminated ? dbg : undefined;
    });
    assert.notEqual(status.state?.terminated?.reason, 'EphemeralContainersNotSupported');
    const remoteTools = (await remotePods()).find((p) => p.metadata?.name === 'tools');
    assert.ok(remoteTools?.spec?.ephemeralContainers?.some((c) => c.name === 'dbg'));
    const logs = await waitFor('the ephemeral container’s log', async () => {
      const result = await kubectl(['logs', 'tools', '-c', 'dbg']);
      return result.stdout.includes('from-debug') ? result.stdout : undefined;
    });
    assert.equal(logs, 'from-debug\n');
  });

  test('kubectl exec -it under a terminal, with a resize', async (t) => {
    if (!(await hasTmux())) {
      t.skip('tmux is not installed');
      return;
    }
    await running('tools');
    const command = `${origin.info.kubectl} --kubeconfig ${origin.info.kubeconfig} -n ${namespace} exec -it tools -- sh`;
    const terminal = await Terminal.start(command, 100, 30);
    try {
      let screen = '';
      const shows = (pattern: RegExp) =>
        waitFor(
          `${pattern} on the terminal`,
          async () => {
            screen = await terminal.screen();
            return pattern.test(screen);
          },
          { timeoutMs: 20_000 },
        ).catch((error: Error) => assert.fail(`${error.message}; the screen:\n${screen}`));
      await shows(/[#$] ?$/m);
      await terminal.type('echo product=$((6*7))');
      await shows(/^product=42$/m);
      // The first size crosses two API servers and the remote kubelet, and can land a moment after
      // the shell's first prompt (it is sent again after 250 ms, 1 s and 3 s): ask until it has.
      await waitFor(
        'the terminal size in the remote shell',
        async () => {
          await terminal.type('stty size');
          screen = await terminal.screen();
          return /^\d+ 100$/m.test(screen);
        },
        { timeoutMs: 20_000, intervalMs: 1000 },
      ).catch((error: Error) => assert.fail(`${error.message}; the screen:\n${screen}`));
      await terminal.resize(132, 43);
      await terminal.type('stty size');
      await shows(/^\d+ 132$/m);
    } finally {
      await terminal.close();
    }
  });

  test('kubectl top pod in the origin shows the usage the remote’s metrics-server measured', async () => {
    await running('tools');
    const log = (where: string) => (line: string) => process.stderr.write(`metrics-server ${where}: ${line}\n`);
    // The remote's metrics-server reads the Podman node; the origin's reads ours, which asks the remote's.
    const remoteMetrics = await startMetricsServer(remote, { log: log('remote') });
    const originMetrics = await startMetricsServer(origin, { log: log('origin') });
    try {
      const usage = await waitFor(
        'kubectl top pod tools',
        async () => {
          const top = await kubectl(['top', 'pod', 'tools', '--no-headers']);
          const match = /^tools\s+(\d+)m\s+(\d+)Mi/.exec(top.stdout.trim());
          return match ? { cpuMillis: Number(match[1]), memoryMiB: Number(match[2]) } : undefined;
        },
        { timeoutMs: 150_000, intervalMs: 2000 },
      );
      assert.ok(usage.memoryMiB >= 0);
      // The remote's own numbers for the same pod, for comparison: memory is a gauge, equal or close.
      const remoteTop = await remote.kubectl(['-n', remoteNamespace, 'top', 'pod', 'tools', '--no-headers']);
      assert.match(remoteTop.stdout, /^tools\s+\d+m\s+\d+Mi/);
    } finally {
      await originMetrics.stop();
      await remoteMetrics.stop();
    }
  });

  test('a ConfigMap and Secrets as volumes, env and envFrom: copied to the remote, no Secret value in the remote pod, updates reach the remote files; downward API files and env are the local pod’s', async () => {
    await origin.client.create(ConfigMaps, { metadata: { name: 'settings', namespace }, data: { greeting: 'hello' } });
    await origin.client.create(Secrets, {
      metadata: { name: 'creds', namespace },
      stringData: { password: 'first' },
    } as Secret);
    // Used by env only: its copy exists for the env's sake.
    const apiToken = 'tok-9Qz7xW';
    await origin.client.create(Secrets, {
      metadata: { name: 'env-only', namespace },
      stringData: { token: apiToken },
    } as Secret);
    await origin.client.create(Pods, {
      metadata: { name: 'reader', namespace },
      spec: podSpec(
        [
          container('main', 'sleep 3600', {
            env: [
              { name: 'GREETING', valueFrom: { configMapKeyRef: { name: 'settings', key: 'greeting' } } },
              { name: 'API_TOKEN', valueFrom: { secretKeyRef: { name: 'env-only', key: 'token' } } },
              { name: 'ABSENT', valueFrom: { secretKeyRef: { name: 'no-such-secret', key: 'k', optional: true } } },
              { name: 'MY_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
            ],
            envFrom: [{ secretRef: { name: 'env-only' }, prefix: 'BULK_' }],
            volumeMounts: [
              { name: 'settings', mountPath: '/etc/settings' },
              { name: 'creds', mountPath: '/etc/creds' },
              { name: 'podinfo', mountPath: '/etc/podinfo' },
            ],
          }),
        ],
        {
          volumes: [
            { name: 'settings', configMap: { name: 'settings' } },
            { name: 'creds', secret: { secretName: 'creds' } },
            {
              name: 'podinfo',
              downwardAPI: {
                items: [
                  { path: 'namespace', fieldRef: { fieldPath: 'metadata.namespace' } },
                  { path: 'uid', fieldRef: { fieldPath: 'metadata.uid' } },
                  { path: 'name', fieldRef: { fieldPath: 'metadata.name' } },
                ],
              },
            },
          ],
        },
      ),
    });
    await running('reader');
    const copy = await remote.client.get<ConfigMap>(ConfigMaps, { namespace: remoteNamespace, name: 'settings' });
    assert.equal(copy.data?.greeting, 'hello');
    assert.equal(copy.metadata?.labels?.['virtual-kubelet.io/origin-node'], vk.nodeName);
    const read = async (path: string) => (await kubectl(['exec', 'reader', '--', 'cat', path])).stdout;
    assert.equal(await read('/etc/settings/greeting'), 'hello');
    assert.equal(await read('/etc/creds/password'), 'first');
    // The downward API files are the local pod's, not the remote one's.
    const reader = await origin.client.get<Pod>(Pods, { namespace, name: 'reader' });
    assert.equal(await read('/etc/podinfo/namespace'), namespace);
    assert.equal(await read('/etc/podinfo/uid'), reader.metadata?.uid);
    assert.equal(await read('/etc/podinfo/name'), 'reader');
    assert.equal((await kubectl(['exec', 'reader', '--', 'sh', '-c', 'echo $GREETING'])).stdout, 'hello\n');
    // The Secret's value reaches the container's environment through the remote copy…
    const environment = (await kubectl(['exec', 'reader', '--', 'env'])).stdout.split('\n');
    assert.ok(environment.includes(`API_TOKEN=${apiToken}`), environment.join(' '));
    assert.ok(environment.includes(`BULK_token=${apiToken}`), environment.join(' '));
    assert.ok(environment.includes(`MY_NAMESPACE=${namespace}`), 'the local namespace, not the mapped one');
    assert.ok(!environment.some((line) => line.startsWith('ABSENT=')), 'an optional missing Secret is skipped');
    // … and is nowhere in the remote pod, which names the copy instead.
    const remoteReader = await remote.client.get<Pod>(Pods, { namespace: remoteNamespace, name: 'reader' });
    const remoteSpec = JSON.stringify(remoteReader);
    assert.ok(!remoteSpec.includes(apiToken), 'no Secret value in the remote pod');
    assert.ok(!remoteSpec.includes(Buffer.from(apiToken).toString('base64')), 'no encoded Secret value either');
    const remoteEnv = remoteReader.spec?.containers[0]?.env ?? [];
    assert.deepEqual(remoteEnv.find((v) => v.name === 'API_TOKEN')?.valueFrom?.secretKeyRef, {
      name: 'env-only',
      key: 'token',
    });
    assert.deepEqual(remoteReader.spec?.containers[0]?.envFrom, [{ secretRef: { name: 'env-only' }, prefix: 'BULK_' }]);
    const envCopy = await remote.client.get<Secret>(Secrets, { namespace: remoteNamespace, name: 'env-only' });
    assert.equal(Buffer.from(envCopy.data?.token ?? '', 'base64').toString(), apiToken);
    assert.equal(envCopy.metadata?.labels?.['virtual-kubelet.io/origin-node'], vk.nodeName);

    await origin.client.patch(ConfigMaps, { namespace, name: 'settings' }, { data: { greeting: 'changed' } }, 'merge');
    await origin.client.patch(Secrets, { namespace, name: 'creds' }, { stringData: { password: 'second' } }, 'merge');
    await waitFor(
      'the remote ConfigMap file changed',
      async () => (await read('/etc/settings/greeting')) === 'changed',
      {
        timeoutMs: 60_000,
        intervalMs: 500,
      },
    );
    await waitFor('the remote Secret file changed', async () => (await read('/etc/creds/password')) === 'second', {
      timeoutMs: 60_000,
      intervalMs: 500,
    });

    // Deleting the only pod that used them deletes the copies.
    await origin.client.delete(Pods, { namespace, name: 'reader' }, { gracePeriodSeconds: 0 });
    await waitFor('the remote copies deleted', async () => {
      const left = await Promise.all([
        remote.client.get(ConfigMaps, { namespace: remoteNamespace, name: 'settings' }).then(
          () => true,
          () => false,
        ),
        remote.client.get(Secrets, { namespace: remoteNamespace, name: 'creds' }).then(
          () => true,
          () => false,
        ),
        remote.client.get(Secrets, { namespace: remoteNamespace, name: 'env-only' }).then(
          () => true,
          () => false,
        ),
      ]);
      return left.every((exists) => !exists);
    });
  });

  test('the pod’s service-account token is the origin’s: TokenReview there names the pod’s own account', async () => {
    await origin.client.create(Pods, {
      metadata: { name: 'with-token', namespace },
      spec: podSpec([container('main', 'sleep 3600')]),
    });
    await running('with-token');
    const dir = '/var/run/secrets/kubernetes.io/serviceaccount';
    const read = async (file: string) => {
      const result = await kubectl(['exec', 'with-token', '--', 'cat', `${dir}/${file}`]);
      assert.equal(result.code, 0, result.stderr);
      return result.stdout;
    };
    assert.equal(await read('namespace'), namespace);
    const rootCa = await origin.client.get<ConfigMap>(ConfigMaps, { namespace, name: 'kube-root-ca.crt' });
    assert.equal(await read('ca.crt'), rootCa.data?.['ca.crt']);
    const review = (await origin.client.create(TokenReviews, {
      apiVersion: 'authentication.k8s.io/v1',
      kind: 'TokenReview',
      spec: { token: await read('token') },
    } as never)) as {
      status?: { authenticated?: boolean; user?: { username?: string; extra?: Record<string, string[]> } };
    };
    assert.equal(review.status?.authenticated, true);
    assert.equal(review.status?.user?.username, `system:serviceaccount:${namespace}:default`);
    // Bound to the local pod: it dies with it.
    assert.deepEqual(review.status?.user?.extra?.['authentication.kubernetes.io/pod-name'], ['with-token']);
    // The same token is no good in the remote cluster.
    const remoteReview = (await remote.client.create(TokenReviews, {
      apiVersion: 'authentication.k8s.io/v1',
      kind: 'TokenReview',
      spec: { token: await read('token') },
    } as never)) as { status?: { authenticated?: boolean } };
    assert.notEqual(remoteReview.status?.authenticated, true);
  });

  test('Jobs: exit 0 completes, exit 3 fails with the exit code', async () => {
    const job = (name: string, code: number) =>
      ({
        metadata: { name, namespace },
        spec: {
          backoffLimit: 0,
          template: { spec: podSpec([container('task', `echo working; exit ${code}`)], { restartPolicy: 'Never' }) },
        },
      }) as Job;
    await origin.client.create(Jobs, job('ok', 0));
    await origin.client.create(Jobs, job('bad', 3));
    await waitFor(
      'Job ok complete',
      async () => (await origin.client.get<Job>(Jobs, { namespace, name: 'ok' })).status?.succeeded === 1,
      {
        timeoutMs: 90_000,
      },
    );
    const failed = await waitFor(
      'the failed pod of Job bad',
      async () => {
        const list = (await origin.client.list<Pod>(Pods, { namespace, labelSelector: 'job-name=bad' })).items;
        return list.find((p) => p.status?.phase === 'Failed');
      },
      { timeoutMs: 90_000 },
    );
    assert.equal(failed.status?.containerStatuses?.[0]?.state?.terminated?.exitCode, 3);
  });

  test('delete with a 4 s grace period: the remote pod is deleted with the same grace, and the local one goes after it', async () => {
    await origin.client.create(Pods, {
      metadata: { name: 'graceful', namespace },
      spec: podSpec([container('main', 'sleep 3600')]),
    });
    await running('graceful');
    const started = Date.now();
    const deleted = await origin.kubectl([
      '-n',
      namespace,
      'delete',
      'pod',
      'graceful',
      '--grace-period=4',
      '--wait=false',
    ]);
    assert.equal(deleted.code, 0, deleted.stderr);
    const terminating = await waitFor('the remote pod terminating', async () => {
      const pod = (await remotePods()).find((p) => p.metadata?.name === 'graceful');
      return pod?.metadata?.deletionTimestamp ? pod : undefined;
    });
    assert.equal(terminating.metadata?.deletionGracePeriodSeconds, 4);
    await waitFor(
      'the local pod gone',
      async () => {
        const list = (await origin.client.list<Pod>(Pods, { namespace, fieldSelector: 'metadata.name=graceful' }))
          .items;
        return list.length === 0;
      },
      { timeoutMs: 60_000 },
    );
    // sh as PID 1 ignores SIGTERM: only the SIGKILL at the end of the remote grace period ends it.
    assert.ok(Date.now() - started >= 3500, `gone after ${Date.now() - started} ms, before the grace period ran out`);
    assert.equal((await remotePods()).filter((p) => p.metadata?.name === 'graceful').length, 0);
  });

  test('a pod the remote refuses (over its quota) shows the remote’s message', async () => {
    const refusedNamespace = await origin.createNamespace('refuse');
    try {
      await remote.client.create(Namespaces, { metadata: { name: `${PREFIX}-${refusedNamespace}` } } as Namespace);
      await remote.client.create(ResourceQuotas, {
        metadata: { name: 'no-pods', namespace: `${PREFIX}-${refusedNamespace}` },
        spec: { hard: { pods: '0' } },
      });
      // Admission refuses everything with "status unknown" until the quota controller has counted.
      await waitFor('the quota counted', async () => {
        const quota = await remote.client.get<ResourceQuota>(ResourceQuotas, {
          namespace: `${PREFIX}-${refusedNamespace}`,
          name: 'no-pods',
        });
        return quota.status?.hard?.pods !== undefined;
      });
      await origin.client.create(Pods, {
        metadata: { name: 'refused', namespace: refusedNamespace },
        spec: podSpec([container('main', 'sleep 3600')], { restartPolicy: 'Never' }),
      });
      // A pod that can never start is Failed when it would not be restarted, Pending otherwise.
      const pod = await waitFor(
        'the refused pod Failed',
        async () => {
          const p = await origin.client.get<Pod>(Pods, { namespace: refusedNamespace, name: 'refused' });
          return p.status?.phase === 'Failed' ? p : undefined;
        },
        { timeoutMs: 60_000 },
      );
      assert.equal(pod.status?.reason, 'ProviderFailed');
      assert.match(pod.status?.message ?? '', /the remote cluster refused pod .*refused: .*exceeded quota: no-pods/);
    } finally {
      await origin.deleteNamespace(refusedNamespace);
    }
  });

  test('a remote pod deleted behind our back: the local pod is Failed with RemotePodDeleted, and its ReplicaSet replaces it', async () => {
    const [victim] = (await origin.client.list<Pod>(Pods, { namespace, labelSelector: 'app=web' })).items.filter(
      (p) => p.status?.phase === 'Running',
    );
    assert.ok(victim);
    await remote.client.delete(
      Pods,
      { namespace: remoteNamespace, name: victim.metadata?.name ?? '' },
      { gracePeriodSeconds: 0 },
    );
    const failed = await waitFor('the local pod Failed', async () => {
      const p = await origin.client
        .get<Pod>(Pods, { namespace, name: victim.metadata?.name ?? '' })
        .catch(() => undefined);
      return p?.status?.phase === 'Failed' ? p : undefined;
    });
    assert.equal(failed.status?.reason, 'RemotePodDeleted');
    await waitFor(
      'two web pods Running again',
      async () => {
        const list = (await origin.client.list<Pod>(Pods, { namespace, labelSelector: 'app=web' })).items;
        return list.filter((p) => p.status?.phase === 'Running').length === 2;
      },
      { timeoutMs: 90_000 },
    );
    // The ReplicaSet leaves the Failed pod to the pod GC; remove it so later counts are simple.
    await origin.client
      .delete(Pods, { namespace, name: victim.metadata?.name ?? '' }, { gracePeriodSeconds: 0 })
      .catch(() => undefined);
  });

  test('SIGKILL the virtual kubelet and restart it: the remote pods are adopted, none created twice', async () => {
    await waitFor(
      'no pods terminating',
      async () => {
        const list = (await origin.client.list<Pod>(Pods, { namespace, labelSelector: 'app=web' })).items;
        return list.length === 2 && list.every((p) => p.status?.phase === 'Running');
      },
      { timeoutMs: 60_000 },
    );
    const before = new Map((await remotePods('app=web')).map((p) => [p.metadata?.name, p.metadata?.uid]));
    assert.equal(before.size, 2);
    await vk.stop('SIGKILL');
    vk = await VirtualKubeletProcess.start(origin, {
      provider: 'kubernetes',
      nodeName: vk.nodeName,
      workDir: vk.workDir,
      args: ['--node-ping-interval', '1s'],
    });
    await waitFor('the pod controller ready', () => /pod controller ready/.test(vk.log()));
    const after = new Map((await remotePods('app=web')).map((p) => [p.metadata?.name, p.metadata?.uid]));
    assert.deepEqual(after, before);
    for (const name of before.keys()) await running(name ?? '');
    assert.doesNotMatch(vk.log(), /created the remote pod/);
  });

  test('the remote API server down for 30 s: the node NotReady with the reason, then Ready, no pod lost', async () => {
    const before = new Map((await remotePods('app=web')).map((p) => [p.metadata?.name, p.metadata?.uid]));
    const outage = remoteControl.restart('kube-apiserver', 30_000);
    try {
      const notReady = await waitFor(
        'the node NotReady',
        async () => {
          const ready = await readyCondition(origin, vk.nodeName);
          return ready?.status !== 'True' ? ready : undefined;
        },
        { timeoutMs: 30_000 },
      );
      assert.match(
        notReady.message ?? '',
        new RegExp(`the remote cluster ${remote.info.server.replace(/\./g, '\\.')} is not reachable`),
      );
    } finally {
      await outage;
    }
    await vk.waitReady(60_000);
    await remoteNode.waitReady(60_000);
    for (const name of before.keys()) await running(name ?? '');
    const after = new Map((await remotePods('app=web')).map((p) => [p.metadata?.name, p.metadata?.uid]));
    assert.deepEqual(after, before);
    // The watch is back: a change in the remote shows in the origin.
    await origin.client.create(Pods, {
      metadata: { name: 'after-outage', namespace },
      spec: podSpec([container('main', 'sleep 3600')]),
    });
    await running('after-outage');
  });

  test('a local pod deleted while the virtual kubelet was down and the remote unreachable: its remote pod is collected once the remote answers', async () => {
    await origin.client.create(Pods, {
      metadata: { name: 'orphan', namespace },
      spec: podSpec([container('main', 'sleep 3600')], { terminationGracePeriodSeconds: 1 }),
    });
    await running('orphan');
    await vk.stop('SIGKILL');
    const outage = remoteControl.restart('kube-apiserver', 30_000);
    try {
      await waitFor('the remote API down', async () =>
        remote.client.list(Nodes, { limit: 1 }).then(
          () => false,
          () => true,
        ),
      );
      const deleted = await origin.kubectl(['-n', namespace, 'delete', 'pod', 'orphan', '--force', '--grace-period=0']);
      assert.equal(deleted.code, 0, deleted.stderr);
      vk = await VirtualKubeletProcess.start(origin, {
        provider: 'kubernetes',
        nodeName: vk.nodeName,
        workDir: vk.workDir,
        args: ['--node-ping-interval', '1s'],
        waitReady: false,
      });
      await waitFor('the first list given up', () => /no list of its pods within/.test(vk.log()), {
        timeoutMs: 30_000,
      });
    } finally {
      await outage;
    }
    await waitFor(
      'the orphaned remote pod gone',
      async () => (await remotePods()).every((p) => p.metadata?.name !== 'orphan'),
      { timeoutMs: 90_000 },
    );
    assert.match(vk.log(), /deleting a remote pod whose local pod is gone/);
    await vk.waitReady(60_000);
    // The others were adopted again (created in the provider, found, not duplicated), once the
    // controller's backoff for the creates that failed during the outage lets it retry.
    for (const pod of (await origin.client.list<Pod>(Pods, { namespace, labelSelector: 'app=web' })).items) {
      await running(pod.metadata?.name ?? '', 180_000);
    }
    assert.equal((await remotePods('app=web')).length, 2);
  });

  test('credentials the remote refuses: the node NotReady with the reason', async () => {
    const kubeconfig = join(scratch, 'wrong.kubeconfig');
    writeFileSync(
      kubeconfig,
      kubeconfigDocument({
        name: 'remote',
        server: remote.info.server,
        caFile: join(remote.info.pkiDir, 'ca.crt'),
        token: 'not-a-token',
      }),
    );
    const wrong = await VirtualKubeletProcess.start(origin, {
      provider: 'kubernetes',
      providerConfig: providerConfig(kubeconfig),
      args: ['--node-ping-interval', '1s'],
      waitReady: false,
    });
    try {
      const condition = await waitFor(
        'the node NotReady with the reason',
        async () => {
          const ready = await readyCondition(origin, wrong.nodeName);
          return ready && ready.status !== 'True' ? ready : undefined;
        },
        { timeoutMs: 60_000 },
      ).catch((error: Error) => assert.fail(`${error.message}; its log:\n${wrong.log().slice(-3000)}`));
      assert.match(condition.message ?? '', /refuses the credentials of .*wrong\.kubeconfig \(401 Unauthorized\)/);
    } finally {
      await wrong.destroy();
    }
  });
});
