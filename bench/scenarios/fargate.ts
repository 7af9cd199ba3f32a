/**
 * `fargate`: N pods through `--provider fargate` against moto's ECS (started here), then the same
 * N tasks driven directly with the SDK (one RegisterTaskDefinition, RunTask 32 in flight,
 * DescribeTasks 100 a call until all RUNNING), side by side in one run. Reports the AWS API calls
 * per pod that moto served (its request recording): RunTask, DescribeTasks, RegisterTaskDefinition,
 * StopTask, during the burst, a steady hold with every pod running (the status poll's rate), and
 * the deletion.
 *
 * moto answers RUNNING at once, so the times measure our overhead (and moto's speed), not Fargate's
 * start-up (30–60 s per task in AWS).
 */
import { join, resolve } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import {
  DescribeTasksCommand,
  ListTasksCommand,
  RegisterTaskDefinitionCommand,
  RunTaskCommand,
  StopTaskCommand,
} from '@aws-sdk/client-ecs';
import { VirtualKubeletProcess } from '../../test/e2e/support/virtual-kubelet.ts';
import { HarnessError } from '../../tools/kube/binaries.ts';
import { fargateTestEnvironment } from '../../tools/moto/testing.ts';
import { adopt, type ImplementationName, NODE_CAPACITY, stopChild } from '../baselines.ts';
import { percentiles } from '../measurement.ts';
import {
  benchPod,
  CREATE_CONCURRENCY,
  createPod,
  DELETE_CONCURRENCY,
  deletePod,
  goalResult,
  latencies,
  pool,
  type RawRun,
  type RunResult,
  round,
  type ScenarioContext,
  timeoutNotes,
  withRun,
} from './harness.ts';

const REPO = resolve(fileURLToPath(import.meta.url), '..', '..', '..');
/** How long all pods are held Running, to measure the status poll's steady rate. */
const HOLD_MS = 30_000;

export async function runFargate(
  context: ScenarioContext,
  implementation: ImplementationName,
  size: number,
): Promise<{ result: RunResult; raw: RawRun }[]> {
  const { log, admin } = context;
  const aws = await fargateTestEnvironment({ log: (line) => log(`moto: ${line}`) });
  await aws.server.setTaskTransition({ progression: 'manual', times: 1_000_000 });
  try {
    return await withRun(
      context,
      'fargate',
      size,
      implementation,
      async ({ kubelet, namespace, tracker, frame }) => {
        const names = Array.from({ length: size }, (_, i) => `p-${String(i).padStart(5, '0')}`);
        aws.server.resetApiCalls();
        const t0 = performance.now();
        await pool(names, CREATE_CONCURRENCY, (name) =>
          createPod(admin, tracker, namespace, benchPod(name, kubelet.nodeName)),
        );
        const completed = await tracker.until(
          () => tracker.running.size >= size,
          t0 + context.timeoutMs,
          () => `fargate ${size}: ${tracker.running.size}/${size} Running`,
          log,
        );
        const seconds = ((completed ? Math.max(...tracker.running.values()) : performance.now()) - t0) / 1000;
        const burstCalls = aws.server.apiCalls();
        const cost = await frame.close();

        aws.server.resetApiCalls();
        await delay(HOLD_MS);
        const holdCalls = aws.server.apiCalls();

        aws.server.resetApiCalls();
        const d0 = performance.now();
        await pool(names, DELETE_CONCURRENCY, (name) => deletePod(admin, tracker, namespace, name));
        const gone = await tracker.until(() => tracker.gone.size >= size, d0 + context.timeoutMs);
        const deleteSeconds = (performance.now() - d0) / 1000;
        const deleteCalls = aws.server.apiCalls();

        const direct = await driveDirectly(aws, size);
        const perPod = (calls: Record<string, number>, op: string) => round((calls[`ecs:${op}`] ?? 0) / size, 3);
        const latency = latencies(names, tracker.sent, tracker.running);
        log(
          `fargate ${size}: Running in ${seconds.toFixed(1)} s (direct ${direct.seconds.toFixed(1)} s), ` +
            `p99 ${percentiles(latency).p99.toFixed(0)} ms; per pod RunTask ${perPod(burstCalls, 'RunTask')}, ` +
            `DescribeTasks ${perPod(burstCalls, 'DescribeTasks')}, RegisterTaskDefinition ${perPod(burstCalls, 'RegisterTaskDefinition')}; ` +
            `hold: ${holdCalls['ecs:DescribeTasks'] ?? 0} DescribeTasks in ${HOLD_MS / 1000} s`,
        );
        return [
          goalResult({
            scenario: 'fargate',
            size,
            kubelet,
            frame,
            completed: completed && gone,
            pods: size,
            reached: tracker.running,
            names,
            origin: t0,
            seconds,
            latency,
            latencyLabel: 'create sent → Running and Ready seen by watch (moto answers RUNNING at once)',
            cost,
            extra: {
              runTaskPerPod: perPod(burstCalls, 'RunTask'),
              describeTasksPerPod: perPod(burstCalls, 'DescribeTasks'),
              registerTaskDefinitionPerPod: perPod(burstCalls, 'RegisterTaskDefinition'),
              ecsCallsDuringBurst: sum(burstCalls, 'ecs:'),
              describeTasksPerMinuteHolding: round(((holdCalls['ecs:DescribeTasks'] ?? 0) * 60_000) / HOLD_MS, 1),
              ecsCallsPerMinuteHolding: round((sum(holdCalls, 'ecs:') * 60_000) / HOLD_MS, 1),
              stopTaskPerPod: perPod(deleteCalls, 'StopTask'),
              deregisterTaskDefinitionCalls: deleteCalls['ecs:DeregisterTaskDefinition'] ?? 0,
              deleteSeconds: round(deleteSeconds, 1),
              directRunningSeconds: round(direct.seconds, 2),
              directEcsCalls: direct.calls,
            },
            notes: [
              ...timeoutNotes(context, completed && gone),
              'direct: the same tasks through the SDK alone (1 RegisterTaskDefinition, RunTask 32 in flight, DescribeTasks 100 a call until RUNNING)',
            ],
          }),
        ];
      },
      async (start) => {
        const vk = await VirtualKubeletProcess.start(start.cluster, {
          nodeName: start.nodeName,
          workDir: start.workDir,
          provider: 'fargate',
          providerConfig: aws.providerConfig({ capacity: { ...NODE_CAPACITY } }),
          cli: join(REPO, 'bin', 'virtual-kubelet.js'),
          args: ['--log-level', 'info'],
          env: aws.env,
        });
        adopt(vk.child);
        const pid = vk.child.pid;
        if (pid === undefined) throw new HarnessError('virtual-kubelet did not start');
        return {
          implementation,
          nodeName: start.nodeName,
          pid,
          workDir: start.workDir,
          description: `virtual-kubelet --provider fargate against moto ${aws.server.venv.version} (default provider settings: statusPollInterval 5s, describeTasksPerSecond 10)`,
          servesKubeletApi: true,
          kubeletPort: vk.kubeletPort,
          stop: () => stopChild(vk.child),
        };
      },
    );
  } finally {
    await aws.server.stop();
  }
}

function sum(calls: Record<string, number>, prefix: string): number {
  return Object.entries(calls)
    .filter(([op]) => op.startsWith(prefix))
    .reduce((total, [, n]) => total + n, 0);
}

/** The backend alone: the same N tasks with the SDK, as a script that knows nothing of Kubernetes would. */
async function driveDirectly(
  aws: Awaited<ReturnType<typeof fargateTestEnvironment>>,
  size: number,
): Promise<{ seconds: number; calls: number }> {
  aws.server.resetApiCalls();
  const t0 = performance.now();
  const { taskDefinition } = await aws.ecs.send(
    new RegisterTaskDefinitionCommand({
      family: 'bench-direct',
      requiresCompatibilities: ['FARGATE'],
      networkMode: 'awsvpc',
      cpu: '256',
      memory: '512',
      containerDefinitions: [
        { name: 'app', image: 'registry.invalid/bench:1', essential: true, memoryReservation: 512 },
      ],
    }),
  );
  const arns: string[] = [];
  await pool(
    Array.from({ length: size }, (_, i) => i),
    CREATE_CONCURRENCY,
    async () => {
      const { tasks } = await aws.ecs.send(
        new RunTaskCommand({
          cluster: aws.cluster,
          taskDefinition: taskDefinition?.taskDefinitionArn,
          launchType: 'FARGATE',
          startedBy: 'bench-direct',
          networkConfiguration: { awsvpcConfiguration: { subnets: aws.subnets, securityGroups: aws.securityGroups } },
        }),
      );
      if (tasks?.[0]?.taskArn) arns.push(tasks[0].taskArn);
    },
  );
  for (;;) {
    let running = 0;
    for (let i = 0; i < arns.length; i += 100) {
      const { tasks = [] } = await aws.ecs.send(
        new DescribeTasksCommand({ cluster: aws.cluster, tasks: arns.slice(i, i + 100) }),
      );
      running += tasks.filter((t) => t.lastStatus === 'RUNNING').length;
    }
    if (running >= size) break;
    await delay(100);
  }
  const seconds = (performance.now() - t0) / 1000;
  const calls = sum(aws.server.apiCalls(), 'ecs:');
  const listed = await aws.ecs.send(
    new ListTasksCommand({ cluster: aws.cluster, startedBy: 'bench-direct', desiredStatus: 'RUNNING' }),
  );
  await pool(listed.taskArns ?? [], DELETE_CONCURRENCY, async (task) => {
    await aws.ecs.send(new StopTaskCommand({ cluster: aws.cluster, task }));
  });
  return { seconds, calls };
}
