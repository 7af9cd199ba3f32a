/**
 * A provider in one page: every container runs as a local process (its `command` and `args`,
 * with its resolved environment; the image is ignored). It pushes status as processes start and
 * exit, so pods go Running, then Succeeded or Failed with the real exit code.
 *
 *   node examples/process-provider.ts        # registers node "process-node" with ~/.kube/config
 */
import { type ChildProcess, spawn } from 'node:child_process';
import type { ContainerStatus, Pod, PodStatus } from 'kubernetes-types/core/v1.js';
import { NotFoundError, type PodLifecycleHandler, type PodNotifier, VirtualNode } from '../src/index.ts';

interface Running {
  pod: Pod;
  processes: Map<string, ChildProcess>;
  statuses: Map<string, ContainerStatus>;
}

export class ProcessProvider implements PodLifecycleHandler, PodNotifier {
  readonly #pods = new Map<string, Running>();
  #notify: (pod: Pod) => void = () => {};

  notifyPods(callback: (pod: Pod) => void): void {
    this.#notify = callback;
  }

  async createPod(pod: Pod): Promise<void> {
    const key = `${pod.metadata?.namespace}/${pod.metadata?.name}`;
    const running: Running = { pod, processes: new Map(), statuses: new Map() };
    this.#pods.set(key, running);
    for (const container of pod.spec?.containers ?? []) {
      const [command = 'true', ...args] = [...(container.command ?? []), ...(container.args ?? [])];
      const env = Object.fromEntries((container.env ?? []).map((e) => [e.name, e.value ?? '']));
      const child = spawn(command, args, { env: { PATH: process.env.PATH, ...env }, stdio: 'ignore' });
      const startedAt = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
      running.processes.set(container.name, child);
      running.statuses.set(container.name, {
        name: container.name,
        image: container.image ?? '',
        imageID: '',
        ready: true,
        restartCount: 0,
        state: { running: { startedAt } },
      });
      child.on('exit', (code, signal) => {
        const exitCode = code ?? (signal === 'SIGKILL' ? 137 : 143);
        const finishedAt = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
        running.statuses.set(container.name, {
          name: container.name,
          image: container.image ?? '',
          imageID: '',
          ready: false,
          restartCount: 0,
          state: { terminated: { exitCode, reason: exitCode === 0 ? 'Completed' : 'Error', startedAt, finishedAt } },
        });
        this.#notify({ ...pod, status: this.#status(running) });
      });
    }
    this.#notify({ ...pod, status: this.#status(running) });
  }

  #status(running: Running): PodStatus {
    const containerStatuses = [...running.statuses.values()];
    const exited = containerStatuses.filter((c) => c.state?.terminated);
    const failed = exited.some((c) => c.state?.terminated?.exitCode !== 0);
    const phase = exited.length < containerStatuses.length ? 'Running' : failed ? 'Failed' : 'Succeeded';
    return { phase, podIP: '127.0.0.1', containerStatuses };
  }

  async updatePod(pod: Pod): Promise<void> {
    const running = this.#pods.get(`${pod.metadata?.namespace}/${pod.metadata?.name}`);
    if (running) running.pod = pod;
  }

  async deletePod(pod: Pod): Promise<void> {
    const running = this.#pods.get(`${pod.metadata?.namespace}/${pod.metadata?.name}`);
    if (!running) throw new NotFoundError(`pod ${pod.metadata?.namespace}/${pod.metadata?.name} is not running here`);
    for (const child of running.processes.values()) child.kill('SIGTERM');
  }

  async getPod(namespace: string, name: string): Promise<Pod | undefined> {
    const running = this.#pods.get(`${namespace}/${name}`);
    return running && { ...running.pod, status: this.#status(running) };
  }

  async getPodStatus(namespace: string, name: string): Promise<PodStatus | undefined> {
    const running = this.#pods.get(`${namespace}/${name}`);
    return running && this.#status(running);
  }

  async getPods(): Promise<Pod[]> {
    return [...this.#pods.values()].map((r) => ({ ...r.pod, status: this.#status(r) }));
  }
}

if (import.meta.main) {
  const controller = new AbortController();
  process.once('SIGINT', () => controller.abort());
  const node = new VirtualNode({ nodeName: 'process-node', provider: new ProcessProvider(), providerName: 'process' });
  await node.run(controller.signal);
}
