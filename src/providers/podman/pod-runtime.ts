/**
 * One Kubernetes pod running as a Podman pod: its supervisor. It prepares volumes, pulls images,
 * runs the init containers in order, then the app containers; restarts containers as the pod's
 * restartPolicy says with the kubelet's back-off (CrashLoopBackOff); runs startup, liveness and
 * readiness probes and the postStart/preStop hooks; runs the ephemeral containers `kubectl debug`
 * adds; terminates with SIGTERM, the grace period, then SIGKILL; and reports the pod's status
 * whenever it changes.
 *
 * Each run of a container is a Podman container of its own, as each is a new container for the
 * kubelet: its ID is the status' containerID, its log is that run's log, and the one before it is
 * kept (for `kubectl logs --previous`) until the next run replaces it.
 *
 * It keeps what it must remember across a restart of the virtual kubelet (the pod as created,
 * restart counts, last states, readiness) in the pod's state directory, so a restarted process
 * adopts the running containers without touching them and reports the same status.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import type {
  Container,
  ContainerState,
  EphemeralContainer,
  Pod,
  PodStatus,
  Secret,
} from 'kubernetes-types/core/v1.js';
import type { Logger } from 'pino';
import { errorMessage, InvalidInputError, isInvalidInput, isNotFound } from '../../errors.ts';
import { kubeTime } from '../../kube/time.ts';
import { gracePeriodSeconds, podKey } from '../../provider/index.ts';
import { sleep } from '../../util/sleep.ts';
import { isAlreadyExists } from './api/errors.ts';
import type { PodmanConfig } from './config.ts';
import { type ActionTarget, runAction } from './container-actions.ts';
import { ContainerExits, hasExited } from './container-exits.ts';
import { containerCreateSpec, enforceableLimits, resourceLimits } from './container-spec.ts';
import { imageRegistry, registryAuth } from './image-auth.ts';
import { LABEL_CONTAINER, LABEL_KIND, podLabels, podmanContainerName, podmanPodName } from './labels.ts';
import { type ContainerKind, type ContainerView, type PodLifecycle, podRuntimeStatus } from './pod-runtime-status.ts';
import { ensurePodSandbox } from './pod-sandbox.ts';
import { PodVolumes } from './pod-volumes.ts';
import { type ProbeKind, ProbeWorker } from './probe-worker.ts';
import type { ContainerInfo, PodmanBackend } from './runtime-api.ts';
import { MissingVolumeSourceError, type VolumeSources } from './volume-files.ts';

/** The kubelet's restart back-off: 10 s doubling to 5 minutes, reset after 10 minutes of running. */
export const BACKOFF_INITIAL_MS = 10_000;
export const BACKOFF_MAX_MS = 300_000;
const BACKOFF_RESET_AFTER_MS = 600_000;

export type EventSink = (type: 'Normal' | 'Warning', reason: string, message: string) => void;

export interface RuntimeDeps {
  backend: PodmanBackend;
  config: PodmanConfig;
  nodeName: string;
  volumeSources: (pod: Pod) => VolumeSources;
  /** The pod's pull secrets, read from the cluster. */
  pullSecrets: (pod: Pod) => Secret[];
  events: (pod: Pod) => EventSink;
  /** Called whenever the pod's status changed. */
  notify: (pod: Pod) => void;
  logger: Logger;
  /** The host's cgroup controllers, which decide the limits it can enforce; none known by default. */
  cgroupControllers?: () => readonly string[];
  /** Time source, for tests. */
  now?: () => number;
  /** The restart back-off; the kubelet's 10 s doubling to 5 minutes by default. */
  backoff?: { initialMs: number; maxMs: number };
}

interface ContainerRecord extends ContainerView {
  backoffMs: number;
  probes: ProbeWorker[];
  /** The container is being stopped on purpose (liveness failure, termination): its exit is expected. */
  stopping: boolean;
}

/** What survives a virtual kubelet restart (besides the pod itself, in pod.json). */
interface SavedState {
  containers: Record<
    string,
    {
      id?: string;
      restartCount: number;
      lastState?: ContainerState;
      ready: boolean;
      started: boolean;
      backoffMs: number;
    }
  >;
  podIPs: string[];
  startTime: string;
}

function waiting(reason: string, message?: string): ContainerState {
  return { waiting: message ? { reason, message } : { reason } };
}

/** The Podman container ID in a status' `podman://<id>`. */
function containerIdOf(state: ContainerState | undefined): string | undefined {
  const id = state?.terminated?.containerID;
  return id?.startsWith('podman://') ? id.slice('podman://'.length) : undefined;
}

/** The directory that holds a pod's volumes and state. */
export function podStateDir(stateDir: string, pod: Pod): string {
  return join(stateDir, 'pods', pod.metadata?.uid ?? podmanPodName(pod));
}

export class PodRuntime {
  readonly key: string;
  readonly podName: string;
  readonly #deps: RuntimeDeps;
  readonly #dir: string;
  readonly #containers = new Map<string, ContainerRecord>();
  readonly #volumes: PodVolumes;
  readonly #events: EventSink;
  /** Aborts supervision: on termination, on removal, and when the provider stops. */
  readonly #controller = new AbortController();
  readonly #exits: ContainerExits;
  #pod: Pod;
  #lifecycle: PodLifecycle = 'running';
  #podIPs: string[] = [];
  #startTime: string;
  #reason: string | undefined;
  #message: string | undefined;
  #supervising: Promise<void> | undefined;
  #termination: Promise<void> | undefined;

  constructor(pod: Pod, deps: RuntimeDeps) {
    this.#pod = pod;
    this.#deps = deps;
    this.key = podKey(pod.metadata?.namespace ?? '', pod.metadata?.name ?? '');
    this.podName = podmanPodName(pod);
    this.#dir = podStateDir(deps.config.stateDir, pod);
    this.#volumes = new PodVolumes(pod, this.#dir, deps.volumeSources(pod));
    this.#events = deps.events(pod);
    this.#exits = new ContainerExits(deps.backend, () => this.#now());
    this.#startTime = kubeTime(new Date(this.#now()));
    for (const spec of pod.spec?.initContainers ?? []) this.#containers.set(spec.name, this.#record(spec, 'init'));
    for (const spec of pod.spec?.containers ?? []) this.#containers.set(spec.name, this.#record(spec, 'app'));
    for (const spec of pod.spec?.ephemeralContainers ?? [])
      this.#containers.set(spec.name, this.#record(spec as Container, 'ephemeral'));
  }

  /** The pod as created (with its environment resolved), and the ephemeral containers added since. */
  get pod(): Pod {
    return this.#pod;
  }

  /** The pod a previous run of the provider saved for `uid`, or undefined. */
  static savedPod(stateDir: string, uid: string): Pod | undefined {
    try {
      const pod = JSON.parse(readFileSync(join(stateDir, 'pods', uid, 'pod.json'), 'utf8')) as Pod;
      return pod.metadata?.uid === uid ? pod : undefined;
    } catch {
      return undefined;
    }
  }

  #now(): number {
    return this.#deps.now?.() ?? Date.now();
  }

  #record(spec: Container, kind: ContainerKind): ContainerRecord {
    return {
      spec,
      kind,
      id: undefined,
      imageID: '',
      state: waiting(kind === 'init' ? 'PodInitializing' : 'ContainerCreating'),
      lastState: undefined,
      restartCount: 0,
      ready: false,
      started: false,
      backoffMs: 0,
      probes: [],
      stopping: false,
    };
  }

  /** The pod has stopped for good: terminated after a delete, or failed with nothing left to run. */
  get finished(): boolean {
    return this.#lifecycle === 'terminated' || this.#lifecycle === 'failed';
  }

  /** The pod's termination grace period, which liveness kills and failed hooks also give a container. */
  #graceSeconds(): number {
    return gracePeriodSeconds(this.#pod);
  }

  /** ConfigMaps and Secrets the volumes read. */
  volumeDependencies(): { kind: 'ConfigMap' | 'Secret'; name: string }[] {
    return this.#volumes.dependencies();
  }

  // ---------------------------------------------------------------------------------------------
  // State files

  #save(): void {
    const state: SavedState = { containers: {}, podIPs: this.#podIPs, startTime: this.#startTime };
    for (const [name, c] of this.#containers) {
      state.containers[name] = {
        ...(c.id ? { id: c.id } : {}),
        restartCount: c.restartCount,
        ...(c.lastState ? { lastState: c.lastState } : {}),
        ready: c.ready,
        started: c.started,
        backoffMs: c.backoffMs,
      };
    }
    this.#write('state.json', state);
  }

  /** The pod as created, for adoption after a restart; it holds resolved secrets, so only we may read it. */
  #savePod(): void {
    this.#write('pod.json', this.#pod, 0o600);
  }

  #write(file: string, value: unknown, mode?: number): void {
    try {
      mkdirSync(this.#dir, { recursive: true });
      writeFileSync(join(this.#dir, file), JSON.stringify(value), mode === undefined ? undefined : { mode });
    } catch (error) {
      this.#deps.logger.warn({ pod: this.key, err: errorMessage(error) }, `could not save ${file}`);
    }
  }

  #load(): SavedState | undefined {
    try {
      return JSON.parse(readFileSync(join(this.#dir, 'state.json'), 'utf8')) as SavedState;
    } catch {
      return undefined;
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Status

  #changed(): void {
    this.#save();
    this.#deps.notify({ ...this.#pod, status: this.status() });
  }

  /** The pod's status as a kubelet would report it. */
  status(): PodStatus {
    return podRuntimeStatus({
      restartPolicy: this.#pod.spec?.restartPolicy ?? 'Always',
      lifecycle: this.#lifecycle,
      containers: [...this.#containers.values()],
      podIPs: this.#podIPs,
      startTime: this.#startTime,
      reason: this.#reason,
      message: this.#message,
    });
  }

  /** A container's current run and the run before it, for logs, exec and attach. */
  container(name: string): Pick<ContainerView, 'id' | 'state' | 'lastState'> | undefined {
    const c = this.#containers.get(name);
    return c && { id: c.id, state: c.state, lastState: c.lastState };
  }

  /** The Podman container ID of a container's current run, for exec, attach and stats. */
  containerId(name: string): string | undefined {
    return this.#containers.get(name)?.id;
  }

  /** The Podman container of the run before the current one (`kubectl logs --previous`). */
  static previousRunId(container: Pick<ContainerView, 'lastState'>): string | undefined {
    return containerIdOf(container.lastState);
  }

  // ---------------------------------------------------------------------------------------------
  // Start and supervision

  /** Creates the Podman pod (or reuses its sandbox) and starts supervising in the background. */
  async start(): Promise<void> {
    checkSupported(this.#pod);
    mkdirSync(this.#dir, { recursive: true });
    this.#savePod();
    this.#podIPs = await ensurePodSandbox(this.#deps.backend, this.#pod, {
      nodeName: this.#deps.nodeName,
      network: this.#deps.config.network,
      signal: this.#controller.signal,
    });
    this.#changed();
    this.#supervising = this.#supervise();
  }

  /**
   * Adopts a pod that was already running when the virtual kubelet started: reads its containers'
   * state from Podman and the saved state, and resumes supervising without restarting anything.
   * Runs of a container that are neither its current nor its previous one are removed.
   */
  async adopt(): Promise<void> {
    const saved = this.#load();
    const { backend } = this.#deps;
    const info = await backend.inspectPod(this.podName);
    this.#podIPs = info.ips.length > 0 ? info.ips : (saved?.podIPs ?? []);
    if (saved?.startTime) this.#startTime = saved.startTime;
    this.#savePod();
    const live = await backend.listContainers(podLabels(this.#deps.nodeName, this.#pod));
    const kept = new Set<string>();
    for (const [name, c] of this.#containers) {
      const memory = saved?.containers[name];
      if (memory) {
        c.restartCount = memory.restartCount;
        c.lastState = memory.lastState;
        c.ready = memory.ready;
        c.started = memory.started;
        c.backoffMs = memory.backoffMs;
      }
      const runs = live.filter((x) => x.labels[LABEL_CONTAINER] === name);
      const current = memory?.id ? runs.find((x) => x.id === memory.id) : runs[0];
      if (current) {
        kept.add(current.id);
        // The list leaves out what only inspect tells (an OOM kill, the runtime's error).
        this.#applyInfo(c, current.running ? current : await backend.inspectContainer(current.id).catch(() => current));
      }
      const previous = containerIdOf(c.lastState);
      if (previous) kept.add(previous);
    }
    // Only our containers carry a container name; the pod's infra container does not.
    for (const stale of live.filter((x) => x.labels[LABEL_CONTAINER] !== undefined && !kept.has(x.id)))
      this.#removeRun(stale.id);
    try {
      await this.#volumes.prepare();
    } catch (error) {
      this.#deps.logger.warn(
        { pod: this.key, err: errorMessage(error) },
        'could not refresh the volumes of an adopted pod',
      );
    }
    this.#supervising = this.#supervise(true);
  }

  #applyInfo(c: ContainerRecord, info: ContainerInfo): void {
    c.id = info.id;
    c.imageID = info.imageID;
    if (info.running) {
      c.state = { running: { startedAt: kubeTime(info.startedAt ?? new Date(this.#now())) } };
    } else if (hasExited(info)) {
      c.state = { terminated: this.#terminatedState(info) };
    }
  }

  #terminatedState(info: ContainerInfo): NonNullable<ContainerState['terminated']> {
    const exitCode = info.exitCode;
    return {
      exitCode,
      reason: info.oomKilled ? 'OOMKilled' : exitCode === 0 ? 'Completed' : 'Error',
      ...(info.error ? { message: info.error } : {}),
      startedAt: kubeTime(info.startedAt ?? new Date(this.#now())),
      finishedAt: kubeTime(info.finishedAt ?? new Date(this.#now())),
      containerID: `podman://${info.id}`,
    };
  }

  async #supervise(adopted = false): Promise<void> {
    const signal = this.#controller.signal;
    try {
      // Volumes first: a missing ConfigMap or Secret holds the pod in ContainerCreating and is retried.
      for (let attempt = 0; !adopted && !signal.aborted; attempt++) {
        try {
          await this.#volumes.prepare();
          break;
        } catch (error) {
          if (error instanceof MissingVolumeSourceError) {
            this.#events('Warning', 'FailedMount', `MountVolume.SetUp failed: ${errorMessage(error)}`);
            await sleep(Math.min(30_000, 1000 * 2 ** attempt), signal);
            continue;
          }
          throw error;
        }
      }
      for (const c of this.#containers.values()) {
        if (signal.aborted) return;
        if (c.kind !== 'init') continue;
        if (c.state.terminated?.exitCode === 0) continue;
        const sidecar = c.spec.restartPolicy === 'Always';
        const ok = await this.#runUntil(c, sidecar ? 'started' : 'succeeded');
        if (!ok) return;
      }
      const ephemeral = [...this.#containers.values()].filter((c) => c.kind === 'ephemeral');
      await Promise.all([
        ...[...this.#containers.values()]
          .filter((c) => c.kind === 'app')
          .map((c) =>
            (c.state.running || c.state.terminated) && adopted ? this.#watch(c) : this.#runUntil(c, 'forever'),
          ),
        // An adopted ephemeral container that has run does not run again.
        ...ephemeral.map((c) => (c.id ? this.#watchEphemeral(c) : this.#runEphemeral(c))),
      ]);
    } catch (error) {
      if (signal.aborted) return;
      this.#deps.logger.warn({ pod: this.key, err: errorMessage(error) }, 'pod supervision failed');
      this.#reason = isInvalidInput(error) ? 'ProviderFailed' : undefined;
      this.#message = errorMessage(error);
      if (isInvalidInput(error) && (this.#pod.spec?.restartPolicy ?? 'Always') === 'Never') this.#fail();
      this.#changed();
    }
  }

  /** Nothing more will run: the pod has failed for good. */
  #fail(): void {
    if (this.#lifecycle === 'running') this.#lifecycle = 'failed';
  }

  /** Resumes watching an adopted container: probes, and restarts when it exits. */
  async #watch(c: ContainerRecord): Promise<void> {
    if (c.state.running) this.#startProbes(c, true);
    await this.#runUntil(c, 'forever', true);
  }

  /**
   * Runs a container and keeps it going as the restart policy says. `succeeded`: until it exits 0
   * (init containers); `started`: until it is running (sidecars); `forever`: app containers.
   * Returns false when the pod failed for good.
   */
  async #runUntil(
    c: ContainerRecord,
    goal: 'succeeded' | 'started' | 'forever',
    alreadyRunning = false,
  ): Promise<boolean> {
    const signal = this.#controller.signal;
    const policy =
      c.kind === 'init' && c.spec.restartPolicy === 'Always' ? 'Always' : (this.#pod.spec?.restartPolicy ?? 'Always');
    let first = !alreadyRunning;
    for (;;) {
      if (signal.aborted) return false;
      if (first || !c.state.running) {
        first = false;
        if (!c.state.running && !(alreadyRunning && c.state.terminated)) {
          const started = await this.#startContainer(c);
          if (!started) {
            // Image or create failure: back off and try again, unless restarts are not allowed.
            if (signal.aborted) return false;
            await this.#backoff(c, c.state.waiting?.reason === 'ErrImagePull' ? 'ImagePullBackOff' : undefined);
            continue;
          }
          if (goal === 'started') return true;
        }
      }
      alreadyRunning = false;
      if (c.state.running) {
        const exit = await this.#waitForExit(c);
        if (signal.aborted) return false;
        this.#stopProbes(c);
        c.state = { terminated: exit };
        c.ready = false;
        c.started = false;
        this.#changed();
      }
      // Stopped by a termination (or the pod failed meanwhile): this run stays the last.
      if (this.#lifecycle !== 'running') return false;
      const exitCode = c.state.terminated?.exitCode ?? 0;
      if (goal === 'succeeded' && exitCode === 0) return true;
      const restart =
        policy === 'Always' ||
        (policy === 'OnFailure' && exitCode !== 0) ||
        (goal === 'succeeded' && policy !== 'Never');
      if (!restart) {
        if (goal === 'succeeded') {
          this.#fail();
          this.#changed();
        }
        return goal !== 'succeeded';
      }
      this.#endRun(c);
      await this.#backoff(c, 'CrashLoopBackOff');
      if (signal.aborted || this.#lifecycle !== 'running') return false;
      c.restartCount++;
    }
  }

  /**
   * The container's run is over and another will follow: it becomes the last state (what
   * `--previous` shows), the run before it is removed, and the next start creates a new container.
   */
  #endRun(c: ContainerRecord): void {
    const finished = c.state.terminated;
    if (!finished || !c.id) return;
    const superseded = containerIdOf(c.lastState);
    if (superseded && superseded !== c.id) this.#removeRun(superseded);
    c.lastState = { terminated: finished };
    c.id = undefined;
  }

  /** Removes one run's Podman container (an earlier run, or a leftover); failures only cost disk. */
  #removeRun(id: string): void {
    this.#deps.backend.removeContainer(id).catch((error: unknown) => {
      if (!isNotFound(error)) {
        this.#deps.logger.debug({ pod: this.key, container: id, err: errorMessage(error) }, 'remove failed');
      }
    });
  }

  /** Waits the container's back-off, showing `reason` while waiting. */
  async #backoff(c: ContainerRecord, reason: string | undefined): Promise<void> {
    const ranFor = c.lastState?.terminated
      ? Date.parse(c.lastState.terminated.finishedAt ?? '') - Date.parse(c.lastState.terminated.startedAt ?? '')
      : 0;
    if (reason === 'CrashLoopBackOff' && ranFor >= BACKOFF_RESET_AFTER_MS) c.backoffMs = 0;
    const delay = c.backoffMs;
    const bounds = this.#deps.backoff ?? { initialMs: BACKOFF_INITIAL_MS, maxMs: BACKOFF_MAX_MS };
    c.backoffMs = delay === 0 ? bounds.initialMs : Math.min(bounds.maxMs, delay * 2);
    if (delay === 0) return;
    if (reason) {
      const what =
        reason === 'ImagePullBackOff'
          ? `Back-off pulling image "${c.spec.image}"`
          : `back-off ${delay / 1000}s restarting failed container=${c.spec.name} pod=${this.#pod.metadata?.name}_${this.#pod.metadata?.namespace}(${this.#pod.metadata?.uid})`;
      c.state = waiting(reason, what);
      this.#events(
        'Warning',
        'BackOff',
        reason === 'ImagePullBackOff'
          ? what
          : `Back-off restarting failed container ${c.spec.name} in pod ${this.#pod.metadata?.name}`,
      );
      this.#changed();
    }
    await sleep(delay, this.#controller.signal);
  }

  /**
   * Pulls the image if the policy says so, creates the container of this run (or reuses one
   * created but never started) and starts it.
   */
  async #startContainer(c: ContainerRecord, options: { pidNamespaceOf?: string } = {}): Promise<boolean> {
    const { backend, config } = this.#deps;
    const signal = this.#controller.signal;
    const image = c.spec.image ?? '';
    const policy = c.spec.imagePullPolicy ?? config.defaultPullPolicy;
    try {
      const present = await backend.imageExists(image, signal);
      if (policy === 'Never' && !present) {
        c.state = waiting('ErrImageNeverPull', `Container image "${image}" is not present with pull policy of Never`);
        this.#events('Warning', 'ErrImageNeverPull', c.state.waiting?.message ?? '');
        this.#changed();
        return false;
      }
      if (policy === 'Always' || (policy === 'IfNotPresent' && !present)) {
        this.#events('Normal', 'Pulling', `Pulling image "${image}"`);
        const started = this.#now();
        const auth = registryAuth(image, this.#deps.pullSecrets(this.#pod));
        await backend.pullImage(image, {
          auth,
          tlsVerify: !config.insecureRegistries.includes(imageRegistry(image)),
          signal,
        });
        this.#events(
          'Normal',
          'Pulled',
          `Successfully pulled image "${image}" in ${((this.#now() - started) / 1000).toFixed(3)}s`,
        );
      }
    } catch (error) {
      if (signal.aborted) return false;
      c.state = waiting('ErrImagePull', errorMessage(error));
      this.#events('Warning', 'Failed', `Failed to pull image "${image}": ${errorMessage(error)}`);
      this.#changed();
      return false;
    }
    try {
      if (!c.id) c.id = await this.#createContainer(c, image, options);
      await backend.startContainer(c.id, signal);
      const info = await this.#inspectAfterStart(c.id);
      this.#applyInfo(c, info);
      // A quick process may already be gone: `stopped` until Podman's cleanup, then `exited`.
      if (!info.running && !hasExited(info)) throw new Error(info.error || `container ${c.spec.name} did not start`);
      this.#events('Normal', 'Started', `Started container ${c.spec.name}`);
    } catch (error) {
      if (signal.aborted) return false;
      const message = errorMessage(error);
      c.state = isInvalidInput(error)
        ? waiting('CreateContainerConfigError', message)
        : waiting('CreateContainerError', message);
      this.#events('Warning', 'Failed', `Error: ${message}`);
      this.#changed();
      return false;
    }
    if (c.state.running && c.kind !== 'ephemeral') {
      const hook = c.spec.lifecycle?.postStart;
      if (hook) {
        const outcome = await runAction(hook, this.#target(c), AbortSignal.timeout(30_000));
        if (!outcome.ok) {
          this.#events('Warning', 'FailedPostStartHook', outcome.message ?? 'postStart hook failed');
          await this.#stop(c, this.#graceSeconds());
        }
      }
      this.#startProbes(c, false);
    }
    this.#changed();
    return true;
  }

  /** Creates this run's Podman container; a leftover of the same name (a run we lost track of) is replaced. */
  async #createContainer(c: ContainerRecord, image: string, options: { pidNamespaceOf?: string }): Promise<string> {
    const { backend, config } = this.#deps;
    const signal = this.#controller.signal;
    const imageConfig = await backend.imageConfig(image, signal);
    c.imageID = imageConfig.id;
    const cgroupControllers = this.#deps.cgroupControllers?.() ?? [];
    const { limits, dropped } = enforceableLimits(resourceLimits(c.spec), cgroupControllers);
    if (dropped.length > 0) {
      this.#events(
        'Warning',
        'ResourceLimitsNotEnforced',
        `the Podman host has no ${dropped.join(' or ')} cgroup controller: the ${dropped.join(' and ')} limits of container ${c.spec.name} are not enforced`,
      );
    }
    const spec = containerCreateSpec(this.#pod, c.spec, {
      podName: this.podName,
      // The first run keeps the plain name (as earlier versions named it); later runs are numbered.
      name: podmanContainerName(this.#pod, c.spec.name, c.restartCount),
      image,
      imageConfig,
      env: Object.fromEntries((c.spec.env ?? []).map((e) => [e.name, e.value ?? ''])),
      mounts: this.#volumes.mountsFor(c.spec),
      labels: { ...podLabels(this.#deps.nodeName, this.#pod), [LABEL_CONTAINER]: c.spec.name, [LABEL_KIND]: c.kind },
      runtime: config.runtime,
      ulimits: config.ulimits,
      logMaxBytes: config.logMaxBytes,
      stopTimeoutSeconds: this.#pod.spec?.terminationGracePeriodSeconds ?? 30,
      resourceLimits: limits,
      ...(options.pidNamespaceOf ? { pidNamespaceOf: options.pidNamespaceOf } : {}),
    });
    let id: string;
    try {
      id = await backend.createContainer(spec, signal);
    } catch (error) {
      if (!isAlreadyExists(error)) throw error;
      await backend.removeContainer(spec.name, signal);
      id = await backend.createContainer(spec, signal);
    }
    this.#events('Normal', 'Created', `Created container ${c.spec.name}`);
    return id;
  }

  /**
   * The container's state right after its start. A process that dies at once can make Podman's
   * inspect fail for a moment (it reads /proc of a process that just went): asked again.
   */
  async #inspectAfterStart(id: string): Promise<ContainerInfo> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.#deps.backend.inspectContainer(id, this.#controller.signal);
      } catch (error) {
        if (attempt >= 4 || isNotFound(error) || this.#controller.signal.aborted) throw error;
        await sleep(50 * 2 ** attempt, this.#controller.signal);
      }
    }
  }

  #target(c: ContainerRecord): ActionTarget {
    return {
      backend: this.#deps.backend,
      containerId: c.id ?? '',
      podName: this.podName,
      podIP: this.#podIPs[0],
      ports: (c.spec.ports ?? []).map((p) => ({ containerPort: p.containerPort, ...(p.name ? { name: p.name } : {}) })),
    };
  }

  #startProbes(c: ContainerRecord, resumed: boolean): void {
    this.#stopProbes(c);
    const spec = c.spec;
    if (!resumed) {
      c.started = !spec.startupProbe;
      c.ready = c.started && !spec.readinessProbe;
    }
    const add = (
      kind: ProbeKind,
      probe: NonNullable<Container['livenessProbe']>,
      onChange: (ok: boolean, message?: string) => void,
    ) => {
      const worker = new ProbeWorker(kind, probe, (signal) => runAction(probe, this.#target(c), signal), onChange);
      if (kind === 'readiness' && resumed) worker.healthy = c.ready;
      c.probes.push(worker);
      worker.start();
      return worker;
    };
    const startProbes = () => {
      if (spec.livenessProbe) {
        add('liveness', spec.livenessProbe, (ok, message) => {
          if (ok) return;
          this.#events('Warning', 'Unhealthy', `Liveness probe failed: ${message ?? ''}`);
          this.#events('Normal', 'Killing', `Container ${spec.name} failed liveness probe, will be restarted`);
          void this.#stop(c, this.#graceSeconds(), true);
        });
      }
      if (spec.readinessProbe) {
        add('readiness', spec.readinessProbe, (ok, message) => {
          if (!ok) this.#events('Warning', 'Unhealthy', `Readiness probe failed: ${message ?? ''}`);
          c.ready = ok && c.started && Boolean(c.state.running);
          this.#changed();
        });
      } else if (c.started) {
        c.ready = Boolean(c.state.running);
      }
    };
    if (spec.startupProbe && !c.started) {
      add('startup', spec.startupProbe, (ok, message) => {
        if (ok) {
          c.started = true;
          if (!spec.readinessProbe) c.ready = true;
          this.#changed();
          startProbes();
          return;
        }
        this.#events('Warning', 'Unhealthy', `Startup probe failed: ${message ?? ''}`);
        void this.#stop(c, this.#graceSeconds(), true);
      });
    } else {
      startProbes();
    }
  }

  #stopProbes(c: ContainerRecord): void {
    for (const probe of c.probes) probe.stop();
    c.probes = [];
  }

  /** The container's terminated state once Podman has finished with its process. */
  async #waitForExit(c: ContainerRecord): Promise<NonNullable<ContainerState['terminated']>> {
    return this.#terminatedState(await this.#exits.wait(c.id ?? '', this.#controller.signal));
  }

  /** Podman reported that one of this pod's containers died or stopped. */
  containerExited(info: ContainerInfo): void {
    this.#exits.report(info);
  }

  /** Re-reads every running container from Podman (after missed events, or to resync). */
  async resync(): Promise<void> {
    for (const c of this.#containers.values()) {
      if (c.id && c.state.running) await this.#exits.check(c.id);
    }
  }

  /** Stops one container with the grace period (its preStop hook first when terminating). */
  async #stop(c: ContainerRecord, graceSeconds: number, restartAfter = false): Promise<void> {
    if (!c.id || !c.state.running || c.stopping) return;
    const id = c.id;
    c.stopping = true;
    try {
      this.#stopProbes(c);
      if (!restartAfter) c.ready = false;
      await this.#deps.backend.stopContainer(id, Math.max(0, Math.ceil(graceSeconds)));
    } catch (error) {
      this.#deps.logger.debug({ pod: this.key, container: c.spec.name, err: errorMessage(error) }, 'stop failed');
    } finally {
      c.stopping = false;
    }
    // Podman's stop answers once the container is down: its exit is final now.
    await this.#exits.check(id);
  }

  /** Rewrites configMap/secret/projected volume files from their current sources. */
  async refreshVolumes(): Promise<void> {
    await this.#volumes.refresh();
  }

  // ---------------------------------------------------------------------------------------------
  // Ephemeral containers

  /**
   * Runs the ephemeral containers of `pod` that are new (`kubectl debug` adds them to the spec;
   * they are never changed or removed). Each runs once, in the pod's namespaces — and in the
   * process namespace of its `targetContainerName` — and is never restarted.
   */
  addEphemeralContainers(pod: Pod): void {
    const added = (pod.spec?.ephemeralContainers ?? []).filter((spec) => !this.#containers.has(spec.name));
    if (added.length === 0) return;
    this.#pod = {
      ...this.#pod,
      spec: { ...(this.#pod.spec ?? { containers: [] }), ephemeralContainers: pod.spec?.ephemeralContainers ?? [] },
    };
    this.#savePod();
    for (const spec of added) {
      const c = this.#record(spec as Container, 'ephemeral');
      this.#containers.set(spec.name, c);
      this.#changed();
      if (this.#lifecycle === 'running') void this.#runEphemeral(c);
    }
  }

  async #runEphemeral(c: ContainerRecord): Promise<void> {
    const targetName = (c.spec as EphemeralContainer).targetContainerName;
    const target = targetName ? this.#containers.get(targetName) : undefined;
    if (targetName && !(target?.id && target.state.running)) {
      c.state = waiting('CreateContainerError', `target container "${targetName}" is not running`);
      this.#events('Warning', 'Failed', `Error: ${c.state.waiting?.message}`);
      this.#changed();
      return;
    }
    const started = await this.#startContainer(c, target?.id ? { pidNamespaceOf: target.id } : {});
    if (started) await this.#watchEphemeral(c);
  }

  async #watchEphemeral(c: ContainerRecord): Promise<void> {
    if (!c.state.running) return;
    const exit = await this.#waitForExit(c);
    if (this.#controller.signal.aborted) return;
    c.state = { terminated: exit };
    c.started = false;
    this.#changed();
  }

  // ---------------------------------------------------------------------------------------------
  // Termination

  /**
   * Terminates the pod: preStop hooks, then SIGTERM and SIGKILL after the grace period, as the
   * kubelet does. Resolves when every container has stopped. Called again, it waits for the same.
   */
  terminate(graceSeconds: number): Promise<void> {
    this.#termination ??= this.#terminate(graceSeconds);
    return this.#termination;
  }

  async #terminate(graceSeconds: number): Promise<void> {
    // A pod that has failed for good stays Failed; only its remaining containers are stopped.
    if (this.#lifecycle === 'running') this.#lifecycle = 'terminating';
    const deadline = this.#now() + graceSeconds * 1000;
    const running = [...this.#containers.values()].filter((c) => c.state.running && c.id);
    await Promise.all(
      running.map(async (c) => {
        this.#stopProbes(c);
        const hook = c.kind === 'ephemeral' ? undefined : c.spec.lifecycle?.preStop;
        if (hook) {
          const remaining = Math.max(0, deadline - this.#now());
          const outcome = await runAction(hook, this.#target(c), AbortSignal.timeout(Math.max(1, remaining)));
          if (!outcome.ok) this.#events('Warning', 'FailedPreStopHook', outcome.message ?? 'preStop hook failed');
        }
        this.#events('Normal', 'Killing', `Stopping container ${c.spec.name}`);
        await this.#stop(c, Math.max(0, deadline - this.#now()) / 1000);
      }),
    );
    this.#controller.abort();
    for (const c of this.#containers.values()) {
      this.#stopProbes(c);
      if (!c.id) {
        if (!c.state.terminated)
          c.state = {
            terminated: {
              exitCode: 0,
              reason: 'ContainerStatusUnknown',
              message: 'The container was never started',
              startedAt: this.#startTime,
              finishedAt: kubeTime(new Date(this.#now())),
            },
          };
        continue;
      }
      try {
        const info = await this.#deps.backend.inspectContainer(c.id);
        if (hasExited(info)) c.state = { terminated: this.#terminatedState(info) };
      } catch {
        if (!c.state.terminated)
          c.state = { terminated: { exitCode: 137, reason: 'Error', finishedAt: kubeTime(new Date(this.#now())) } };
      }
      c.ready = false;
      c.started = false;
    }
    if (this.#lifecycle === 'terminating') this.#lifecycle = 'terminated';
    this.#changed();
    await this.#supervising?.catch(() => undefined);
  }

  /**
   * Stops supervising (restarts, probes, token refreshes) without touching the containers: the
   * virtual kubelet is stopping, and the pod keeps running for the next one to adopt.
   */
  detach(): void {
    this.#controller.abort();
    for (const c of this.#containers.values()) this.#stopProbes(c);
    this.#volumes.stop();
  }

  /** Removes the Podman pod, its containers and the pod's files. */
  async remove(): Promise<void> {
    this.detach();
    try {
      await this.#deps.backend.removePod(this.podName);
    } catch (error) {
      this.#deps.logger.debug({ pod: this.key, err: errorMessage(error) }, 'remove pod failed');
    }
    await this.#volumes.remove();
    await rm(this.#dir, { recursive: true, force: true });
  }
}

/** The host's namespaces: a Podman pod has its own, and sharing the virtual kubelet's host's would be a surprise. */
const HOST_NAMESPACES = ['hostNetwork', 'hostPID', 'hostIPC'] as const;

/** Refuses, before anything is created, what a Podman pod cannot give. */
function checkSupported(pod: Pod): void {
  const host = HOST_NAMESPACES.filter((field) => pod.spec?.[field]);
  if (host.length > 0) throw new InvalidInputError(`${host.join(', ')}: not supported by the podman provider`);
  PodVolumes.check(pod);
}
