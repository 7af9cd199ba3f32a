/**
 * The pod runtime's {@link PodmanBackend}, on the libpod REST client: the adapter between what
 * the runtime thinks in (pods, containers, exits, lines) and Podman's API shapes.
 */
import type { Duplex } from 'node:stream';
import { isNotFound } from '../../errors.ts';
import type { ContainerCreateSpec as ApiContainerSpec } from './api/containers.ts';
import type { ContainerCreateSpec, ImageConfig } from './container-spec.ts';
import type { PodmanClient } from './podman-client.ts';
import type {
  ContainerEvent,
  ContainerInfo,
  ContainerUsage,
  ExecIO,
  LogLine,
  LogQuery,
  PodInfo,
  PodmanBackend,
  RegistryAuth,
} from './runtime-api.ts';

export class ClientBackend implements PodmanBackend {
  readonly #client: PodmanClient;

  constructor(client: PodmanClient) {
    this.#client = client;
  }

  ping(signal?: AbortSignal): Promise<void> {
    return this.#client.ping(signal);
  }

  async hostInfo(signal?: AbortSignal) {
    const info = await this.#client.info(signal);
    return {
      cpus: info.cpus,
      memoryBytes: info.memTotal,
      kernel: info.kernel,
      os: info.distribution,
      version: info.version,
      cgroupControllers: info.cgroupControllers,
    };
  }

  imageExists(reference: string, signal?: AbortSignal): Promise<boolean> {
    return this.#client.imageExists(reference, signal);
  }

  async pullImage(
    reference: string,
    options: { auth?: RegistryAuth | undefined; tlsVerify: boolean; signal?: AbortSignal },
  ): Promise<void> {
    const auth = options.auth;
    await this.#client.pullImage(reference, {
      tlsVerify: options.tlsVerify,
      ...(auth?.identityToken
        ? { auth: { identityToken: auth.identityToken } }
        : auth?.username !== undefined
          ? {
              auth: {
                username: auth.username,
                password: auth.password ?? '',
                ...(auth.serverAddress ? { serverAddress: auth.serverAddress } : {}),
              },
            }
          : {}),
      ...(options.signal ? { signal: options.signal } : {}),
    });
  }

  async imageConfig(reference: string, signal?: AbortSignal): Promise<ImageConfig & { id: string }> {
    const image = await this.#client.inspectImage(reference, signal);
    return {
      id: image.id,
      entrypoint: image.entrypoint,
      cmd: image.cmd,
      workingDir: image.workingDir,
      user: image.user,
      ...(image.stopSignal ? { stopSignal: image.stopSignal } : {}),
    };
  }

  createPod(
    spec: { name: string; labels: Record<string, string>; hostname: string; network?: string | undefined },
    signal?: AbortSignal,
  ): Promise<string> {
    return this.#client.createPod(
      {
        name: spec.name,
        labels: spec.labels,
        hostname: spec.hostname,
        ...(spec.network ? { networks: [spec.network] } : {}),
      },
      signal,
    );
  }

  async startPod(name: string, signal?: AbortSignal): Promise<void> {
    await this.#client.startPod(name, signal);
  }

  async removePod(name: string, signal?: AbortSignal): Promise<void> {
    try {
      await this.#client.removePod(name, true, { signal, timeoutSeconds: 0 });
    } catch (error) {
      if (!isNotFound(error)) throw error;
    }
  }

  async inspectPod(name: string, signal?: AbortSignal): Promise<PodInfo> {
    const pod = await this.#client.inspectPod(name, signal);
    const ip = await this.#client.podIP(name, signal);
    return {
      id: pod.id,
      name: pod.name,
      labels: pod.labels,
      ips: ip ? [ip] : [],
      containers: pod.containers.map((c) => ({ id: c.id, name: c.name })),
    };
  }

  async listPods(labels: Record<string, string>, signal?: AbortSignal): Promise<PodInfo[]> {
    const pods = await this.#client.listPods({ labelFilters: labels, signal });
    return pods.map((p) => ({
      id: p.id,
      name: p.name,
      labels: p.labels,
      ips: [],
      containers: p.containers.map((c) => ({ id: c.id, name: c.name })),
    }));
  }

  createContainer(spec: ContainerCreateSpec, signal?: AbortSignal): Promise<string> {
    return this.#client.createContainer(spec as unknown as ApiContainerSpec, signal);
  }

  startContainer(id: string, signal?: AbortSignal): Promise<void> {
    return this.#client.startContainer(id, signal);
  }

  async stopContainer(id: string, timeoutSeconds: number, signal?: AbortSignal): Promise<void> {
    await this.#client.stopContainer(id, timeoutSeconds, signal);
  }

  async removeContainer(id: string, signal?: AbortSignal): Promise<void> {
    await this.#client.removeContainer(id, { force: true, signal });
  }

  async inspectContainer(id: string, signal?: AbortSignal): Promise<ContainerInfo> {
    const c = await this.#client.inspectContainer(id, signal);
    return {
      id: c.id,
      name: c.name,
      status: c.state.status,
      running: c.state.running,
      exitCode: c.state.exitCode,
      oomKilled: c.state.oomKilled,
      startedAt: c.state.startedAt,
      finishedAt: c.state.finishedAt,
      error: c.state.error,
      image: c.image,
      imageID: c.imageId,
      labels: c.labels,
    };
  }

  async listContainers(labels: Record<string, string>, signal?: AbortSignal): Promise<ContainerInfo[]> {
    const list = await this.#client.listContainers({ all: true, labelFilters: labels, signal });
    return list.map((c) => ({
      id: c.id,
      name: c.name,
      status: c.state,
      running: c.state === 'running',
      exitCode: c.exitCode,
      oomKilled: false,
      startedAt: c.startedAt,
      finishedAt: c.exitedAt,
      error: '',
      image: c.image,
      imageID: c.imageId,
      labels: c.labels,
    }));
  }

  exec(
    id: string,
    command: string[],
    io: ExecIO,
    options: { signal: AbortSignal; onResize?: (resize: (width: number, height: number) => void) => void },
  ): Promise<number> {
    // The first size usually comes before the session exists: it goes with the start request.
    // Podman resizes a session only while its process runs, and a loaded machine may take
    // seconds from the start request to a running process, so a size that arrives in between
    // is tried again, with backoff, until it is taken or the session ends; and the latest size
    // is sent once more when the process first writes (by then it runs).
    let size: { h: number; w: number } | undefined;
    let session: string | undefined;
    let ended = false;
    const resize = (attempt: number): void => {
      const wanted = size;
      if (!session || !wanted || ended || options.signal.aborted) return;
      this.#client.execResize(session, wanted).catch(() => {
        const delay = Math.min(50 * 2 ** attempt, 1000);
        if (size === wanted) setTimeout(() => resize(attempt + 1), delay).unref();
      });
    };
    options.onResize?.((width, height) => {
      size = { h: height, w: width };
      resize(0);
    });
    const sent = size;
    return this.#client
      .exec(id, {
        cmd: command,
        tty: io.tty,
        io: {
          stdin: io.stdin,
          stdout: io.stdout,
          stderr: io.stderr,
          ...(io.tty ? { onFirstOutput: () => resize(0) } : {}),
        },
        ...(io.tty && sent ? { size: sent } : {}),
        signal: options.signal,
        onCreated: (execId) => {
          session = execId;
          if (size !== sent) resize(0);
        },
      })
      .finally(() => {
        ended = true;
      });
  }

  async attach(
    id: string,
    io: ExecIO,
    options: { signal: AbortSignal; onResize?: (resize: (width: number, height: number) => void) => void },
  ): Promise<void> {
    options.onResize?.(
      (width, height) => void this.#client.resizeContainer(id, { h: height, w: width }).catch(() => undefined),
    );
    await this.#client.attachContainer(id, {
      stdin: io.stdin,
      stdout: io.stdout,
      stderr: io.stderr,
      tty: io.tty,
      signal: options.signal,
    });
  }

  /** Lines in order; Podman splits lines it got without a newline into partial entries, joined here. */
  async *logs(id: string, query: LogQuery): AsyncIterable<LogLine> {
    let pending: LogLine | undefined;
    for await (const entry of this.#client.containerLogs(id, {
      follow: query.follow,
      ...(query.since ? { since: query.since } : {}),
      ...(query.tail !== undefined ? { tail: query.tail } : {}),
      signal: query.signal,
    })) {
      if (pending && pending.stream !== entry.stream) {
        yield pending;
        pending = undefined;
      }
      const line: LogLine = {
        stream: entry.stream,
        time: pending?.time ?? entry.time,
        text: (pending?.text ?? '') + entry.text,
      };
      if (entry.partial) {
        pending = line;
      } else {
        pending = undefined;
        yield line;
      }
    }
    if (pending) yield pending;
  }

  async stats(ids: string[], signal?: AbortSignal): Promise<ContainerUsage[]> {
    const samples = await this.#client.containerStats(ids, { ...(signal ? { signal } : {}) });
    return samples.map((s) => ({
      id: s.id,
      cpuNanoseconds: s.cpuNanos,
      memoryBytes: s.memoryWorkingSetBytes,
      rxBytes: s.networkRxBytes,
      txBytes: s.networkTxBytes,
    }));
  }

  async *events(labels: Record<string, string>, signal: AbortSignal): AsyncIterable<ContainerEvent> {
    for await (const event of this.#client.events({
      filters: { type: ['container'], label: labels },
      since: new Date(),
      signal,
    })) {
      yield {
        status: event.action,
        id: event.id,
        name: event.name,
        labels: event.attributes,
        ...(event.exitCode !== undefined ? { exitCode: event.exitCode } : {}),
        time: event.time,
      };
    }
  }

  connect(podName: string, port: number, signal: AbortSignal): Promise<Duplex> {
    return this.#client.connectToPod(podName, port, { signal });
  }
}
