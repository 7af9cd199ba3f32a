/**
 * Replicas of one node with `--leader-elect` (default lease 15 s, renew deadline 10 s, retry 2 s):
 * only the leader runs the controllers, serves the kubelet API and publishes its own address on the
 * Node; a standby writes nothing. SIGKILL of the leader in the middle of a 200-pod rollout: the
 * standby takes over within the lease duration, runs every pod, creates none twice in the provider
 * (the replicas share the mock's stateFile and callLog, as they would share a backend), and
 * `kubectl logs` reaches it. A graceful stop releases the lease, and a standby leads within 2 s.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { Lease } from 'kubernetes-types/coordination/v1.js';
import type { Node, Pod } from 'kubernetes-types/core/v1.js';
import { Leases, Nodes, Pods } from '../../src/kube/resources.ts';
import { leaderLeaseName } from '../../src/virtual-node.ts';
import { type TestCluster, testCluster, waitFor } from '../../tools/kube/testing.ts';
import { VirtualKubeletProcess } from './support/virtual-kubelet.ts';

const PODS = 200;
const nodeName = `vk-ha-${randomBytes(3).toString('hex')}`;
const workDir = mkdtempSync(join(tmpdir(), `${nodeName}-`));
let cluster: TestCluster;
let namespace: string;
const replicas: VirtualKubeletProcess[] = [];

function replica(name: string, waitReady: boolean): Promise<VirtualKubeletProcess> {
  return VirtualKubeletProcess.start(cluster, {
    nodeName,
    workDir,
    replica: name,
    waitReady,
    args: ['--leader-elect'],
  }).then((vk) => {
    replicas.push(vk);
    return vk;
  });
}

/** The epoch-ms time of the first JSON log line of `vk` whose message matches. */
function loggedAt(vk: VirtualKubeletProcess, message: RegExp): number | undefined {
  for (const line of vk.log().split('\n')) {
    if (!line.startsWith('{')) continue;
    const entry = JSON.parse(line) as { time: number; msg: string };
    if (message.test(entry.msg)) return entry.time;
  }
  return undefined;
}

const lease = () => cluster.client.get<Lease>(Leases, { namespace: 'kube-system', name: leaderLeaseName(nodeName) });
const kubeletPort = async () =>
  (await cluster.client.get<Node>(Nodes, { name: nodeName })).status?.daemonEndpoints?.kubeletEndpoint?.Port;

function refused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', () => resolve(true));
  });
}

async function metricsText(vk: VirtualKubeletProcess): Promise<string> {
  const url = await waitFor('the metrics address', () => vk.metricsUrl());
  return (await fetch(url)).text();
}

let a: VirtualKubeletProcess;
let b: VirtualKubeletProcess;

before(async () => {
  cluster = await testCluster();
  namespace = await cluster.createNamespace('ha');
  a = await replica('a', true);
  b = await replica('b', false);
  await waitFor('b to stand by', () => /is held by .*; standing by/.test(b.log()));
});

after(async () => {
  for (const vk of replicas) await vk.stop('SIGKILL');
  await cluster?.client.delete(Nodes, { name: nodeName }).catch(() => undefined);
  await cluster?.client
    .delete(Leases, { namespace: 'kube-system', name: leaderLeaseName(nodeName) })
    .catch(() => undefined);
  await cluster?.deleteNamespace(namespace);
});

test('one replica leads; the standby serves nothing and writes neither the node nor pods', async () => {
  assert.equal(await kubeletPort(), a.kubeletPort);
  assert.match((await lease()).spec?.holderIdentity ?? '', /_/);
  assert.equal((await lease()).spec?.leaseDurationSeconds, 15);
  assert.ok(await refused(b.kubeletPort), 'the standby does not listen on its kubelet port');
  const standby = await metricsText(b);
  assert.match(standby, /^leader_election_master_status 0$/m);
  assert.match(await metricsText(a), /^leader_election_master_status 1$/m);
  const writes = standby
    .split('\n')
    .filter((line) => line.startsWith('rest_client_requests_total{') && !/resource="leases"/.test(line));
  assert.deepEqual(writes, [], 'the standby talks to the API about its lease only');
});

test(`SIGKILL of the leader mid-rollout of ${PODS} pods: the standby takes over within 15 s, no pod is created twice`, async () => {
  // A rollout at about 20 pods a second, as a Deployment scaling up would make them.
  const rollout = (async () => {
    for (let i = 0; i < PODS; i += 10) {
      await Promise.all(
        Array.from({ length: 10 }, (_, j) =>
          cluster.client.create(Pods, {
            metadata: { name: `p-${i + j}`, namespace },
            spec: { nodeName, containers: [{ name: 'c', image: 'registry.local/c:1' }] },
          }),
        ),
      );
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  })();
  await waitFor('the leader to create 40 pods', () => a.count('createPod') >= 40, { timeoutMs: 60_000 });
  const killedAt = Date.now();
  assert.equal((await a.stop('SIGKILL')).signal, 'SIGKILL');
  const transitionsBefore = (await lease()).spec?.leaseTransitions ?? 0;

  const acquiredAt = await waitFor('b to acquire the lease', () => loggedAt(b, /^acquired the leader lease/), {
    timeoutMs: 30_000,
    intervalMs: 50,
  });
  const takeover = acquiredAt - killedAt;
  process.stderr.write(`leader-election: SIGKILL → standby leads after ${takeover} ms\n`);
  // The lease runs 15 s from the last renewal the standby saw (at most a retry period before the kill).
  assert.ok(takeover <= 15_000 + 500, `took over ${takeover} ms after the SIGKILL`);
  await b.waitReady();
  assert.equal(await kubeletPort(), b.kubeletPort, 'the new leader published its own address');
  assert.equal((await lease()).spec?.leaseTransitions, transitionsBefore + 1);

  await rollout;
  await waitFor(
    `${PODS} pods Running`,
    async () => {
      const items = (await cluster.client.list<Pod>(Pods, { namespace })).items;
      return items.length === PODS && items.every((p) => p.status?.phase === 'Running');
    },
    { timeoutMs: 120_000, intervalMs: 500 },
  );
  const creates = new Map<string, number>();
  for (const call of b.calls()) {
    if (call.method === 'createPod' && call.pod) creates.set(call.pod, (creates.get(call.pod) ?? 0) + 1);
  }
  assert.equal(creates.size, PODS);
  const twice = [...creates].filter(([, n]) => n > 1).map(([pod]) => pod);
  assert.deepEqual(twice, [], 'pods created twice in the provider');

  const logs = await cluster.kubectl(['-n', namespace, 'logs', 'p-0']);
  assert.equal(logs.code, 0, logs.stderr);
});

test('a graceful stop releases the lease: a standby leads within 2 s', async () => {
  const c = await replica('c', false);
  await waitFor('c to stand by', () => /is held by .*; standing by/.test(c.log()));
  const stoppedAt = Date.now();
  const exit = await b.stop('SIGTERM');
  assert.equal(exit.code, 0, b.log().slice(-2000));
  assert.match(b.log(), /released the leader lease/);
  const acquiredAt = await waitFor('c to acquire the lease', () => loggedAt(c, /^acquired the leader lease/), {
    timeoutMs: 10_000,
    intervalMs: 20,
  });
  const takeover = acquiredAt - stoppedAt;
  process.stderr.write(`leader-election: SIGTERM → standby leads after ${takeover} ms\n`);
  assert.ok(takeover < 2000, `took over ${takeover} ms after the SIGTERM`);
  await c.waitReady();
  assert.equal(await kubeletPort(), c.kubeletPort);
  const logs = await cluster.kubectl(['-n', namespace, 'logs', 'p-1']);
  assert.equal(logs.code, 0, logs.stderr);
  // The new leader adopted every pod: no create beyond the first of each.
  assert.equal(c.count('createPod'), PODS);
});
