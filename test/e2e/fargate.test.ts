/**
 * The Fargate provider end to end against moto's ECS, EC2 and CloudWatch Logs (no AWS here):
 * the real control plane and kubectl, the real CLI with `--provider fargate`, and moto_server
 * started by this file. What moto cannot do is said where it matters: it reports only the first
 * container of a task, always with exit code 0; it writes no container logs (this test writes
 * them, as the awslogs driver would); it ignores RunTask's clientToken.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  DescribeTaskDefinitionCommand,
  DescribeTasksCommand,
  ListTaskDefinitionsCommand,
  ListTasksCommand,
  type Task,
} from '@aws-sdk/client-ecs';
import type { Deployment } from 'kubernetes-types/apps/v1.js';
import type { Job } from 'kubernetes-types/batch/v1.js';
import type { Node, Pod } from 'kubernetes-types/core/v1.js';
import { Nodes, Pods, resourceType } from '../../src/kube/resources.ts';
import { TAG_NAME, TAG_NAMESPACE } from '../../src/providers/fargate/task-identity.ts';
import { type TestCluster, testCluster, waitFor } from '../../tools/kube/testing.ts';
import { type FargateTestEnvironment, fargateTestEnvironment, motoSkipReason } from '../../tools/moto/testing.ts';
import { VirtualKubeletProcess } from './support/virtual-kubelet.ts';

const Deployments = resourceType<Deployment>('apps', 'v1', 'deployments', 'Deployment', true);
const Jobs = resourceType<Job>('batch', 'v1', 'jobs', 'Job', true);

const IMAGE = 'public.ecr.aws/docker/library/nginx:1.27';
const KEEP_RUNNING = { progression: 'manual', times: 1_000_000 } as const;

describe('fargate provider (moto)', { skip: motoSkipReason() }, () => {
  let cluster: TestCluster;
  let namespace: string;
  let aws: FargateTestEnvironment;
  let vk: VirtualKubeletProcess;

  const startVirtualKubelet = (workDir?: string) =>
    VirtualKubeletProcess.start(cluster, {
      provider: 'fargate',
      providerConfig: aws.providerConfig({ statusPollInterval: '1s', logPollInterval: '200ms' }),
      env: aws.env,
      args: ['--node-ping-interval', '1s'],
      ...(workDir ? { workDir, nodeName: vk.nodeName } : {}),
    });

  before(async () => {
    const started = Date.now();
    [cluster, aws] = await Promise.all([testCluster(), fargateTestEnvironment()]);
    namespace = await cluster.createNamespace('fargate');
    // moto moves a task one state towards STOPPED per DescribeTasks by default.
    await aws.server.setTaskTransition(KEEP_RUNNING);
    vk = await startVirtualKubelet();
    process.stderr.write(`fargate e2e: set-up ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
  });

  after(async () => {
    await vk?.destroy();
    await aws?.server.stop();
    await cluster?.deleteNamespace(namespace);
  });

  const tolerations = [{ key: 'virtual-kubelet.io/provider', operator: 'Exists' }];

  async function podsWith(selector: string): Promise<Pod[]> {
    const list = await cluster.client.list<Pod>(Pods, { namespace, labelSelector: selector });
    return list.items;
  }

  /** Tasks in moto for pods of this namespace, by pod name (DescribeTasks with tags). */
  async function tasksByPod(desiredStatus: 'RUNNING' | 'STOPPED' = 'RUNNING'): Promise<Map<string, Task[]>> {
    const arns = (await aws.ecs.send(new ListTasksCommand({ cluster: aws.cluster, desiredStatus }))).taskArns ?? [];
    const byPod = new Map<string, Task[]>();
    if (arns.length === 0) return byPod;
    const { tasks = [] } = await aws.ecs.send(
      new DescribeTasksCommand({ cluster: aws.cluster, tasks: arns, include: ['TAGS'] }),
    );
    for (const task of tasks) {
      const tag = (key: string) => task.tags?.find((t) => t.key === key)?.value;
      if (tag(TAG_NAMESPACE) !== namespace) continue;
      const name = tag(TAG_NAME) ?? '';
      byPod.set(name, [...(byPod.get(name) ?? []), task]);
    }
    return byPod;
  }

  function deployment(name: string, replicas: number, container: Record<string, unknown> = {}): Deployment {
    return {
      metadata: { name, namespace },
      spec: {
        replicas,
        selector: { matchLabels: { app: name } },
        template: {
          metadata: { labels: { app: name } },
          spec: {
            nodeSelector: { 'kubernetes.io/hostname': vk.nodeName },
            tolerations,
            containers: [{ name: 'web', image: IMAGE, ...container }],
          },
        },
      },
    };
  }

  async function runningPods(selector: string, count: number, timeoutMs = 60_000): Promise<Pod[]> {
    return waitFor(
      `${count} pods ${selector} Running and Ready`,
      async () => {
        const pods = (await podsWith(selector)).filter((p) => !p.metadata?.deletionTimestamp);
        const ready = pods.filter(
          (p) =>
            p.status?.phase === 'Running' &&
            p.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'),
        );
        return ready.length === count && pods.length === count ? ready : undefined;
      },
      { timeoutMs },
    );
  }

  test('a Deployment of 5: five RUNNING tasks with the right task definition, pod IPs from the ENIs; scaled to 0, all stopped and the definition deregistered', async () => {
    const started = Date.now();
    const calls = aws.server.apiCalls();
    await cluster.client.create(
      Deployments,
      deployment('web', 5, {
        env: [{ name: 'GREETING', value: 'hello' }],
        ports: [{ containerPort: 80 }],
        resources: { requests: { cpu: '500m', memory: '1536Mi' } },
      }),
    );
    const pods = await runningPods('app=web', 5);
    const tasks = await tasksByPod();
    for (const pod of pods) {
      const own = tasks.get(pod.metadata?.name ?? '') ?? [];
      assert.equal(own.length, 1, `one task for ${pod.metadata?.name}`);
      const [task] = own;
      assert.equal(task?.lastStatus, 'RUNNING');
      assert.equal(task?.launchType, 'FARGATE');
      assert.equal(task?.startedBy, vk.nodeName);
      const ip = task?.attachments?.[0]?.details?.find((d) => d.name === 'privateIPv4Address')?.value;
      assert.ok(ip);
      assert.equal(pod.status?.podIP, ip, 'the pod IP is the ENI address');
    }
    const definitionArns = new Set(pods.map((p) => tasks.get(p.metadata?.name ?? '')?.[0]?.taskDefinitionArn));
    assert.equal(definitionArns.size, 1, 'identical pods share one task definition');
    const [arn] = definitionArns;
    const { taskDefinition } = await aws.ecs.send(new DescribeTaskDefinitionCommand({ taskDefinition: arn }));
    // 0.5 vCPU with 1.5 GiB → the 0.5 vCPU / 2 GiB combination
    assert.equal(taskDefinition?.cpu, '512');
    assert.equal(taskDefinition?.memory, '2048');
    assert.equal(taskDefinition?.networkMode, 'awsvpc');
    assert.deepEqual(taskDefinition?.requiresCompatibilities, ['FARGATE']);
    const [web] = taskDefinition?.containerDefinitions ?? [];
    assert.equal(web?.image, IMAGE);
    assert.deepEqual(
      web?.environment?.find((e) => e.name === 'GREETING'),
      { name: 'GREETING', value: 'hello' },
    );
    assert.deepEqual(
      web?.portMappings?.map((p) => [p.containerPort, p.protocol]),
      [[80, 'tcp']],
    );
    assert.equal(web?.cpu, 512);
    assert.equal(web?.memoryReservation, 1536);
    assert.equal(web?.logConfiguration?.options?.['awslogs-group'], aws.logGroup);
    const now = aws.server.apiCalls();
    assert.equal((now['ecs:RunTask'] ?? 0) - (calls['ecs:RunTask'] ?? 0), 5);
    assert.equal((now['ecs:RegisterTaskDefinition'] ?? 0) - (calls['ecs:RegisterTaskDefinition'] ?? 0), 1);
    process.stderr.write(`fargate e2e: 5 replicas Running in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);

    await cluster.client.patch(Deployments, { namespace, name: 'web' }, { spec: { replicas: 0 } }, 'merge');
    await waitFor('pods of web gone', async () => (await podsWith('app=web')).length === 0, { timeoutMs: 60_000 });
    assert.equal((await tasksByPod('RUNNING')).size, 0, 'no task left running');
    const stopped = await tasksByPod('STOPPED');
    for (const pod of pods) {
      const [task] = stopped.get(pod.metadata?.name ?? '') ?? [];
      assert.equal(task?.lastStatus, 'STOPPED');
      assert.match(task?.stoppedReason ?? '', /deleted \(virtual-kubelet node/);
    }
    const family = taskDefinition?.family ?? '';
    await waitFor('the task definition deregistered', async () => {
      const active = await aws.ecs.send(new ListTaskDefinitionsCommand({ familyPrefix: family, status: 'ACTIVE' }));
      return (active.taskDefinitionArns ?? []).length === 0;
    });
  });

  test('kubectl logs from CloudWatch: all, --tail, --since, --timestamps, -f', async () => {
    await cluster.client.create(Pods, {
      metadata: { name: 'logger', namespace, labels: { app: 'logger' } },
      spec: { nodeName: vk.nodeName, tolerations, containers: [{ name: 'app', image: IMAGE }] },
    } as Pod);
    await runningPods('app=logger', 1);
    const [task] = (await tasksByPod()).get('logger') ?? [];
    const taskId = task?.taskArn?.split('/').at(-1) ?? '';
    const now = Date.now();
    const times = [now - 60_000, now - 40_000, now - 2_000].map((t) => new Date(t));
    await aws.putLogEvents(
      `vk/app/${taskId}`,
      times.map((time, i) => ({ time, message: `line ${i + 1}` })),
    );
    const logs = async (...args: string[]) => {
      const result = await cluster.kubectl(['-n', namespace, 'logs', 'logger', ...args]);
      assert.equal(result.code, 0, result.stderr);
      return result.stdout;
    };
    assert.equal(await logs(), 'line 1\nline 2\nline 3\n');
    assert.equal(await logs('--tail=2'), 'line 2\nline 3\n');
    assert.equal(await logs('--since=20s'), 'line 3\n');
    const stamped = (await logs('--timestamps', '--tail=1')).trim();
    assert.equal(stamped, `${times[2]?.toISOString().slice(0, 23)}000000Z line 3`);

    const follow = cluster.kubectlProcess(['-n', namespace, 'logs', '-f', '--tail=1', 'logger']);
    try {
      await waitFor('the followed tail', () => follow.stdout === 'line 3\n');
      await aws.putLogEvents(`vk/app/${taskId}`, [{ time: new Date(), message: 'line 4' }]);
      await waitFor('a line written while following', () => follow.stdout === 'line 3\nline 4\n', {
        timeoutMs: 10_000,
      });
    } finally {
      follow.stop();
    }
    const previous = await cluster.kubectl(['-n', namespace, 'logs', 'logger', '--previous']);
    assert.notEqual(previous.code, 0);
    assert.match(previous.stderr, /Fargate does not restart containers/);
    const exec = await cluster.kubectl(['-n', namespace, 'exec', 'logger', '--', 'true']);
    assert.notEqual(exec.code, 0);
    assert.match(exec.stderr, /kubectl exec is not supported on Fargate pod .*ECS Exec \(the SSM session protocol\)/);
    await cluster.client.delete(Pods, { namespace, name: 'logger' });
  });

  test('a pod too big for Fargate is refused with the sizes', async () => {
    await cluster.client.create(Pods, {
      metadata: { name: 'huge', namespace },
      spec: {
        nodeName: vk.nodeName,
        tolerations,
        restartPolicy: 'Never',
        containers: [{ name: 'app', image: IMAGE, resources: { requests: { cpu: '32', memory: '1Gi' } } }],
      },
    } as Pod);
    const pod = await waitFor('huge refused', async () => {
      const p = await cluster.client.get<Pod>(Pods, { namespace, name: 'huge' });
      return p.status?.phase === 'Failed' ? p : undefined;
    });
    assert.match(pod.status?.message ?? '', /32 vCPU.*more than any Fargate task/);
    assert.equal((await tasksByPod()).get('huge'), undefined);
  });

  test('SIGKILL and restart of the virtual kubelet: tasks adopted, none run twice', async () => {
    await cluster.client.create(Deployments, deployment('survivor', 2));
    const before = await runningPods('app=survivor', 2);
    const runTasks = aws.server.apiCalls()['ecs:RunTask'] ?? 0;
    await vk.stop('SIGKILL');
    vk = await startVirtualKubelet(vk.workDir);
    await waitFor('adoption logged', () => /adopted running provider pods/.test(vk.log()));
    const after = await runningPods('app=survivor', 2);
    assert.deepEqual(
      after.map((p) => [p.metadata?.uid, p.status?.podIP]).sort(),
      before.map((p) => [p.metadata?.uid, p.status?.podIP]).sort(),
    );
    assert.equal(aws.server.apiCalls()['ecs:RunTask'] ?? 0, runTasks, 'no RunTask after the restart');
    const tasks = await tasksByPod();
    for (const pod of after) assert.equal(tasks.get(pod.metadata?.name ?? '')?.length, 1);
    // Still in charge: a deleted pod is replaced by exactly one new task.
    await cluster.client.delete(Pods, { namespace, name: after[0]?.metadata?.name ?? '' });
    const deleted = after[0]?.metadata?.name;
    await waitFor(
      'a replacement Running',
      async () => {
        const pods = (await podsWith('app=survivor')).filter(
          (p) => !p.metadata?.deletionTimestamp && p.status?.phase === 'Running',
        );
        return pods.length === 2 && pods.every((p) => p.metadata?.name !== deleted);
      },
      { timeoutMs: 60_000 },
    );
    assert.equal(aws.server.apiCalls()['ecs:RunTask'] ?? 0, runTasks + 1);
    await cluster.client.delete(Deployments, { namespace, name: 'survivor' });
    await waitFor('survivor gone', async () => (await podsWith('app=survivor')).length === 0, { timeoutMs: 60_000 });
  });

  test('moto frozen for 30 s: the node goes NotReady with the reason, then Ready', async () => {
    const readyCondition = async () =>
      (await cluster.client.get<Node>(Nodes, { name: vk.nodeName })).status?.conditions?.find(
        (c) => c.type === 'Ready',
      );
    const freeze = aws.server.freeze(30_000);
    const notReady = await waitFor(
      'node NotReady',
      async () => {
        const ready = await readyCondition();
        return ready?.status === 'False' ? ready : undefined;
      },
      { timeoutMs: 25_000 },
    );
    assert.match(notReady.message ?? '', /provider ping failed/);
    await freeze;
    await waitFor('node Ready again', async () => (await readyCondition())?.status === 'True', { timeoutMs: 30_000 });
  });

  test('tasks that moto stops: the Job pod follows to Succeeded (moto reports exit code 0)', async () => {
    await cluster.client.create(Jobs, {
      metadata: { name: 'once', namespace },
      spec: {
        backoffLimit: 0,
        template: {
          metadata: { labels: { app: 'once' } },
          spec: {
            nodeSelector: { 'kubernetes.io/hostname': vk.nodeName },
            tolerations,
            restartPolicy: 'Never',
            containers: [{ name: 'work', image: IMAGE, command: ['true'] }],
          },
        },
      },
    });
    await runningPods('app=once', 1);
    // From now on every DescribeTasks moves each task one state on, to STOPPED after four.
    await aws.server.setTaskTransition({ progression: 'manual', times: 1 });
    try {
      const [pod] = await waitFor(
        'the Job pod Succeeded',
        async () => {
          const pods = await podsWith('app=once');
          return pods[0]?.status?.phase === 'Succeeded' ? pods : undefined;
        },
        { timeoutMs: 30_000 },
      );
      const terminated = pod?.status?.containerStatuses?.[0]?.state?.terminated;
      assert.equal(terminated?.exitCode, 0);
      assert.equal(terminated?.reason, 'Completed');
      await waitFor('the Job complete', async () => {
        const job = await cluster.client.get<Job>(Jobs, { namespace, name: 'once' });
        return job.status?.succeeded === 1;
      });
    } finally {
      await aws.server.setTaskTransition(KEEP_RUNNING);
    }
  });
});
