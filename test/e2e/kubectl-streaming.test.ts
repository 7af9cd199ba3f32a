/**
 * `kubectl logs`, `exec`, `cp`, `attach` and `port-forward` against a virtual node, through the
 * real kube-apiserver, which authenticates to the node with its kubelet client certificate and
 * verifies the node's serving certificate with the cluster's kubelet CA.
 *
 * Everything runs twice: against a node that declares nothing (the API server translates
 * kubectl's WebSockets to SPDY), and against one that declares ExtendWebSocketsToKubelet (the
 * API server passes the WebSockets through). Each mode checks that only its protocol was used.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Pod } from 'kubernetes-types/core/v1.js';
import { Pods } from '../../src/kube/resources.ts';
import { type TestCluster, testCluster, waitFor } from '../../tools/kube/testing.ts';
import { hasTmux, Terminal } from './support/terminal.ts';
import { VirtualKubeletProcess } from './support/virtual-kubelet.ts';

for (const mode of ['spdy', 'websocket'] as const) {
  describe(`through the API server, ${mode === 'spdy' ? 'translated to SPDY' : 'WebSockets passed through'}`, () => {
    streamingTests(mode);
  });
}

function streamingTests(mode: 'spdy' | 'websocket'): void {
  let cluster: TestCluster;
  let namespace: string;
  let vk: VirtualKubeletProcess;
  const scratch = mkdtempSync(join(tmpdir(), 'vk-kubectl-'));

  before(async () => {
    cluster = await testCluster();
    namespace = await cluster.createNamespace(`kubectl-${mode}`);
    vk = await VirtualKubeletProcess.start(cluster, mode === 'websocket' ? { args: ['--websocket-streaming'] } : {});
    await cluster.client.create(Pods, {
      metadata: { name: 'app', namespace },
      spec: {
        nodeName: vk.nodeName,
        containers: [
          { name: 'main', image: 'registry.local/main:1', stdin: true, tty: false },
          { name: 'side', image: 'registry.local/side:1' },
        ],
      },
    });
    await waitFor(
      'Running',
      async () => (await cluster.client.get<Pod>(Pods, { namespace, name: 'app' })).status?.phase === 'Running',
    );
  });

  after(async () => {
    await vk?.destroy();
    await cluster?.deleteNamespace(namespace);
  });

  const kubectl = (args: string[], input?: string) =>
    cluster.kubectl(['-n', namespace, ...args], { timeoutMs: 60_000, ...(input !== undefined ? { input } : {}) });

  function lines(text: string): string[] {
    return text.split('\n').filter(Boolean);
  }

  test('kubectl logs: tail, timestamps, since, since-time, limit-bytes, container selection', async () => {
    const tail = await kubectl(['logs', 'app', '-c', 'main', '--tail=3']);
    assert.equal(tail.code, 0, tail.stderr);
    assert.equal(lines(tail.stdout).length, 3);
    assert.match(lines(tail.stdout)[2] ?? '', new RegExp(`^line \\d+ of ${namespace}/app/main$`));

    const stamped = await kubectl(['logs', 'app', '-c', 'side', '--tail=2', '--timestamps']);
    for (const line of lines(stamped.stdout)) {
      assert.match(
        line,
        new RegExp(`^\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{9}Z line \\d+ of ${namespace}/app/side$`),
      );
    }

    const all = lines((await kubectl(['logs', 'app', '-c', 'main'])).stdout).length;
    const since = lines((await kubectl(['logs', 'app', '-c', 'main', '--since=3s'])).stdout).length;
    assert.ok(since >= 2 && since <= 4, `--since=3s gave ${since} lines`);
    assert.ok(all >= 10, `all gave ${all} lines`);

    const sinceTime = new Date(Date.now() - 4000).toISOString().replace(/\.\d+Z$/, 'Z');
    const fromTime = lines((await kubectl(['logs', 'app', '-c', 'main', `--since-time=${sinceTime}`])).stdout).length;
    assert.ok(fromTime >= 3 && fromTime <= 6, `--since-time gave ${fromTime} lines`);

    const limited = await kubectl(['logs', 'app', '-c', 'main', '--limit-bytes=7']);
    assert.equal(limited.stdout, 'line 1 ');
  });

  test('kubectl logs -f streams new lines as they are written', async () => {
    const follow = cluster.kubectlProcess(['-n', namespace, 'logs', '-f', 'app', '-c', 'main', '--tail=1']);
    try {
      const first = await waitFor('the first line', () => lines(follow.stdout)[0]);
      const n = Number(/^line (\d+)/.exec(first)?.[1]);
      await waitFor('two more lines, streamed', () => lines(follow.stdout).length >= 3, { timeoutMs: 10_000 });
      assert.deepEqual(
        lines(follow.stdout)
          .slice(0, 3)
          .map((l) => Number(/^line (\d+)/.exec(l)?.[1])),
        [n, n + 1, n + 2],
      );
    } finally {
      follow.stop();
    }
  });

  test('kubectl logs --previous without a previous instance is a clear error', async () => {
    const previous = await kubectl(['logs', 'app', '-c', 'main', '--previous']);
    assert.notEqual(previous.code, 0);
    assert.match(previous.stderr, /previous terminated container "main" in pod "app" not found/);
  });

  test('kubectl exec: stdin, exit codes, and stderr kept apart without a TTY', async () => {
    const cat = await kubectl(['exec', '-i', 'app', '-c', 'main', '--', 'cat'], 'hello\n');
    assert.equal(cat.code, 0, cat.stderr);
    assert.equal(cat.stdout, 'hello\n');
    const exit3 = await kubectl(['exec', 'app', '-c', 'main', '--', 'sh', '-c', 'exit 3']);
    assert.equal(exit3.code, 3);
    const streams = await kubectl(['exec', 'app', '-c', 'main', '--', 'sh', '-c', 'stderr to the error stream']);
    assert.equal(streams.code, 0);
    assert.equal(streams.stdout, '');
    assert.equal(streams.stderr, 'to the error stream\n');
    assert.ok(vk.count('runInContainer', `${namespace}/app`) >= 3);
  });

  test('kubectl exec -it under a terminal works, and a resize reaches the provider', async (t) => {
    if (!(await hasTmux())) {
      t.skip('tmux is not installed');
      return;
    }
    const command = `${cluster.info.kubectl} --kubeconfig ${cluster.info.kubeconfig} -n ${namespace} exec -it app -c main -- winsize`;
    const terminal = await Terminal.start(command, 100, 30);
    try {
      await waitFor('the first size', async () => (await terminal.screen()).includes('100x30'), { timeoutMs: 20_000 });
      await terminal.resize(132, 43);
      await waitFor('the new size', async () => (await terminal.screen()).includes('132x43'), { timeoutMs: 20_000 });
      const resizes = vk
        .calls()
        .filter((c) => c.method === 'resize')
        .map((c) => c.detail);
      assert.deepEqual(resizes.slice(-1), [{ width: 132, height: 43 }]);
    } finally {
      await terminal.close();
    }
  });

  test('kubectl cp of a 5 MB file into the pod and back is byte-exact', async () => {
    const original = randomBytes(5 * 1024 * 1024);
    const local = join(scratch, 'payload.bin');
    writeFileSync(local, original);
    const into = await kubectl(['cp', local, `app:/tmp/payload.bin`, '-c', 'main']);
    assert.equal(into.code, 0, into.stderr);
    const back = join(scratch, 'back.bin');
    const out = await kubectl(['cp', `app:/tmp/payload.bin`, back, '-c', 'main']);
    assert.equal(out.code, 0, out.stderr);
    const copied = readFileSync(back);
    assert.equal(copied.length, original.length);
    assert.equal(
      createHash('sha256').update(copied).digest('hex'),
      createHash('sha256').update(original).digest('hex'),
    );
  });

  test('kubectl attach relays stdin to the container and its output back', async () => {
    const attached = await kubectl(['attach', '-i', 'app', '-c', 'main'], 'attached input\n');
    assert.equal(attached.code, 0, attached.stderr);
    assert.match(attached.stdout, /attached input/);
    assert.ok(vk.count('attachToContainer', `${namespace}/app`) >= 1);
  });

  /** Sends `payload` through a TCP connection to `port` and returns what comes back (the mock echoes). */
  function echoThrough(port: number, payload: Buffer): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      const socket = connect(port, '127.0.0.1');
      const chunks: Buffer[] = [];
      socket.on('data', (c: Buffer) => chunks.push(c));
      socket.on('error', reject);
      socket.on('end', () => resolve(Buffer.concat(chunks)));
      socket.on('connect', () => socket.end(payload));
    });
  }

  test('kubectl port-forward carries two concurrent connections of 10 MB each, byte-exact', async () => {
    const forward = cluster.kubectlProcess(['-n', namespace, 'port-forward', 'pod/app', ':8080']);
    try {
      const port = Number(
        await waitFor('the local port', () => /Forwarding from 127\.0\.0\.1:(\d+) -> 8080/.exec(forward.stdout)?.[1]),
      );
      const a = randomBytes(10 * 1024 * 1024);
      const b = randomBytes(10 * 1024 * 1024);
      const [backA, backB] = await Promise.all([echoThrough(port, a), echoThrough(port, b)]);
      assert.ok(backA.equals(a), `connection A: ${backA.length} bytes back`);
      assert.ok(backB.equals(b), `connection B: ${backB.length} bytes back`);
      assert.ok(vk.count('portForward', `${namespace}/app`) >= 2);
    } finally {
      forward.stop();
    }
  });

  test('only the expected protocol reached the node', async () => {
    // Runs last (tests run in order): every session above went through one protocol.
    const spdy = await vk.metric('virtual_kubelet_kubelet_api_spdy_sessions');
    const webSocket = await vk.metric('virtual_kubelet_kubelet_api_websocket_sessions');
    if (mode === 'spdy') assert.ok(spdy > 0 && webSocket === 0, `spdy ${spdy}, websocket ${webSocket}`);
    else assert.ok(webSocket > 0 && spdy === 0, `spdy ${spdy}, websocket ${webSocket}`);
  });
}
