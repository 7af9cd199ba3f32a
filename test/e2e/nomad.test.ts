/**
 * The Nomad provider end to end: a real Nomad v1.6.3 cluster (one server, two clients, ACLs on,
 * the docker driver on Podman) started by this test, the real control plane and kubectl.
 * A Deployment spread over both Nomad clients and scaled to zero, logs -f, exec with stdin and
 * exit code, exec -it under a terminal, kubectl top, Jobs that succeed and fail, init containers in
 * order, a pod Nomad cannot run, adoption after a SIGKILL, a Nomad server outage, a wrong token.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Deployment } from 'kubernetes-types/apps/v1.js';
import type { Job } from 'kubernetes-types/batch/v1.js';
import type { Node, Pod } from 'kubernetes-types/core/v1.js';
import { Nodes, Pods, resourceType } from '../../src/kube/resources.ts';
import { startMetricsServer } from '../../tools/kube/metrics-server.ts';
import { type TestCluster, testCluster, waitFor } from '../../tools/kube/testing.ts';
import { type NomadCluster, startNomadCluster } from '../../tools/nomad/cluster.ts';
import { nomadSkipReason } from '../../tools/nomad/testing.ts';
import { checkShellUnderTerminal, hasTmux } from './support/terminal.ts';
import { VirtualKubeletProcess } from './support/virtual-kubelet.ts';

const Deployments = resourceType<Deployment>('apps', 'v1', 'deployments', 'Deployment', true);
const Jobs = resourceType<Job>('batch', 'v1', 'jobs', 'Job', true);

interface AllocationStub {
  ID: string;
  JobID: string;
  NodeID: string;
  ClientStatus: string;
}

describe('nomad provider', { skip: nomadSkipReason() }, () => {
  let cluster: TestCluster;
  let nomad: NomadCluster;
  let namespace: string;
  let vk: VirtualKubeletProcess;
  const started = Date.now();

  const providerConfig = () => ({
    address: nomad.address,
    token: nomad.managementToken,
    datacenters: [nomad.datacenter],
    docker: { engine: 'podman' },
    restart: { attempts: 2, interval: '1m', delay: '2s' },
  });

  before(
    async () => {
      cluster = await testCluster();
      namespace = await cluster.createNamespace('nomad');
      nomad = await startNomadCluster({ name: 'e2e', acl: true, cpuTotalCompute: 20_000 });
      vk = await VirtualKubeletProcess.start(cluster, {
        provider: 'nomad',
        providerConfig: providerConfig(),
        args: ['--node-ping-interval', '1s'],
      });
    },
    // The first run builds Nomad from source (about 5 minutes of CPU on 2 cores, more when loaded).
    { timeout: 30 * 60_000 },
  );

  after(async () => {
    await vk?.destroy();
    await nomad?.stop();
    await cluster?.deleteNamespace(namespace);
    process.stderr.write(`nomad: e2e file took ${Math.round((Date.now() - started) / 1000)} s\n`);
  });

  const kubectl = (args: string[], input?: string) =>
    cluster.kubectl(['-n', namespace, ...args], { timeoutMs: 60_000, ...(input !== undefined ? { input } : {}) });

  const tolerations = [{ key: 'virtual-kubelet.io/provider', operator: 'Exists' }];

  function container(name: string, script: string, extra: Record<string, unknown> = {}) {
    return {
      name,
      image: nomad.busybox,
      imagePullPolicy: 'Never',
      command: ['sh', '-c', script],
      resources: { requests: { cpu: '50m', memory: '32Mi' } },
      ...extra,
    };
  }

  async function createPod(name: string, spec: Record<string, unknown>): Promise<void> {
    await cluster.client.create(Pods, {
      metadata: { name, namespace },
      spec: { nodeName: vk.nodeName, tolerations, ...spec },
    } as Pod);
  }

  async function podNamed(name: string): Promise<Pod> {
    return cluster.client.get<Pod>(Pods, { namespace, name });
  }

  async function running(name: string, timeoutMs = 90_000): Promise<Pod> {
    return waitFor(
      `${name} Running`,
      async () => {
        const pod = await podNamed(name);
        return pod.status?.phase === 'Running' &&
          pod.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')
          ? pod
          : undefined;
      },
      { timeoutMs },
    );
  }

  const jobId = (name: string) => `k8s.${namespace}.${name}`;
  const ourJobs = async () =>
    (await nomad.api<{ ID: string }[]>('GET', `/v1/jobs?prefix=${encodeURIComponent(`k8s.${namespace}.`)}`)).map(
      (j) => j.ID,
    );

  test('a Deployment of 10 replicas: all Running, spread over both Nomad clients; scaled to 0, every job gone', async () => {
    const t0 = Date.now();
    await cluster.client.create(Deployments, {
      metadata: { name: 'web', namespace },
      spec: {
        replicas: 10,
        selector: { matchLabels: { app: 'web' } },
        template: {
          metadata: { labels: { app: 'web' } },
          spec: {
            nodeSelector: { 'kubernetes.io/hostname': vk.nodeName },
            tolerations,
            // httpd as PID 1 ignores SIGTERM: the scale-down waits out the grace period.
            terminationGracePeriodSeconds: 3,
            containers: [
              container('httpd', 'mkdir -p /www && hostname > /www/index.html && exec httpd -f -p 8080 -h /www', {
                ports: [{ containerPort: 8080 }],
              }),
            ],
          },
        },
      },
    });
    const pods = await waitFor(
      '10 web pods Running',
      async () => {
        const list = (await cluster.client.list<Pod>(Pods, { namespace, labelSelector: 'app=web' })).items;
        const ready = list.filter((p) => p.status?.phase === 'Running' && p.status.podIP);
        return ready.length === 10 ? ready : undefined;
      },
      { timeoutMs: 180_000 },
    );
    process.stderr.write(`nomad: 10 replicas Running in ${Date.now() - t0} ms\n`);
    const ips = new Set(pods.map((p) => p.status?.podIP));
    assert.equal(ips.size, 10, 'every pod has its own address');
    const allocs = await nomad.api<AllocationStub[]>('GET', '/v1/allocations');
    const web = allocs.filter(
      (a) => pods.some((p) => a.JobID === jobId(p.metadata?.name ?? '')) && a.ClientStatus === 'running',
    );
    assert.equal(web.length, 10, 'one running allocation per pod');
    const nodes = new Set(web.map((a) => a.NodeID));
    assert.deepEqual([...nodes].sort(), nomad.clients.map((c) => c.nodeId).sort(), 'spread over both Nomad clients');

    // Port-forward reaches the allocation's address.
    const first = pods[0] as Pod;
    const forward = cluster.kubectlProcess(['-n', namespace, 'port-forward', `pod/${first.metadata?.name}`, ':8080']);
    try {
      const port = Number(
        await waitFor('the local port', () => /Forwarding from 127\.0\.0\.1:(\d+)/.exec(forward.stdout)?.[1]),
      );
      const body = await waitFor('the page', async () => {
        try {
          const response = await fetch(`http://127.0.0.1:${port}/`);
          return response.ok ? await response.text() : undefined;
        } catch {
          return undefined;
        }
      });
      assert.ok(body.trim().length > 0);
    } finally {
      forward.stop();
    }

    await kubectl(['scale', 'deployment/web', '--replicas=0']);
    await waitFor(
      'the web pods gone from the API and their jobs from Nomad',
      async () => {
        const list = (await cluster.client.list<Pod>(Pods, { namespace, labelSelector: 'app=web' })).items;
        const jobs = (await ourJobs()).filter((id) => id.startsWith(jobId('web-')));
        return list.length === 0 && jobs.length === 0;
      },
      { timeoutMs: 120_000 },
    );
  });

  test('kubectl logs -f shows new lines; kubectl exec with stdin and the exit code', async () => {
    await createPod('tools', {
      containers: [container('main', 'i=0; while true; do i=$((i+1)); echo "tick $i"; sleep 0.5; done')],
    });
    await running('tools');
    const follow = cluster.kubectlProcess(['-n', namespace, 'logs', '-f', 'tools']);
    try {
      await waitFor('three ticks through logs -f', () => (follow.stdout.match(/tick \d+/g)?.length ?? 0) >= 3, {
        timeoutMs: 30_000,
      });
      const seen = follow.stdout.match(/tick \d+/g)?.length ?? 0;
      await waitFor('a newer tick', () => (follow.stdout.match(/tick \d+/g)?.length ?? 0) > seen + 1, {
        timeoutMs: 30_000,
      });
    } finally {
      follow.stop();
    }
    const tail = await kubectl(['logs', 'tools', '--tail=2']);
    assert.equal(tail.stdout.trim().split('\n').length, 2, tail.stdout);
    const refused = await kubectl(['logs', 'tools', '--timestamps']);
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /Nomad does not record when a log line was written/);

    const exec = await kubectl(
      ['exec', '-i', 'tools', '--', 'sh', '-c', 'read line; echo "got $line"; exit 7'],
      'hello\n',
    );
    assert.equal(exec.stdout, 'got hello\n');
    assert.equal(exec.code, 7);
  });

  test('kubectl exec -it under a terminal with a resize; kubectl top pod through metrics-server', async (t) => {
    await running('tools');
    if (await hasTmux()) {
      const command = `${cluster.info.kubectl} --kubeconfig ${cluster.info.kubeconfig} -n ${namespace} exec -it tools -- sh`;
      await checkShellUnderTerminal(command);
    } else {
      t.diagnostic('tmux is not installed: exec -it not tried');
    }
    const metricsServer = await startMetricsServer(cluster, {
      log: (line) => process.stderr.write(`metrics-server: ${line}\n`),
    });
    try {
      const usage = await waitFor(
        'kubectl top pod tools',
        async () => {
          const top = await kubectl(['top', 'pod', 'tools', '--no-headers']);
          const match = /^tools\s+(\d+)m\s+(\d+)Mi/.exec(top.stdout.trim());
          return match ? { cpuMillis: Number(match[1]), memoryMiB: Number(match[2]) } : undefined;
        },
        { timeoutMs: 120_000, intervalMs: 2000 },
      );
      assert.ok(usage.memoryMiB >= 0 && usage.cpuMillis >= 0, JSON.stringify(usage));
    } finally {
      await metricsServer.stop();
    }
  });

  test('Jobs: exit 0 Succeeded and the Job completes; exit 3 Failed with exit code 3', async () => {
    const job = (name: string, code: number) => ({
      metadata: { name, namespace },
      spec: {
        backoffLimit: 0,
        template: {
          spec: {
            nodeName: vk.nodeName,
            tolerations,
            restartPolicy: 'Never',
            containers: [container('task', `echo working; exit ${code}`)],
          },
        },
      },
    });
    await cluster.client.create(Jobs, job('ok', 0) as Job);
    await cluster.client.create(Jobs, job('bad', 3) as Job);
    await waitFor(
      'Job ok complete',
      async () => (await cluster.client.get<Job>(Jobs, { namespace, name: 'ok' })).status?.succeeded === 1,
      { timeoutMs: 90_000 },
    );
    const failed = await waitFor(
      'the pod of Job bad Failed',
      async () => {
        const pods = (await cluster.client.list<Pod>(Pods, { namespace, labelSelector: 'job-name=bad' })).items;
        return pods.find((p) => p.status?.phase === 'Failed');
      },
      { timeoutMs: 90_000 },
    );
    assert.equal(failed.status?.containerStatuses?.[0]?.state?.terminated?.exitCode, 3);
    assert.equal(failed.status?.containerStatuses?.[0]?.state?.terminated?.reason, 'Error');
  });

  test('a crashing container: restart counts, lastState with the exit code, CrashLoopBackOff between runs', async () => {
    await createPod('crasher', { containers: [container('main', 'echo crashing; sleep 1; exit 1')] });
    const seen = new Set<string>();
    const pod = await waitFor(
      'two restarts and CrashLoopBackOff',
      async () => {
        const p = await podNamed('crasher');
        const status = p.status?.containerStatuses?.[0];
        const waiting = status?.state?.waiting?.reason;
        if (waiting) seen.add(waiting);
        return (status?.restartCount ?? 0) >= 2 && seen.has('CrashLoopBackOff') ? p : undefined;
      },
      { timeoutMs: 90_000, intervalMs: 200 },
    );
    const status = pod.status?.containerStatuses?.[0];
    assert.equal(status?.lastState?.terminated?.exitCode, 1);
    assert.equal(status?.lastState?.terminated?.reason, 'Error');
    assert.equal(pod.status?.phase, 'Running');
    await cluster.client.delete(Pods, { namespace, name: 'crasher' });
  });

  test('init containers run one after the other, before the main container', async () => {
    const step = (n: string, pause: string) => `sleep ${pause}; echo ${n} >> /alloc/order`;
    await createPod('inits', {
      restartPolicy: 'Never',
      initContainers: [container('first', step('first', '1')), container('second', step('second', '0'))],
      containers: [container('main', 'echo main >> /alloc/order; cat /alloc/order')],
    });
    const done = await waitFor(
      'inits Succeeded',
      async () => {
        const pod = await podNamed('inits');
        return pod.status?.phase === 'Succeeded' ? pod : undefined;
      },
      { timeoutMs: 90_000 },
    );
    assert.deepEqual(
      done.status?.initContainerStatuses?.map((c) => [c.name, c.state?.terminated?.exitCode]),
      [
        ['first', 0],
        ['second', 0],
      ],
    );
    const logs = await kubectl(['logs', 'inits', '-c', 'main']);
    assert.equal(logs.stdout, 'first\nsecond\nmain\n');
  });

  test('a pod Nomad cannot run fails with what is unsupported; one it cannot place says why', async () => {
    await createPod('hostnet', { hostNetwork: true, containers: [container('main', 'sleep 1')] });
    const pod = await waitFor('hostnet ProviderFailed', async () => {
      const p = await podNamed('hostnet');
      return p.status?.reason === 'ProviderFailed' ? p : undefined;
    });
    assert.match(pod.status?.message ?? '', /hostNetwork/);
    // More memory than any Nomad client has: Pending, with why Nomad could not place it.
    await createPod('huge', {
      containers: [container('main', 'sleep 1', { resources: { requests: { cpu: '50m', memory: '5000Gi' } } })],
    });
    const huge = await waitFor('huge Pending with the placement failure', async () => {
      const p = await podNamed('huge');
      return /Nomad could not place/.test(p.status?.message ?? '') ? p : undefined;
    });
    assert.equal(huge.status?.phase, 'Pending');
    assert.match(huge.status?.message ?? '', /memory/);
    await cluster.client.delete(Pods, { namespace, name: 'huge' });
  });

  test('SIGKILL the virtual kubelet and restart it: no job submitted twice, no pod changes', async () => {
    const before = await running('tools');
    const job = await nomad.api<{ Version: number; JobModifyIndex: number }>('GET', `/v1/job/${jobId('tools')}`);
    const allocs = await nomad.api<AllocationStub[]>('GET', `/v1/job/${jobId('tools')}/allocations`);
    await vk.stop('SIGKILL');
    vk = await VirtualKubeletProcess.start(cluster, {
      nodeName: vk.nodeName,
      workDir: vk.workDir,
      provider: 'nomad',
      args: ['--node-ping-interval', '1s'],
    });
    const after = await running('tools');
    // Give a second registration the time to happen, were there one.
    await vk.waitReady();
    const jobAfter = await nomad.api<{ Version: number; JobModifyIndex: number }>('GET', `/v1/job/${jobId('tools')}`);
    const allocsAfter = await nomad.api<AllocationStub[]>('GET', `/v1/job/${jobId('tools')}/allocations`);
    assert.equal(jobAfter.Version, job.Version);
    assert.equal(jobAfter.JobModifyIndex, job.JobModifyIndex);
    assert.deepEqual(
      allocsAfter.map((a) => a.ID),
      allocs.map((a) => a.ID),
    );
    assert.equal(after.metadata?.uid, before.metadata?.uid);
    assert.equal(after.status?.podIP, before.status?.podIP);
    assert.equal(
      after.status?.containerStatuses?.[0]?.restartCount,
      before.status?.containerStatuses?.[0]?.restartCount,
    );
    assert.equal(after.status?.containerStatuses?.[0]?.containerID, before.status?.containerStatuses?.[0]?.containerID);
  });

  test('the Nomad server down for 30 s: the node NotReady with the reason, then Ready, no pod lost', async () => {
    const before = await running('tools');
    const allocs = await nomad.api<AllocationStub[]>('GET', `/v1/job/${jobId('tools')}/allocations`);
    await nomad.stopServer();
    const outage = Date.now();
    const notReady = await waitFor(
      'the node NotReady',
      async () => {
        const node = await cluster.client.get<Node>(Nodes, { name: vk.nodeName });
        const ready = node.status?.conditions?.find((c) => c.type === 'Ready');
        return ready?.status !== 'True' ? ready : undefined;
      },
      { timeoutMs: 30_000 },
    );
    assert.match(notReady.message ?? '', /Nomad at http:\/\/127\.0\.0\.1:\d+.*(unreachable|ECONNREFUSED)/);
    const left = 30_000 - (Date.now() - outage);
    if (left > 0) await new Promise((resolve) => setTimeout(resolve, left));
    await nomad.startServer();
    await vk.waitReady(60_000);
    const after = await running('tools');
    assert.equal(after.metadata?.uid, before.metadata?.uid);
    assert.equal(after.status?.podIP, before.status?.podIP);
    const allocsAfter = await nomad.api<AllocationStub[]>('GET', `/v1/job/${jobId('tools')}/allocations`);
    assert.deepEqual(
      allocsAfter.map((a) => a.ID),
      allocs.map((a) => a.ID),
    );
    // Exec goes through the server to the client, which reconnects to the restarted server on its own time.
    await waitFor(
      'exec through the restarted server',
      async () => (await kubectl(['exec', 'tools', '--', 'echo', 'still running'])).stdout === 'still running\n',
      { timeoutMs: 60_000, intervalMs: 1000 },
    );
  });

  test('a wrong ACL token: the node NotReady with Nomad’s reason', async () => {
    const wrong = await VirtualKubeletProcess.start(cluster, {
      provider: 'nomad',
      providerConfig: { ...providerConfig(), token: '00000000-0000-0000-0000-000000000000' },
      args: ['--node-ping-interval', '1s'],
      waitReady: false,
    });
    try {
      const condition = await waitFor(
        'the node NotReady with the reason',
        async () => {
          const node = await cluster.client.get<Node>(Nodes, { name: wrong.nodeName }).catch(() => undefined);
          const ready = node?.status?.conditions?.find((c) => c.type === 'Ready');
          return ready && ready.status !== 'True' && /token/i.test(ready.message ?? '') ? ready : undefined;
        },
        { timeoutMs: 30_000 },
      ).catch((error: Error) => assert.fail(`${error.message}; its log:\n${wrong.log().slice(-3000)}`));
      assert.match(condition.message ?? '', /ACL token not found|Permission denied/);
    } finally {
      await wrong.destroy();
    }
  });
});
