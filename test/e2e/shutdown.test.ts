/**
 * SIGTERM stops the virtual kubelet within 5 s (exit 0) in every state it can be in, and a second
 * signal exits at once: the backend unreachable (no Podman at the socket, or a Podman address that
 * accepts and never answers), the API server unreachable or never answering, kube-apiserver
 * frozen (SIGSTOP) under a running node, in the middle of a 10 000-pod burst, and with exec and
 * port-forward sessions open. Runs on a control plane of its own: it freezes the API server.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { Pod } from 'kubernetes-types/core/v1.js';
import { Pods } from '../../src/kube/resources.ts';
import { mapConcurrently } from '../../src/util/concurrency.ts';
import type { LocalCluster } from '../../tools/kube/cluster.ts';
import { signalProcess } from '../../tools/kube/processes.ts';
import { dedicatedCluster, type TestCluster, waitFor } from '../../tools/kube/testing.ts';
import { VirtualKubeletProcess, virtualKubeletKubeconfig } from './support/virtual-kubelet.ts';

const DEADLINE_MS = 5000;
let cluster: TestCluster;
let control: LocalCluster;
let namespace: string;
let apiserverPid: number | undefined;
const started: VirtualKubeletProcess[] = [];
const times: string[] = [];

/** A TCP server that accepts connections and never answers (a hung backend or API server). */
class BlackHole {
  readonly server: Server;
  readonly sockets = new Set<Socket>();
  accepted = 0;
  constructor() {
    this.server = createServer((socket) => {
      this.accepted++;
      this.sockets.add(socket);
      socket.on('error', () => {});
      socket.on('close', () => this.sockets.delete(socket));
    });
  }
  async listen(): Promise<number> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    const address = this.server.address();
    return typeof address === 'object' && address ? address.port : 0;
  }
  close(): void {
    for (const socket of this.sockets) socket.destroy();
    this.server.close();
  }
}

before(async () => {
  ({ test: cluster, cluster: control } = await dedicatedCluster('shutdown'));
  namespace = await cluster.createNamespace('shutdown');
  apiserverPid = (await control.status()).find((s) => s.name === 'kube-apiserver')?.pid;
});

after(async () => {
  if (apiserverPid) signalProcess(apiserverPid, 'SIGCONT');
  for (const vk of started) await vk.stop('SIGKILL');
  process.stderr.write(`shutdown times: ${times.join(', ')}\n`);
  await cluster?.client.close();
  await control?.down();
});

async function start(options: Parameters<typeof VirtualKubeletProcess.start>[1]): Promise<VirtualKubeletProcess> {
  const vk = await VirtualKubeletProcess.start(cluster, options);
  started.push(vk);
  return vk;
}

/** SIGTERM, and the exit must be clean and within the deadline. */
async function stopsCleanly(vk: VirtualKubeletProcess, state: string): Promise<number> {
  const sent = Date.now();
  const exit = await Promise.race([
    vk.stop('SIGTERM'),
    new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), 15_000)),
  ]);
  const elapsed = Date.now() - sent;
  times.push(`${state} ${elapsed} ms`);
  assert.ok(exit, `${state}: still running 15 s after SIGTERM:\n${vk.log().slice(-3000)}`);
  assert.equal(exit.code, 0, `${state}: exit ${exit.code ?? exit.signal}:\n${vk.log().slice(-3000)}`);
  assert.ok(elapsed < DEADLINE_MS, `${state}: took ${elapsed} ms`);
  assert.match(vk.log(), /"msg":"stopped"/);
  assert.doesNotMatch(vk.log(), /still not stopped/);
  return elapsed;
}

/** The node's kubeconfig with another server address. */
async function kubeconfigFor(server: string, name: string): Promise<string> {
  const original = await virtualKubeletKubeconfig(cluster);
  const path = join(original, '..', `${name}.kubeconfig`);
  writeFileSync(path, readFileSync(original, 'utf8').replace(/"server": "[^"]*"/, `"server": "${server}"`));
  return path;
}

test('Podman provider with no Podman at its socket', async () => {
  const vk = await start({
    provider: 'podman',
    providerConfig: { url: 'unix:///nonexistent/podman.sock' },
    waitReady: false,
  });
  // It is in its retry loop: adopting pods waits for Podman.
  await waitFor('the retry loop', () => /podman is not answering; will adopt its pods/.test(vk.log()), {
    timeoutMs: 20_000,
  });
  await stopsCleanly(vk, 'podman socket absent');
});

test('Podman provider whose address accepts connections and never answers', async () => {
  const hole = new BlackHole();
  const port = await hole.listen();
  try {
    const vk = await start({
      provider: 'podman',
      providerConfig: { url: `tcp://127.0.0.1:${port}` },
      waitReady: false,
    });
    await waitFor('a connection to the silent Podman', () => hole.accepted > 0, { timeoutMs: 20_000 });
    await stopsCleanly(vk, 'podman never answers');
  } finally {
    hole.close();
  }
});

test('API server unreachable (connection refused)', async () => {
  const hole = new BlackHole();
  const port = await hole.listen();
  hole.close(); // a port nobody listens on
  const vk = await start({ kubeconfig: await kubeconfigFor(`https://127.0.0.1:${port}`, 'refused'), waitReady: false });
  await waitFor('a failed list', () => /ECONNREFUSED/.test(vk.log()), { timeoutMs: 20_000 });
  await stopsCleanly(vk, 'API server refused');
});

test('API server that accepts connections and never answers', async () => {
  const hole = new BlackHole();
  const port = await hole.listen();
  try {
    const vk = await start({
      kubeconfig: await kubeconfigFor(`https://127.0.0.1:${port}`, 'silent'),
      waitReady: false,
      args: ['--leader-elect'],
    });
    await waitFor('connections to the silent API server', () => hole.accepted >= 2, { timeoutMs: 20_000 });
    await stopsCleanly(vk, 'API server never answers');
  } finally {
    hole.close();
  }
});

test('in the middle of a 10 000-pod burst', async () => {
  const vk = await start({ mock: { pods: '20000' }, args: ['--kube-api-qps', '0'] });
  const creating = new AbortController();
  const names = Array.from({ length: 10_000 }, (_, i) => `burst-${i}`);
  const burst = mapConcurrently(names, 50, async (name) => {
    if (creating.signal.aborted) return;
    await cluster.client
      .create(Pods, {
        metadata: { name, namespace },
        spec: { nodeName: vk.nodeName, containers: [{ name: 'c', image: 'registry.local/c:1' }] },
      })
      .catch(() => undefined);
  });
  try {
    await waitFor('1 000 pods in the provider', () => vk.count('createPod') >= 1000, {
      timeoutMs: 120_000,
      intervalMs: 200,
    });
    await stopsCleanly(vk, `mid-burst (${vk.count('createPod')} pods created)`);
  } finally {
    creating.abort();
    await burst;
  }
});

test('with exec and port-forward sessions open', async () => {
  const vk = await start({});
  await cluster.client.create(Pods, {
    metadata: { name: 'app', namespace },
    spec: { nodeName: vk.nodeName, containers: [{ name: 'main', image: 'registry.local/main:1', stdin: true }] },
  });
  await waitFor(
    'Running',
    async () => (await cluster.client.get<Pod>(Pods, { namespace, name: 'app' })).status?.phase === 'Running',
  );
  const sessions = Array.from({ length: 3 }, () =>
    cluster.kubectlProcess(['-n', namespace, 'exec', '-i', 'app', '--', 'cat']),
  );
  const forward = cluster.kubectlProcess(['-n', namespace, 'port-forward', 'pod/app', ':8080']);
  let connection: Socket | undefined;
  try {
    for (const [i, session] of sessions.entries()) {
      session.write(`session ${i}\n`);
      await waitFor(`session ${i} echoes`, () => session.stdout.includes(`session ${i}\n`));
    }
    const port = Number(
      await waitFor('the local port', () => /Forwarding from 127\.0\.0\.1:(\d+) -> 8080/.exec(forward.stdout)?.[1]),
    );
    const echoed: Buffer[] = [];
    connection = connect(port, '127.0.0.1');
    connection.on('data', (chunk: Buffer) => echoed.push(chunk));
    connection.on('error', () => {});
    connection.write('ping');
    await waitFor('the forwarded echo', () => Buffer.concat(echoed).toString() === 'ping');
    assert.equal(await vk.metric('virtual_kubelet_kubelet_api_sessions'), 4);
    await stopsCleanly(vk, 'exec and port-forward sessions open');
    // The sessions end with the node rather than hang.
    await waitFor('the exec sessions to end', () => sessions.every((s) => !s.running), { timeoutMs: 10_000 });
  } finally {
    connection?.destroy();
    for (const session of sessions) session.stop();
    forward.stop();
  }
});

test('kube-apiserver frozen under a running leader; a second signal exits at once', async () => {
  const args = ['--leader-elect', '--node-status-update-interval', '2s'];
  const once = await start({ args });
  const twice = await start({ args });
  assert.ok(apiserverPid, 'the API server pid');
  signalProcess(apiserverPid, 'SIGSTOP');
  try {
    // Let renewals and status writes pile up against the frozen server.
    await new Promise((resolve) => setTimeout(resolve, 2500));
    const stoppingTwice = (async () => {
      twice.child.kill('SIGTERM');
      await waitFor('the first SIGTERM to be seen', () => /SIGTERM received: stopping/.test(twice.log()));
      assert.equal(twice.child.exitCode, null, 'still stopping (releasing the lease) when the second signal comes');
      const second = Date.now();
      twice.child.kill('SIGTERM');
      const exit = await twice.exited;
      times.push(`second signal ${Date.now() - second} ms`);
      assert.equal(exit.code, 1);
      assert.ok(Date.now() - second < 1000, `exited ${Date.now() - second} ms after the second signal`);
      assert.match(twice.log(), /second SIGTERM: exiting now/);
    })();
    await stopsCleanly(once, 'kube-apiserver frozen');
    assert.match(once.log(), /could not release the leader lease/);
    await stoppingTwice;
  } finally {
    signalProcess(apiserverPid, 'SIGCONT');
  }
});

test('a leader cut off from the API server past its renew deadline stops leading and exits 1', async () => {
  const vk = await start({
    args: ['--leader-elect', '--leader-elect-lease-duration', '4s', '--leader-elect-renew-deadline', '3s'],
  });
  await waitFor('a renewal or two', () => /acquired the leader lease/.test(vk.log()));
  assert.ok(apiserverPid, 'the API server pid');
  signalProcess(apiserverPid, 'SIGSTOP');
  const frozen = Date.now();
  try {
    const exit = await Promise.race([
      vk.exited,
      new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), 15_000)),
    ]);
    const elapsed = Date.now() - frozen;
    times.push(`lost lease → exit ${elapsed} ms after the freeze`);
    assert.ok(exit, `still running 15 s after the freeze:\n${vk.log().slice(-3000)}`);
    assert.equal(exit.code, 1);
    // Within the renew deadline (3 s) and the bounded stop, before the 4 s lease could pass to a standby plus a margin.
    assert.ok(elapsed < 3000 + DEADLINE_MS, `exited ${elapsed} ms after the freeze`);
    assert.match(vk.log(), /lost the leader lease .*no renewal succeeded within the renew deadline/);
    assert.match(vk.log(), /exiting so that another replica leads/);
  } finally {
    signalProcess(apiserverPid, 'SIGCONT');
  }
});
