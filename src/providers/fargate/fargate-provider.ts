/**
 * Pods as ECS tasks on Fargate.
 *
 * - createPod: the pod's task definition (registered once per distinct spec, see
 *   task-definition.ts), then `RunTask` (launch type FARGATE, awsvpc) with the pod's identity as
 *   tags, `startedBy` naming the node and the pod UID as the idempotency token.
 * - Status: one loop calls `DescribeTasks` for every live task, 100 a call, at most
 *   `describeTasksPerSecond` calls a second, every `statusPollInterval` (with jitter; backing
 *   off while ECS fails), and pushes changed statuses to the controller (PodNotifier).
 * - deletePod: `StopTask` with the reason. The pod is forgotten, and its task definition
 *   deregistered when no other pod uses it, once the task is STOPPED.
 * - getPods (at start): ListTasks by `startedBy`, tasks described with their tags, their task
 *   definitions read back: the controller adopts them, so a restart never runs a pod twice.
 * - ping: `DescribeClusters`; a failure (no permission, no cluster, no endpoint) makes the node
 *   NotReady with the AWS error code.
 */

import type { Readable } from 'node:stream';
import {
  DeregisterTaskDefinitionCommand,
  type DeregisterTaskDefinitionCommandOutput,
  DescribeClustersCommand,
  type DescribeClustersCommandOutput,
  DescribeTaskDefinitionCommand,
  type DescribeTaskDefinitionCommandOutput,
  DescribeTasksCommand,
  type DescribeTasksCommandOutput,
  ListTasksCommand,
  type ListTasksCommandOutput,
  RegisterTaskDefinitionCommand,
  type RegisterTaskDefinitionCommandOutput,
  RunTaskCommand,
  type RunTaskCommandOutput,
  StopTaskCommand,
  type StopTaskCommandOutput,
  type Task,
} from '@aws-sdk/client-ecs';
import type { Container, Node, Pod, PodStatus } from 'kubernetes-types/core/v1.js';
import type { Logger } from 'pino';
import { errorMessage, InvalidInputError, NotFoundError, NotImplementedError } from '../../errors.ts';
import {
  type ContainerLogOptions,
  type EventRecorder,
  type Provider,
  type ProviderCallOptions,
  podKey,
} from '../../provider/index.ts';
import { sleep, Wakeup } from '../../util/sleep.ts';
import { type AwsClients, awsErrorCode, awsMessage, ecsError } from './aws-clients.ts';
import type { FargateConfig } from './config.ts';
import { containerLogStream } from './container-logs.ts';
import { type ContainerKind, healthCheckOf, podTaskDefinition } from './task-definition.ts';
import { LABEL_CONTAINER_KIND, podOfTask, podTags, startedByForNode, TAG_NODE, taskId } from './task-identity.ts';
import { isTaskStopped, type ObservedTimes, taskPodStatus } from './task-status.ts';

/** DescribeTasks takes at most 100 tasks a call. */
const DESCRIBE_BATCH = 100;
/** Longest wait between status polls while ECS keeps failing. */
const MAX_POLL_BACKOFF_MS = 60_000;
/** A task DescribeTasks stops returning this many times in a row is gone (ECS forgets stopped tasks after about an hour). */
const MISSING_POLLS_BEFORE_GONE = 2;

export interface FargateProviderOptions {
  config: FargateConfig;
  clients: AwsClients;
  nodeName: string;
  logger: Logger;
  events: EventRecorder;
  /** Ends the status loop (the virtual kubelet stops). */
  signal: AbortSignal;
}

/** What the provider keeps per pod. */
interface PodRecord {
  key: string;
  /** The pod as created: metadata and spec (for getPod and the status mapping). */
  pod: Pod;
  uid: string;
  taskArn: string;
  taskDefinitionArn: string;
  kinds: Record<string, ContainerKind>;
  /** Containers whose probe is the ECS health check. */
  probed: Set<string>;
  task: Task;
  times: ObservedTimes;
  status: PodStatus | undefined;
  statusJson: string;
  deleting: boolean;
  missing: number;
}

export class FargateProvider implements Provider {
  readonly #config: FargateConfig;
  readonly #clients: AwsClients;
  readonly #nodeName: string;
  readonly #startedBy: string;
  readonly #logger: Logger;
  readonly #events: EventRecorder;
  readonly #stop = new AbortController();
  readonly #records = new Map<string, PodRecord>();
  readonly #byTaskArn = new Map<string, PodRecord>();
  /** Registered task definitions by family: identical pods share one. */
  readonly #families = new Map<string, Promise<string>>();
  /** Pods per task definition ARN; the last one to go deregisters it. */
  readonly #references = new Map<string, number>();
  readonly #wakeup = new Wakeup();
  #notify: ((pod: Pod) => void) | undefined;

  constructor(options: FargateProviderOptions) {
    this.#config = options.config;
    this.#clients = options.clients;
    this.#nodeName = options.nodeName;
    this.#startedBy = startedByForNode(options.nodeName);
    this.#logger = options.logger;
    this.#events = options.events;
    if (options.signal.aborted) this.#stop.abort();
    options.signal.addEventListener('abort', () => this.#stop.abort(), { once: true });
    void this.#pollLoop(this.#stop.signal);
  }

  // --- node ---------------------------------------------------------------------------------

  /** One ECS call, aborted with `signal`. */
  #send<Output extends object>(command: { input: object }, signal?: AbortSignal): Promise<Output> {
    // The SDK types each command against its own client; every command here is an ECS one.
    const send = this.#clients.ecs.send.bind(this.#clients.ecs) as unknown as (
      c: unknown,
      o: object,
    ) => Promise<Output>;
    return send(command, signal ? { abortSignal: signal } : {});
  }

  configureNode(node: Node): void {
    const capacity = { ...this.#config.capacity };
    node.metadata = {
      ...node.metadata,
      labels: {
        ...node.metadata?.labels,
        'node.kubernetes.io/instance-type': 'fargate',
        'kubernetes.io/arch': this.#config.cpuArchitecture === 'ARM64' ? 'arm64' : 'amd64',
        ...(this.#config.region ? { 'topology.kubernetes.io/region': this.#config.region } : {}),
      },
    };
    Object.assign(node, { status: { ...node.status, capacity: { ...capacity }, allocatable: { ...capacity } } });
  }

  async ping(options: ProviderCallOptions): Promise<void> {
    let output: DescribeClustersCommandOutput;
    try {
      output = await this.#send<DescribeClustersCommandOutput>(
        new DescribeClustersCommand({ clusters: [this.#config.cluster] }),
        options.signal,
      );
    } catch (error) {
      const why = options.signal.aborted ? 'no answer in time (is the ECS endpoint reachable?)' : awsMessage(error);
      throw new Error(`ECS DescribeClusters ${this.#config.cluster}: ${why}`, { cause: error });
    }
    const status = output.clusters?.[0]?.status;
    if (status !== 'ACTIVE') {
      const why = output.failures?.[0]?.reason ?? status ?? 'not found';
      throw new Error(`ECS cluster ${this.#config.cluster} is not usable: ${why}`);
    }
  }

  notifyNodeStatus(_callback: (node: Node) => void): void {}

  notifyPods(callback: (pod: Pod) => void): void {
    this.#notify = callback;
  }

  // --- pods ---------------------------------------------------------------------------------

  async createPod(pod: Pod, options: ProviderCallOptions): Promise<void> {
    const namespace = pod.metadata?.namespace ?? '';
    const name = pod.metadata?.name ?? '';
    const uid = pod.metadata?.uid ?? '';
    const key = podKey(namespace, name);
    const existing = this.#records.get(key);
    if (existing && existing.uid === uid && !existing.deleting) return; // already running (adopted or created)
    const definition = podTaskDefinition(pod, {
      nodeName: this.#nodeName,
      cpuArchitecture: this.#config.cpuArchitecture,
      executionRoleArn: this.#config.executionRoleArn,
      taskRoleArn: this.#config.taskRoleArn,
      logGroup: this.#config.logGroup,
      logStreamPrefix: this.#config.logStreamPrefix,
      region: this.#config.region ?? (await this.#clients.ecs.config.region()),
    });
    this.#warnAboutProbes(pod);
    const taskDefinitionArn = await this.#taskDefinition(definition.input, options.signal);
    this.#reference(taskDefinitionArn, +1);
    let task: Task | undefined;
    try {
      const output = await this.#send<RunTaskCommandOutput>(
        new RunTaskCommand({
          cluster: this.#config.cluster,
          taskDefinition: taskDefinitionArn,
          launchType: 'FARGATE',
          platformVersion: this.#config.platformVersion,
          count: 1,
          networkConfiguration: {
            awsvpcConfiguration: {
              subnets: this.#config.subnets,
              ...(this.#config.securityGroups.length > 0 ? { securityGroups: this.#config.securityGroups } : {}),
              assignPublicIp: this.#config.assignPublicIp ? 'ENABLED' : 'DISABLED',
            },
          },
          startedBy: this.#startedBy,
          tags: podTags({ namespace, name, uid }, this.#nodeName, this.#config.tags),
          // ECS runs one task per token: a retried RunTask (a timeout, our restart) does not run a second.
          clientToken: uid.slice(0, 64) || undefined,
        }),
        options.signal,
      );
      task = output.tasks?.[0];
      if (!task?.taskArn) {
        const failure = output.failures?.[0];
        throw new Error(
          `RunTask ran no task: ${[failure?.reason, failure?.detail].filter(Boolean).join(': ') || 'no reason given'}`,
        );
      }
    } catch (error) {
      this.#reference(taskDefinitionArn, -1);
      if (error instanceof Error && error.message.startsWith('RunTask ran no task')) throw error;
      throw ecsError('RunTask', error);
    }
    const record: PodRecord = {
      key,
      pod: { metadata: { ...pod.metadata }, spec: pod.spec },
      uid,
      taskArn: task.taskArn ?? '',
      taskDefinitionArn,
      kinds: definition.kinds,
      probed: new Set(
        (definition.input.containerDefinitions ?? []).filter((c) => c.healthCheck).map((c) => c.name ?? ''),
      ),
      task,
      times: { createdAt: new Date() },
      status: undefined,
      statusJson: '',
      deleting: false,
      missing: 0,
    };
    this.#records.set(key, record);
    this.#byTaskArn.set(record.taskArn, record);
    this.#logger.info(
      { pod: key, task: record.taskArn, size: `${definition.input.cpu}/${definition.input.memory}` },
      'task started',
    );
    this.#updateTask(record, task);
  }

  /** Probes ECS cannot run (httpGet, tcpSocket, grpc) are not silently dropped: the pod gets a warning. */
  #warnAboutProbes(pod: Pod): void {
    const containers: Container[] = [...(pod.spec?.initContainers ?? []), ...(pod.spec?.containers ?? [])];
    for (const container of containers) {
      for (const [what, probe] of [
        ['liveness', container.livenessProbe],
        ['readiness', container.readinessProbe],
        ['startup', container.startupProbe],
      ] as const) {
        if (probe && !healthCheckOf(probe)) {
          this.#events.record(
            pod,
            'Warning',
            'ProbeNotSupported',
            `container ${container.name}: the ${what} probe is not run: Fargate health checks run commands only (exec probes)`,
          );
        }
      }
    }
  }

  async #taskDefinition(input: ReturnType<typeof podTaskDefinition>['input'], signal: AbortSignal): Promise<string> {
    const cached = this.#families.get(input.family);
    if (cached) return cached;
    const registering = (async () => {
      try {
        const output = await this.#send<RegisterTaskDefinitionCommandOutput>(
          new RegisterTaskDefinitionCommand({
            ...input,
            tags: [
              { key: TAG_NODE, value: this.#nodeName },
              ...Object.entries(this.#config.tags).map(([key, value]) => ({ key, value })),
            ],
          }),
          signal,
        );
        const arn = output.taskDefinition?.taskDefinitionArn;
        if (!arn) throw new Error('RegisterTaskDefinition answered no ARN');
        return arn;
      } catch (error) {
        this.#families.delete(input.family);
        throw ecsError('RegisterTaskDefinition', error);
      }
    })();
    this.#families.set(input.family, registering);
    return registering;
  }

  #reference(arn: string, delta: number): void {
    const count = (this.#references.get(arn) ?? 0) + delta;
    if (count > 0) {
      this.#references.set(arn, count);
      return;
    }
    this.#references.delete(arn);
    const family = arn.slice(arn.lastIndexOf('/') + 1).split(':')[0] ?? '';
    const cached = this.#families.get(family);
    this.#families.delete(family);
    void (async () => {
      // A family registering right now for a new pod is kept; otherwise the revision goes.
      if (cached && (await cached.catch(() => undefined)) !== arn) return;
      try {
        await this.#send<DeregisterTaskDefinitionCommandOutput>(
          new DeregisterTaskDefinitionCommand({ taskDefinition: arn }),
        );
        this.#logger.debug({ taskDefinition: arn }, 'task definition deregistered');
      } catch (error) {
        this.#logger.warn(
          { taskDefinition: arn, err: awsMessage(error) },
          'could not deregister an unused task definition',
        );
      }
    })();
  }

  async updatePod(pod: Pod, _options: ProviderCallOptions): Promise<void> {
    const record = this.#records.get(podKey(pod.metadata?.namespace ?? '', pod.metadata?.name ?? ''));
    if (!record)
      throw new NotFoundError(`pod ${pod.metadata?.namespace}/${pod.metadata?.name} is not running on Fargate`);
    const images = (p: Pod) => (p.spec?.containers ?? []).map((c) => c.image).join(',');
    if (images(pod) !== images(record.pod)) {
      this.#events.record(
        pod,
        'Warning',
        'ImageChangeNotApplied',
        'a Fargate task cannot change its images; delete the pod (or roll its Deployment) to run the new ones',
      );
    }
    record.pod = { metadata: { ...pod.metadata }, spec: record.pod.spec };
  }

  async deletePod(pod: Pod, options: ProviderCallOptions): Promise<void> {
    const key = podKey(pod.metadata?.namespace ?? '', pod.metadata?.name ?? '');
    const record = this.#records.get(key);
    const uid = pod.metadata?.uid;
    if (!record || (uid && record.uid !== uid)) throw new NotFoundError(`pod ${key} has no Fargate task`);
    record.deleting = true;
    if (isTaskStopped(record.task)) {
      this.#forget(record);
      return;
    }
    try {
      const output = await this.#send<StopTaskCommandOutput>(
        new StopTaskCommand({
          cluster: this.#config.cluster,
          task: record.taskArn,
          reason: `pod ${key} deleted (virtual-kubelet node ${this.#nodeName})`.slice(0, 255),
        }),
        options.signal,
      );
      this.#logger.info({ pod: key, task: record.taskArn }, 'task stopping');
      if (output.task) this.#updateTask(record, output.task);
    } catch (error) {
      if (awsErrorCode(error) === 'InvalidParameterException' && /not found/i.test(errorMessage(error))) {
        this.#updateTask(record, {
          ...record.task,
          lastStatus: 'STOPPED',
          stoppedReason: 'the task no longer exists in ECS',
        });
        return;
      }
      throw ecsError('StopTask', error);
    }
  }

  async getPod(namespace: string, name: string, _options: ProviderCallOptions): Promise<Pod | undefined> {
    const record = this.#records.get(podKey(namespace, name));
    if (!record) return undefined;
    return { ...record.pod, ...(record.status ? { status: record.status } : {}) };
  }

  async getPodStatus(namespace: string, name: string, _options: ProviderCallOptions): Promise<PodStatus | undefined> {
    return this.#records.get(podKey(namespace, name))?.status;
  }

  /** The tasks this node started (running, and stopped ones ECS still remembers), as pods. */
  async getPods(options: ProviderCallOptions): Promise<Pod[]> {
    const arns: string[] = [];
    for (const desiredStatus of ['RUNNING', 'STOPPED'] as const) {
      let nextToken: string | undefined;
      do {
        const output = await this.#send<ListTasksCommandOutput>(
          new ListTasksCommand({ cluster: this.#config.cluster, startedBy: this.#startedBy, desiredStatus, nextToken }),
          options.signal,
        ).catch((error) => {
          throw ecsError('ListTasks', error);
        });
        arns.push(...(output.taskArns ?? []));
        nextToken = output.nextToken;
      } while (nextToken);
    }
    // The newest task of each pod, a live one before a stopped one.
    const chosen = new Map<string, { task: Task; identity: { namespace: string; name: string; uid: string } }>();
    for (const task of await this.#describe([...new Set(arns)], true, options.signal)) {
      const identity = podOfTask(task.tags, this.#nodeName);
      if (!identity) continue;
      const key = podKey(identity.namespace, identity.name);
      const previous = chosen.get(key);
      const better =
        !previous ||
        (isTaskStopped(previous.task) && !isTaskStopped(task)) ||
        (isTaskStopped(previous.task) === isTaskStopped(task) &&
          (task.createdAt?.getTime() ?? 0) > (previous.task.createdAt?.getTime() ?? 0));
      if (better) chosen.set(key, { task, identity });
    }
    const definitions = new Map<string, Promise<AdoptedDefinition | undefined>>();
    const pods: Pod[] = [];
    for (const [key, { task, identity }] of chosen) {
      if (this.#records.has(key)) continue;
      const arn = task.taskDefinitionArn ?? '';
      if (!definitions.has(arn)) definitions.set(arn, this.#readDefinition(arn, options.signal));
      const definition = await definitions.get(arn);
      if (!definition) continue;
      const record: PodRecord = {
        key,
        pod: {
          metadata: { namespace: identity.namespace, name: identity.name, uid: identity.uid },
          spec: {
            containers: definition.containers,
            ...(definition.initContainers.length > 0 ? { initContainers: definition.initContainers } : {}),
          },
        },
        uid: identity.uid,
        taskArn: task.taskArn ?? '',
        taskDefinitionArn: arn,
        kinds: definition.kinds,
        probed: definition.probed,
        task,
        times: {
          createdAt: task.createdAt ?? new Date(),
          ...(isTaskStopped(task) ? {} : { runningAt: task.startedAt }),
        },
        status: undefined,
        statusJson: '',
        deleting: false,
        missing: 0,
      };
      this.#records.set(key, record);
      this.#byTaskArn.set(record.taskArn, record);
      this.#reference(arn, +1);
      // The family serves new identical pods too.
      const family = arn.slice(arn.lastIndexOf('/') + 1).split(':')[0] ?? '';
      if (!this.#families.has(family)) this.#families.set(family, Promise.resolve(arn));
      this.#updateTask(record, task, false);
      pods.push({ ...record.pod, ...(record.status ? { status: record.status } : {}) });
    }
    if (pods.length > 0) this.#logger.info({ count: pods.length }, 'found tasks of this node to adopt');
    return pods;
  }

  /** A task definition read back at adoption: the containers and their kinds. */
  async #readDefinition(arn: string, signal: AbortSignal): Promise<AdoptedDefinition | undefined> {
    try {
      const output = await this.#send<DescribeTaskDefinitionCommandOutput>(
        new DescribeTaskDefinitionCommand({ taskDefinition: arn }),
        signal,
      );
      const adopted: AdoptedDefinition = { containers: [], initContainers: [], kinds: {}, probed: new Set() };
      for (const c of output.taskDefinition?.containerDefinitions ?? []) {
        const name = c.name ?? '';
        const kind = (c.dockerLabels?.[LABEL_CONTAINER_KIND] ?? 'app') as ContainerKind;
        adopted.kinds[name] = kind;
        if (c.healthCheck) adopted.probed.add(name);
        const container: Container = { name, image: c.image ?? '' };
        if (kind === 'app') adopted.containers.push(container);
        else adopted.initContainers.push(kind === 'sidecar' ? { ...container, restartPolicy: 'Always' } : container);
      }
      return adopted;
    } catch (error) {
      this.#logger.warn(
        { taskDefinition: arn, err: awsMessage(error) },
        'cannot read the task definition of a task to adopt',
      );
      return undefined;
    }
  }

  // --- status -------------------------------------------------------------------------------

  /** DescribeTasks in batches of 100, paced to `describeTasksPerSecond`. */
  async #describe(arns: string[], withTags: boolean, signal: AbortSignal): Promise<Task[]> {
    const tasks: Task[] = [];
    for (let i = 0; i < arns.length; i += DESCRIBE_BATCH) {
      if (i > 0) await sleep(1000 / this.#config.describeTasksPerSecond, signal);
      signal.throwIfAborted();
      const batch = arns.slice(i, i + DESCRIBE_BATCH);
      const output = await this.#send<DescribeTasksCommandOutput>(
        new DescribeTasksCommand({
          cluster: this.#config.cluster,
          tasks: batch,
          ...(withTags ? { include: ['TAGS'] } : {}),
        }),
        signal,
      ).catch((error) => {
        throw ecsError('DescribeTasks', error);
      });
      tasks.push(...(output.tasks ?? []));
    }
    return tasks;
  }

  async #pollLoop(signal: AbortSignal): Promise<void> {
    let failures = 0;
    while (!signal.aborted) {
      const live = [...this.#records.values()].filter((r) => !isTaskStopped(r.task));
      const batches = Math.ceil(live.length / DESCRIBE_BATCH);
      let interval = Math.max(
        this.#config.statusPollIntervalMs,
        (batches * 1000) / this.#config.describeTasksPerSecond,
      );
      if (live.length > 0) {
        try {
          const seen = new Set<string>();
          for (const task of await this.#describe(
            live.map((r) => r.taskArn),
            false,
            signal,
          )) {
            const record = this.#byTaskArn.get(task.taskArn ?? '');
            if (!record) continue;
            seen.add(record.taskArn);
            record.missing = 0;
            this.#updateTask(record, task);
          }
          for (const record of live) {
            if (seen.has(record.taskArn) || this.#byTaskArn.get(record.taskArn) !== record) continue;
            if (++record.missing >= MISSING_POLLS_BEFORE_GONE) {
              this.#updateTask(record, {
                ...record.task,
                lastStatus: 'STOPPED',
                stoppedReason: 'the task no longer exists in ECS',
              });
            }
          }
          failures = 0;
        } catch (error) {
          if (signal.aborted) return;
          failures++;
          interval = Math.min(MAX_POLL_BACKOFF_MS, interval * 2 ** Math.min(failures, 6));
          const level = (failures & (failures - 1)) === 0 ? 'warn' : 'debug';
          this.#logger[level]({ err: errorMessage(error), failures }, 'task status poll failed');
        }
      }
      // ±10 % jitter, so that many virtual kubelets do not poll in step.
      await this.#wakeup.wait(interval * (0.9 + Math.random() * 0.2), signal);
    }
  }

  /** Takes a new view of the pod's task; pushes the status when it changed; forgets a deleted pod once its task stopped. */
  #updateTask(record: PodRecord, task: Task, notify = true): void {
    record.task = task;
    const now = new Date();
    if (
      !record.times.runningAt &&
      task.lastStatus &&
      !['PROVISIONING', 'PENDING', 'ACTIVATING', 'STOPPED'].includes(task.lastStatus)
    ) {
      record.times.runningAt = now;
    }
    if (isTaskStopped(task) && !record.times.stoppedAt) record.times.stoppedAt = now;
    const status = taskPodStatus(record.pod, task, record.kinds, record.probed, record.times);
    const json = JSON.stringify(status);
    if (json !== record.statusJson) {
      record.status = status;
      record.statusJson = json;
      if (notify) this.#notify?.({ metadata: { ...record.pod.metadata }, status });
    }
    if (isTaskStopped(task) && record.deleting) this.#forget(record);
  }

  #forget(record: PodRecord): void {
    if (this.#records.get(record.key) !== record) return;
    this.#records.delete(record.key);
    this.#byTaskArn.delete(record.taskArn);
    this.#reference(record.taskDefinitionArn, -1);
  }

  // --- logs ---------------------------------------------------------------------------------

  async getContainerLogs(
    namespace: string,
    podName: string,
    containerName: string,
    logOptions: ContainerLogOptions,
    options: ProviderCallOptions,
  ): Promise<Readable> {
    const key = podKey(namespace, podName);
    const record = this.#records.get(key);
    if (!record) throw new NotFoundError(`pod ${key} has no Fargate task`);
    if (!record.kinds[containerName]) throw new NotFoundError(`container "${containerName}" not found in pod ${key}`);
    if (logOptions.previous) {
      throw new InvalidInputError(
        `previous terminated container "${containerName}" in pod ${key} not found: Fargate does not restart containers`,
      );
    }
    const group = this.#config.logGroup;
    if (!group) {
      throw new NotImplementedError(
        `the Fargate provider of node ${this.#nodeName} has no logGroup in its config, so containers log nowhere`,
      );
    }
    return containerLogStream(
      {
        logs: this.#clients.logs,
        group,
        stream: `${this.#config.logStreamPrefix}/${containerName}/${taskId(record.taskArn)}`,
      },
      logOptions,
      {
        pollIntervalMs: this.#config.logPollIntervalMs,
        stopped: () => isTaskStopped(record.task) || this.#records.get(key) !== record,
      },
      options.signal,
    );
  }

  // --- what Fargate cannot do here ---------------------------------------------------------

  /**
   * `kubectl exec` and `attach` would go through ECS Exec, which speaks AWS's SSM session protocol
   * over a WebSocket. It is not implemented: nothing here can test it (moto has no ExecuteCommand),
   * and untested protocol code is not shipped. The kubelet API answers 501 with this message.
   */
  async runInContainer(namespace: string, podName: string): Promise<number> {
    throw new NotImplementedError(
      `kubectl exec is not supported on Fargate pod ${podKey(namespace, podName)}: it needs ECS Exec (the SSM session protocol), which this provider does not implement`,
    );
  }

  async attachToContainer(namespace: string, podName: string): Promise<number> {
    throw new NotImplementedError(
      `kubectl attach is not supported on Fargate pod ${podKey(namespace, podName)}: it needs ECS Exec (the SSM session protocol), which this provider does not implement`,
    );
  }

  close(): void {
    this.#stop.abort();
    this.#clients.ecs.destroy();
    this.#clients.logs.destroy();
  }
}

interface AdoptedDefinition {
  containers: Container[];
  initContainers: Container[];
  kinds: Record<string, ContainerKind>;
  probed: Set<string>;
}
