/**
 * A provider in one page: every container runs as a local process (its `command` and `args`, with
 * its resolved environment; the image is ignored). It pushes status as processes start and exit,
 * so pods go Running, then Succeeded or Failed with the real exit code; it keeps each container's
 * output for `kubectl logs` (with every option, `-f` included) and runs `kubectl exec` commands as
 * processes with the container's environment.
 *
 *   node examples/process-provider.ts        # registers node "process-node" with ~/.kube/config
 *
 * Outside this repository the imports come from the package: `from 'virtual-kubelet'`.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { PassThrough, type Readable } from 'node:stream';
import type { Container, ContainerStatus, Pod, PodStatus } from 'kubernetes-types/core/v1.js';
import {
  type AttachIO,
  applyLogOptions,
  type ContainerExecProvider,
  type ContainerLogOptions,
  type ContainerLogsProvider,
  formatLogLine,
  gracePeriodSeconds,
  InvalidInputError,
  kubeTime,
  type LogEntry,
  NotFoundError,
  type PodLifecycleHandler,
  type PodNotifier,
  podKey,
  VirtualNode,
} from '../src/index.ts';

/** Lines kept per container: enough for `kubectl logs`, bounded so a chatty process cannot fill memory. */
const MAX_LOG_LINES = 10_000;

interface ContainerProcess {
  spec: Container;
  child: ChildProcess;
  status: ContainerStatus;
  logs: LogEntry[];
  /** `kubectl logs -f` clients waiting for new lines, with their options (timestamps or not). */
  followers: Map<PassThrough, ContainerLogOptions>;
}

interface Running {
  pod: Pod;
  containers: Map<string, ContainerProcess>;
  deleting: boolean;
}

export class ProcessProvider implements PodLifecycleHandler, PodNotifier, ContainerLogsProvider, ContainerExecProvider {
  readonly #pods = new Map<string, Running>();
  #notify: (pod: Pod) => void = () => {};

  notifyPods(callback: (pod: Pod) => void): void {
    this.#notify = callback;
  }

  async createPod(pod: Pod): Promise<void> {
    const running: Running = { pod, containers: new Map(), deleting: false };
    this.#pods.set(podKey(pod.metadata?.namespace ?? '', pod.metadata?.name ?? ''), running);
    for (const container of pod.spec?.containers ?? []) this.#start(running, container);
    this.#push(running);
  }

  #start(running: Running, container: Container): void {
    const [command = 'true', ...args] = [...(container.command ?? []), ...(container.args ?? [])];
    const child = spawn(command, args, { env: environment(container), stdio: ['ignore', 'pipe', 'pipe'] });
    const startedAt = kubeTime();
    const state: ContainerProcess = {
      spec: container,
      child,
      logs: [],
      followers: new Map(),
      status: { name: container.name, image: container.image ?? '', imageID: '', ready: true, restartCount: 0 },
    };
    state.status.state = { running: { startedAt } };
    running.containers.set(container.name, state);
    for (const output of [child.stdout, child.stderr]) {
      createInterface({ input: output as Readable }).on('line', (text) => {
        const entry = { time: new Date(), text };
        state.logs.push(entry);
        if (state.logs.length > MAX_LOG_LINES) state.logs.shift();
        for (const [follower, options] of state.followers) follower.write(formatLogLine(entry, options));
      });
    }
    child.once('error', (error) => state.logs.push({ time: new Date(), text: `cannot start ${command}: ${error}` }));
    child.once('close', (code, signal) => {
      const exitCode = code ?? (signal === 'SIGKILL' ? 137 : 143);
      state.status = {
        ...state.status,
        ready: false,
        state: {
          terminated: { exitCode, reason: exitCode === 0 ? 'Completed' : 'Error', startedAt, finishedAt: kubeTime() },
        },
      };
      for (const follower of state.followers.keys()) follower.end();
      this.#push(running);
      // A deleted pod is forgotten once its last process is gone; its final status went out above.
      if (
        running.deleting &&
        [...running.containers.values()].every((c) => c.child.exitCode !== null || c.child.signalCode)
      ) {
        this.#pods.delete(podKey(running.pod.metadata?.namespace ?? '', running.pod.metadata?.name ?? ''));
      }
    });
  }

  #push(running: Running): void {
    this.#notify({ ...running.pod, status: status(running) });
  }

  async updatePod(pod: Pod): Promise<void> {
    const running = this.#pods.get(podKey(pod.metadata?.namespace ?? '', pod.metadata?.name ?? ''));
    if (running) running.pod = pod;
  }

  /** SIGTERM now, SIGKILL when the grace period is over (as a kubelet does). */
  async deletePod(pod: Pod): Promise<void> {
    const key = podKey(pod.metadata?.namespace ?? '', pod.metadata?.name ?? '');
    const running = this.#pods.get(key);
    if (!running) throw new NotFoundError(`pod ${key} is not running here`);
    running.deleting = true;
    const alive = [...running.containers.values()].filter((c) => c.child.exitCode === null && !c.child.signalCode);
    if (alive.length === 0) this.#pods.delete(key);
    for (const { child } of alive) {
      child.kill('SIGTERM');
      setTimeout(() => child.kill('SIGKILL'), gracePeriodSeconds(pod) * 1000).unref();
    }
  }

  async getPod(namespace: string, name: string): Promise<Pod | undefined> {
    const running = this.#pods.get(podKey(namespace, name));
    return running && { ...running.pod, status: status(running) };
  }

  async getPodStatus(namespace: string, name: string): Promise<PodStatus | undefined> {
    const running = this.#pods.get(podKey(namespace, name));
    return running && status(running);
  }

  async getPods(): Promise<Pod[]> {
    return [...this.#pods.values()].map((r) => ({ ...r.pod, status: status(r) }));
  }

  async getContainerLogs(
    namespace: string,
    name: string,
    container: string,
    options: ContainerLogOptions,
  ): Promise<Readable> {
    const state = this.#container(namespace, name, container);
    if (options.previous) throw new InvalidInputError(`container ${container} has no previous instance`);
    const written = applyLogOptions(state.logs, options);
    if (!options.follow || state.child.exitCode !== null) return PassThrough.from([written]);
    const stream = new PassThrough();
    stream.write(written);
    state.followers.set(stream, options);
    stream.once('close', () => state.followers.delete(stream));
    return stream;
  }

  /** The command runs as a process with the container's environment; there is no terminal (a TTY needs a pty). */
  async runInContainer(
    namespace: string,
    name: string,
    container: string,
    command: string[],
    io: AttachIO,
  ): Promise<number> {
    const { spec } = this.#container(namespace, name, container);
    if (command.length === 0) throw new InvalidInputError('no command given');
    const child = spawn(command[0] as string, command.slice(1), { env: environment(spec) });
    if (io.stdin) io.stdin.pipe(child.stdin);
    else child.stdin.end();
    child.stdout.pipe(io.stdout ?? new PassThrough().resume(), { end: false });
    child.stderr.pipe(io.stderr ?? io.stdout ?? new PassThrough().resume(), { end: false });
    return new Promise((resolve, reject) => {
      child.once('error', (error) => reject(new InvalidInputError(`cannot run ${command[0]}: ${error.message}`)));
      child.once('close', (code, signal) => resolve(code ?? (signal === 'SIGKILL' ? 137 : 143)));
    });
  }

  #container(namespace: string, name: string, container: string): ContainerProcess {
    const state = this.#pods.get(podKey(namespace, name))?.containers.get(container);
    if (!state) throw new NotFoundError(`container ${container} of pod ${podKey(namespace, name)} is not running here`);
    return state;
  }
}

function environment(container: Container): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH, ...Object.fromEntries((container.env ?? []).map((e) => [e.name, e.value ?? ''])) };
}

/** Only phase, IP and container statuses: the controller completes the rest (conditions, hostIP, startTime). */
function status(running: Running): PodStatus {
  const containerStatuses = [...running.containers.values()].map((c) => c.status);
  const exited = containerStatuses.filter((c) => c.state?.terminated);
  const failed = exited.some((c) => c.state?.terminated?.exitCode !== 0);
  const phase = exited.length < containerStatuses.length ? 'Running' : failed ? 'Failed' : 'Succeeded';
  return { phase, podIP: '127.0.0.1', containerStatuses };
}

if (import.meta.main) {
  const controller = new AbortController();
  process.once('SIGINT', () => controller.abort());
  const node = new VirtualNode({ nodeName: 'process-node', provider: new ProcessProvider(), providerName: 'process' });
  await node.run(controller.signal);
}
