/**
 * The WebSocket paths, with the official JavaScript client: `Exec` speaks v5.channel.k8s.io to
 * the API server (which translates to SPDY for the node), and `PortForward` speaks the legacy
 * WebSocket port-forward protocol, which the API server passes straight through to the node's
 * WebSocket port-forward server.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { PassThrough, Readable } from 'node:stream';
import { after, before, test } from 'node:test';
import { Exec, KubeConfig, PortForward, type V1Status } from '@kubernetes/client-node';
import type { Pod } from 'kubernetes-types/core/v1.js';
import { Pods } from '../../src/kube/resources.ts';
import { type TestCluster, testCluster, waitFor } from '../../tools/kube/testing.ts';
import { VirtualKubeletProcess } from './support/virtual-kubelet.ts';

let cluster: TestCluster;
let namespace: string;
let vk: VirtualKubeletProcess;
let config: KubeConfig;

before(async () => {
  cluster = await testCluster();
  namespace = await cluster.createNamespace('client-node');
  vk = await VirtualKubeletProcess.start(cluster);
  await cluster.client.create(Pods, {
    metadata: { name: 'app', namespace },
    spec: { nodeName: vk.nodeName, containers: [{ name: 'main', image: 'registry.local/main:1' }] },
  });
  await waitFor(
    'Running',
    async () => (await cluster.client.get<Pod>(Pods, { namespace, name: 'app' })).status?.phase === 'Running',
  );
  config = new KubeConfig();
  config.loadFromFile(cluster.info.kubeconfig);
});

after(async () => {
  await vk?.destroy();
  await cluster?.deleteNamespace(namespace);
});

function collect(stream: PassThrough): () => string {
  const chunks: Buffer[] = [];
  stream.on('data', (c: Buffer) => chunks.push(c));
  return () => Buffer.concat(chunks).toString();
}

async function run(
  command: string[],
  stdin: string | null,
): Promise<{ stdout: string; stderr: string; status: V1Status }> {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  const out = collect(stdout);
  const err = collect(stderr);
  const status = await new Promise<V1Status>((resolve, reject) => {
    new Exec(config)
      .exec(
        namespace,
        'app',
        'main',
        command,
        stdout,
        stderr,
        stdin === null ? null : Readable.from([stdin]),
        false,
        resolve,
      )
      .catch(reject);
  });
  // The status arrives after the output, on the same socket.
  return { stdout: out(), stderr: err(), status };
}

test('Exec: output, stdin, stderr and the exit status', async () => {
  const echo = await run(['echo', 'from', 'client-node'], null);
  assert.equal(echo.stdout, 'from client-node\n');
  assert.equal(echo.status.status, 'Success');
  const cat = await run(['cat'], 'typed into stdin');
  assert.equal(cat.stdout, 'typed into stdin');
  const failing = await run(['sh', '-c', 'exit 7'], null);
  assert.equal(failing.status.status, 'Failure');
  assert.equal(failing.status.reason, 'NonZeroExitCode');
  assert.equal(failing.status.details?.causes?.[0]?.message, '7');
  const errors = await run(['stderr', 'oops'], null);
  assert.equal(errors.stderr, 'oops\n');
});

test('PortForward: bytes sent come back through the WebSocket port-forward protocol', async () => {
  const input = new PassThrough();
  const output = new PassThrough();
  const received = collect(output);
  const payload = randomBytes(256 * 1024).toString('base64');
  const socket = await new PortForward(config).portForward(namespace, 'app', [8080], output, null, input);
  try {
    input.write(payload);
    await waitFor('the echo', () => received().length >= payload.length, { timeoutMs: 20_000 });
    assert.equal(received(), payload);
    assert.ok(vk.count('portForward', `${namespace}/app`) >= 1);
  } finally {
    input.end();
    const ws = typeof socket === 'function' ? socket() : socket;
    ws?.close();
  }
});
