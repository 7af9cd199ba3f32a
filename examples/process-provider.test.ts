/**
 * The one-page example provider, run for real: pods whose containers are local processes go
 * Running, then Succeeded or Failed with the process's exit code; `kubectl logs` and `kubectl exec`
 * reach them through the API server; a deletion escalates to SIGKILL at the grace period.
 */
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { Pod } from 'kubernetes-types/core/v1.js';
import { VirtualNode } from '../src/index.ts';
import { Pods } from '../src/kube/resources.ts';
import { issueServingCertificate, virtualKubeletKubeconfig } from '../test/e2e/support/virtual-kubelet.ts';
import { freePort } from '../tools/kube/processes.ts';
import { type TestCluster, testCluster, waitFor } from '../tools/kube/testing.ts';
import { ProcessProvider } from './process-provider.ts';

let cluster: TestCluster;
let namespace: string;
const stop = new AbortController();
let running: Promise<void>;
const nodeName = `process-${process.pid}`;
const provider = new ProcessProvider();

before(async () => {
  cluster = await testCluster();
  namespace = await cluster.createNamespace('example');
  const serving = issueServingCertificate(cluster, nodeName, mkdtempSync(join(tmpdir(), 'process-provider-')));
  const node = new VirtualNode({
    nodeName,
    provider,
    providerName: 'process',
    kubeconfig: await virtualKubeletKubeconfig(cluster),
    internalIP: '127.0.0.1',
    kubeletPort: await freePort(),
    kubeletApi: {
      certificateFile: serving.cert,
      keyFile: serving.key,
      clientCAFile: join(cluster.info.pkiDir, 'ca.crt'),
    },
  });
  running = node.run(stop.signal);
  await node.ready;
});

after(async () => {
  // The processes are children of this test process: end them through the node before it stops.
  await cluster.kubectl(['delete', 'pods', '--all', '-n', namespace, '--grace-period=1']);
  stop.abort();
  await running;
  await cluster.kubectl(['delete', 'node', nodeName, '--wait=false']);
  await cluster.deleteNamespace(namespace);
});

function podFor(name: string, script: string, terminationGracePeriodSeconds = 30): Pod {
  return {
    metadata: { name, namespace },
    spec: {
      nodeName,
      restartPolicy: 'Never',
      terminationGracePeriodSeconds,
      containers: [
        { name: 'main', image: 'ignored', command: ['sh', '-c', script], env: [{ name: 'WHO', value: 'world' }] },
      ],
    },
  };
}

test('a process that exits 0 makes a Succeeded pod; exit 3 a Failed one with exit code 3', async () => {
  await cluster.client.create(Pods, podFor('ok', 'test "$WHO" = world'));
  await cluster.client.create(Pods, podFor('bad', 'exit 3'));
  const ok = await waitFor('ok to succeed', async () => {
    const pod = await cluster.client.get<Pod>(Pods, { namespace, name: 'ok' });
    return pod.status?.phase === 'Succeeded' ? pod : undefined;
  });
  assert.equal(ok.status?.containerStatuses?.[0]?.state?.terminated?.exitCode, 0);
  const bad = await waitFor('bad to fail', async () => {
    const pod = await cluster.client.get<Pod>(Pods, { namespace, name: 'bad' });
    return pod.status?.phase === 'Failed' ? pod : undefined;
  });
  assert.equal(bad.status?.containerStatuses?.[0]?.state?.terminated?.exitCode, 3);
});

async function untilRunning(name: string): Promise<void> {
  await waitFor(
    `${name} Running`,
    async () => (await cluster.client.get<Pod>(Pods, { namespace, name })).status?.phase === 'Running',
  );
}

test('kubectl logs (tail, -f) and kubectl exec (stdin, exit code) reach the processes', async () => {
  await cluster.client.create(
    Pods,
    podFor('talker', 'echo "hello $WHO"; i=0; while true; do i=$((i+1)); echo "line $i"; sleep 0.2; done'),
  );
  await untilRunning('talker');
  const first = await waitFor('logs', async () => {
    const logs = await cluster.kubectl(['logs', '-n', namespace, 'talker']);
    return logs.code === 0 && logs.stdout.includes('line 2') ? logs.stdout : undefined;
  });
  assert.match(first, /^hello world\nline 1\n/);
  const tail = await cluster.kubectl(['logs', '-n', namespace, 'talker', '--tail', '1']);
  assert.match(tail.stdout, /^line \d+\n$/);
  const follow = cluster.kubectlProcess(['logs', '-f', '-n', namespace, 'talker', '--since', '1s']);
  try {
    // Lines written after the request started arrive while it is open.
    const seen = Number(/line (\d+)\n$/.exec(first)?.[1]);
    await waitFor('a followed line', async () =>
      [...follow.stdout.matchAll(/line (\d+)/g)].some((m) => Number(m[1]) > seen + 3),
    );
  } finally {
    follow.stop();
  }
  const exec = await cluster.kubectl(
    ['exec', '-i', '-n', namespace, 'talker', '--', 'sh', '-c', 'read x; echo "got $x $WHO"; exit 4'],
    {
      input: 'bytes\n',
    },
  );
  assert.equal(exec.code, 4, exec.stderr);
  assert.equal(exec.stdout, 'got bytes world\n');
});

test('a deleted pod is stopped with SIGKILL at its grace period and forgotten', async () => {
  // The process ignores SIGTERM, so only the SIGKILL at the 1 s grace period ends it.
  await cluster.client.create(Pods, podFor('stubborn', "trap '' TERM; while true; do sleep 0.1; done", 1));
  await untilRunning('stubborn');
  const started = Date.now();
  await cluster.client.delete(Pods, { namespace, name: 'stubborn' });
  await waitFor(
    'stubborn gone from the API',
    async () =>
      !(await cluster.client.list<Pod>(Pods, { namespace })).items.some((p) => p.metadata?.name === 'stubborn'),
  );
  const seconds = (Date.now() - started) / 1000;
  assert.ok(seconds >= 1 && seconds < 15, `removed after ${seconds} s`);
  assert.equal(await provider.getPod(namespace, 'stubborn'), undefined);
  assert.ok(!(await provider.getPods()).some((p) => p.metadata?.name === 'stubborn'));
});
