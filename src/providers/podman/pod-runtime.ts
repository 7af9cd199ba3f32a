/**
 * One Kubernetes pod running as a Podman pod: its supervisor. It prepares volumes, pulls images,
 * runs the init containers in order, then the app containers; restarts containers as the pod's
 * restartPolicy says with the kubelet's back-off (CrashLoopBackOff); runs startup, liveness and
 * readiness probes and the postStart/preStop hooks; terminates with SIGTERM, the grace period,
 * then SIGKILL; and reports the pod's status whenever it changes.
 *
 * It keeps what it must remember across a restart of the virtual kubelet (restart counts, last
 * states, readiness) in a small state file, so a restarted process adopts the running containers
 * without touching them and reports the same status.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Container, ContainerState, ContainerStatus, Pod, PodStatus, Secret } from 'kubernetes-types/core/v1.js';
import type { Logger } from 'pino';
import { errorMessage, InvalidInputError, isInvalidInput } from '../../errors.ts';
import { kubeTime } from '../../kube/time.ts';
import { sleep } from '../../util/sleep.ts';
import type { PodmanConfig } from './config.ts';
import { type ActionTarget, runAction } from './container-actions.ts';
import { containerCreateSpec, enforceableLimits, resourceLimits } from './container-spec.ts';
import { imageRegistry, registryAuth } from './image-auth.ts';
import { LABEL_CONTAINER, LABEL_KIND, podLabels, podmanContainerName, podmanPodName } from './labels.ts';
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

interface ContainerRecord {
  spec: Container;
  kind: 'init' | 'app';
  id: string | undefined;
  imageID: string;
  state: ContainerState;
  lastState: ContainerState | undefined;
  restartCount: number;
  ready: boolean;
  started: boolean;
  backoffMs: number;
  probes: ProbeWorker[];
  /** The container is being stopped on purpose (liveness failure, termination): its exit is expected. */
  stopping: boolean;
}

/** What survives a virtual kubelet restart. */
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

export class PodRuntime {
  readonly pod: Pod;
  readonly key: string;
  readonly podName: string;
  readonly #deps: RuntimeDeps;
  readonly #dir: string;
  readonly #containers = new Map<string, ContainerRecord>();
  readonly #volumes: PodVolumes;
  readonly #events: EventSink;
  readonly #controller = new AbortController();
  #podIPs: string[] = [];
  #startTime: string;
  #terminating = false;
  #terminated = false;
  #podFailed = false;
  #reason: string | undefined;
  #message: string | undefined;
  #supervising: Promise<void> | undefined;

  constructor(pod: Pod, deps: RuntimeDeps) {
    this.pod = pod;
    this.#deps = deps;
    this.key = `${pod.metadata?.namespace}/${pod.metadata?.name}`;
    this.podName = podmanPodName(pod);
    this.#dir = join(deps.config.stateDir, 'pods', pod.metadata?.uid ?? this.podName);
    this.#volumes = new PodVolumes(pod, this.#dir, deps.volumeSources(pod));
    this.#events = deps.events(pod);
    this.#startTime = kubeTime(new Date(this.#now()));
    for (const spec of pod.spec?.initContainers ?? []) this.#containers.set(spec.name, this.#record(spec, 'init'));
    for (const spec of pod.spec?.containers ?? []) this.#containers.set(spec.name, this.#record(spec, 'app'));
  }

  #now(): number {
    return this.#deps.now?.() ?? Date.now();
  }

  #record(spec: Container, kind: 'init' | 'app'): ContainerRecord {
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

  get terminated(): boolean {
    return this.#terminated;
  }

  /** ConfigMaps and Secrets the volumes read. */
  volumeDependencies(): { kind: 'ConfigMap' | 'Secret'; name: string }[] {
    return this.#volumes.dependencies();
  }

  // ---------------------------------------------------------------------------------------------
  // State file

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
    try {
      mkdirSync(this.#dir, { recursive: true });
      writeFileSync(join(this.#dir, 'state.json'), JSON.stringify(state));
    } catch (error) {
      this.#deps.logger.warn({ pod: this.key, err: errorMessage(error) }, 'could not save the pod state');
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
    this.#deps.notify({ ...this.pod, status: this.status() });
  }

  #containerStatus(c: ContainerRecord): ContainerStatus {
    return {
      name: c.spec.name,
      image: c.spec.image ?? '',
      imageID: c.imageID,
      ...(c.id ? { containerID: `podman://${c.id}` } : {}),
      ready: c.ready,
      started: c.started,
      restartCount: c.restartCount,
      state: c.state,
      ...(c.lastState ? { lastState: c.lastState } : { lastState: {} }),
    };
  }

  #phase(): PodStatus['phase'] {
    if (this.#podFailed) return 'Failed';
    const apps = [...this.#containers.values()].filter((c) => c.kind === 'app');
    const inits = [...this.#containers.values()].filter((c) => c.kind === 'init');
    const initsDone = inits.every(
      (c) => c.state.terminated?.exitCode === 0 || (c.spec.restartPolicy === 'Always' && c.started),
    );
    if (!initsDone) return 'Pending';
    if (apps.some((c) => c.state.running)) return 'Running';
    const allTerminated = apps.length > 0 && apps.every((c) => c.state.terminated);
    if (!allTerminated)
      return apps.some((c) => c.restartCount > 0 || c.state.waiting?.reason === 'CrashLoopBackOff')
        ? 'Running'
        : 'Pending';
    const policy = this.pod.spec?.restartPolicy ?? 'Always';
    const failed = apps.some((c) => (c.state.terminated?.exitCode ?? 0) !== 0);
    if (this.#terminating || policy === 'Never') return failed ? 'Failed' : 'Succeeded';
    if (policy === 'OnFailure') return failed ? 'Running' : 'Succeeded';
    return 'Running';
  }

  /** The pod's status as a kubelet would report it. */
  status(): PodStatus {
    const containers = [...this.#containers.values()];
    const apps = containers.filter((c) => c.kind === 'app');
    const inits = containers.filter((c) => c.kind === 'init');
    const phase = this.#phase();
    const initialized = inits.every(
      (c) => c.state.terminated?.exitCode === 0 || (c.spec.restartPolicy === 'Always' && c.started),
    );
    const allReady = apps.length > 0 && apps.every((c) => c.ready);
    const unready = apps.filter((c) => !c.ready).map((c) => c.spec.name);
    const notReady = phase === 'Succeeded' || phase === 'Failed' ? 'PodCompleted' : 'ContainersNotReady';
    const message =
      unready.length > 0 && notReady === 'ContainersNotReady'
        ? `containers with unready status: [${unready.join(' ')}]`
        : undefined;
    const readyCondition = (type: string) =>
      allReady
        ? { type, status: 'True' }
        : { type, status: 'False', reason: notReady, ...(message ? { message } : {}) };
    return {
      phase,
      ...(this.#reason ? { reason: this.#reason } : {}),
      ...(this.#message ? { message: this.#message } : {}),
      ...(this.#podIPs.length > 0 ? { podIP: this.#podIPs[0], podIPs: this.#podIPs.map((ip) => ({ ip })) } : {}),
      startTime: this.#startTime,
      conditions: [
        { type: 'PodReadyToStartContainers', status: this.#podIPs.length > 0 ? 'True' : 'False' },
        initialized
          ? { type: 'Initialized', status: 'True' }
          : { type: 'Initialized', status: 'False', reason: 'ContainersNotInitialized' },
        readyCondition('ContainersReady'),
        readyCondition('Ready'),
      ],
      ...(inits.length > 0 ? { initContainerStatuses: inits.map((c) => this.#containerStatus(c)) } : {}),
      containerStatuses: apps.map((c) => this.#containerStatus(c)),
    };
  }

  // ---------------------------------------------------------------------------------------------
  // Start and supervision

  /** Creates the Podman pod and starts supervising in the background. Resolves once the pod exists. */
  async start(): Promise<void> {
    checkSupported(this.pod);
    const { backend, config } = this.#deps;
    mkdirSync(this.#dir, { recursive: true });
    await backend.createPod({
      name: this.podName,
      labels: podLabels(this.#deps.nodeName, this.pod),
      hostname: this.pod.spec?.hostname ?? this.pod.metadata?.name ?? 'pod',
      network: config.network,
    });
    await backend.startPod(this.podName);
    this.#podIPs = (await backend.inspectPod(this.podName)).ips;
    this.#save();
    this.#changed();
    this.#supervising = this.#supervise();
  }

  /**
   * Adopts a pod that was already running when the virtual kubelet started: reads its containers'
   * state from Podman and the saved state, and resumes supervising without restarting anything.
   */
  async adopt(): Promise<void> {
    const saved = this.#load();
    const { backend } = this.#deps;
    const info = await backend.inspectPod(this.podName);
    this.#podIPs = info.ips.length > 0 ? info.ips : (saved?.podIPs ?? []);
    if (saved?.startTime) this.#startTime = saved.startTime;
    const live = await backend.listContainers(podLabels(this.#deps.nodeName, this.pod));
    for (const [name, c] of this.#containers) {
      const memory = saved?.containers[name];
      if (memory) {
        c.restartCount = memory.restartCount;
        c.lastState = memory.lastState;
        c.ready = memory.ready;
        c.started = memory.started;
        c.backoffMs = memory.backoffMs;
      }
      const container = live.find((x) => x.labels[LABEL_CONTAINER] === name);
      if (container) this.#applyInfo(c, container);
    }
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
    } else if (info.status === 'exited' || info.status === 'stopped') {
      c.state = { terminated: this.#terminatedState(info) };
    }
  }

  #terminatedState(info: ContainerInfo) {
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
            await sleep(Math.min(30_000, 1000 * 2 ** attempt), this.#controller.signal);
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
      await Promise.all(
        [...this.#containers.values()]
          .filter((c) => c.kind === 'app')
          .map((c) =>
            (c.state.running || c.state.terminated) && adopted ? this.#watch(c) : this.#runUntil(c, 'forever'),
          ),
      );
    } catch (error) {
      if (signal.aborted) return;
      this.#deps.logger.warn({ pod: this.key, err: errorMessage(error) }, 'pod supervision failed');
      this.#reason = isInvalidInput(error) ? 'ProviderFailed' : undefined;
      this.#message = errorMessage(error);
      if (isInvalidInput(error)) this.#podFailed = (this.pod.spec?.restartPolicy ?? 'Always') === 'Never';
      this.#changed();
    }
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
      c.kind === 'init' && c.spec.restartPolicy === 'Always' ? 'Always' : (this.pod.spec?.restartPolicy ?? 'Always');
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
      const exitCode = c.state.terminated?.exitCode ?? 0;
      if (goal === 'succeeded' && exitCode === 0) return true;
      const restart =
        policy === 'Always' ||
        (policy === 'OnFailure' && exitCode !== 0) ||
        (goal === 'succeeded' && policy !== 'Never');
      if (!restart) {
        if (goal === 'succeeded') {
          this.#podFailed = true;
          this.#changed();
        }
        return goal !== 'succeeded';
      }
      const finished = c.state.terminated;
      await this.#backoff(c, 'CrashLoopBackOff');
      if (signal.aborted || this.#terminating) return false;
      if (finished) c.lastState = { terminated: finished };
      c.restartCount++;
    }
  }

  /** Waits the container's back-off, showing `reason` while waiting. */
  async #backoff(c: ContainerRecord, reason: string | undefined): Promise<void> {
    const ranFor = c.state.terminated
      ? Date.parse(c.state.terminated.finishedAt ?? '') - Date.parse(c.state.terminated.startedAt ?? '')
      : 0;
    if (ranFor >= BACKOFF_RESET_AFTER_MS) c.backoffMs = 0;
    const delay = c.backoffMs;
    const bounds = this.#deps.backoff ?? { initialMs: BACKOFF_INITIAL_MS, maxMs: BACKOFF_MAX_MS };
    c.backoffMs = delay === 0 ? bounds.initialMs : Math.min(bounds.maxMs, delay * 2);
    if (delay === 0) return;
    if (reason) {
      const what =
        reason === 'ImagePullBackOff'
          ? `Back-off pulling image "${c.spec.image}"`
          : `back-off ${delay / 1000}s restarting failed container=${c.spec.name} pod=${this.pod.metadata?.name}_${this.pod.metadata?.namespace}(${this.pod.metadata?.uid})`;
      if (reason === 'CrashLoopBackOff')
        c.lastState = c.state.terminated ? { terminated: c.state.terminated } : c.lastState;
      c.state = waiting(reason, what);
      this.#events(
        'Warning',
        'BackOff',
        reason === 'ImagePullBackOff'
          ? what
          : `Back-off restarting failed container ${c.spec.name} in pod ${this.pod.metadata?.name}`,
      );
      this.#changed();
    }
    await sleep(delay, this.#controller.signal);
  }

  /** Pulls the image if the policy says so, creates (or reuses) the container and starts it. */
  async #startContainer(c: ContainerRecord): Promise<boolean> {
    const { backend, config } = this.#deps;
    const image = c.spec.image ?? '';
    const policy = c.spec.imagePullPolicy ?? config.defaultPullPolicy;
    try {
      const present = await backend.imageExists(image);
      if (policy === 'Never' && !present) {
        c.state = waiting('ErrImageNeverPull', `Container image "${image}" is not present with pull policy of Never`);
        this.#events('Warning', 'ErrImageNeverPull', c.state.waiting?.message ?? '');
        this.#changed();
        return false;
      }
      if (policy === 'Always' || (policy === 'IfNotPresent' && !present)) {
        this.#events('Normal', 'Pulling', `Pulling image "${image}"`);
        const started = this.#now();
        const auth = registryAuth(image, this.#deps.pullSecrets(this.pod));
        await backend.pullImage(image, { auth, tlsVerify: !config.insecureRegistries.includes(imageRegistry(image)) });
        this.#events(
          'Normal',
          'Pulled',
          `Successfully pulled image "${image}" in ${((this.#now() - started) / 1000).toFixed(3)}s`,
        );
      }
    } catch (error) {
      c.state = waiting('ErrImagePull', errorMessage(error));
      this.#events('Warning', 'Failed', `Failed to pull image "${image}": ${errorMessage(error)}`);
      this.#changed();
      return false;
    }
    try {
      if (!c.id) {
        const imageConfig = await backend.imageConfig(image);
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
        const spec = containerCreateSpec(this.pod, c.spec, {
          podName: this.podName,
          name: podmanContainerName(this.pod, c.spec.name),
          image,
          imageConfig,
          env: Object.fromEntries((c.spec.env ?? []).map((e) => [e.name, e.value ?? ''])),
          mounts: this.#volumes.mountsFor(c.spec),
          labels: { ...podLabels(this.#deps.nodeName, this.pod), [LABEL_CONTAINER]: c.spec.name, [LABEL_KIND]: c.kind },
          runtime: config.runtime,
          ulimits: config.ulimits,
          logMaxBytes: config.logMaxBytes,
          stopTimeoutSeconds: this.pod.spec?.terminationGracePeriodSeconds ?? 30,
          resourceLimits: limits,
        });
        c.id = await backend.createContainer(spec);
        this.#events('Normal', 'Created', `Created container ${c.spec.name}`);
      }
      await backend.startContainer(c.id);
      const info = await backend.inspectContainer(c.id);
      this.#applyInfo(c, info);
      // A quick process may already be gone: `stopped` until Podman's cleanup, then `exited`.
      if (!info.running && info.status !== 'exited' && info.status !== 'stopped') {
        throw new Error(info.error || `container ${c.spec.name} did not start`);
      }
      this.#events('Normal', 'Started', `Started container ${c.spec.name}`);
    } catch (error) {
      const message = errorMessage(error);
      c.state = isInvalidInput(error)
        ? waiting('CreateContainerConfigError', message)
        : waiting('CreateContainerError', message);
      this.#events('Warning', 'Failed', `Error: ${message}`);
      this.#changed();
      return false;
    }
    if (c.state.running) {
      const hook = c.spec.lifecycle?.postStart;
      if (hook) {
        const outcome = await runAction(hook, this.#target(c), AbortSignal.timeout(30_000));
        if (!outcome.ok) {
          this.#events('Warning', 'FailedPostStartHook', outcome.message ?? 'postStart hook failed');
          await this.#stop(c, this.pod.spec?.terminationGracePeriodSeconds ?? 30);
        }
      }
      this.#startProbes(c, false);
    }
    this.#changed();
    return true;
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
          void this.#stop(c, this.pod.spec?.terminationGracePeriodSeconds ?? 30, true);
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
        void this.#stop(c, this.pod.spec?.terminationGracePeriodSeconds ?? 30, true);
      });
    } else {
      startProbes();
    }
  }

  #stopProbes(c: ContainerRecord): void {
    for (const probe of c.probes) probe.stop();
    c.probes = [];
  }

  /** Resolves with the container's terminated state when it exits (from Podman's events). */
  #exitWaiters = new Map<string, (info: ContainerInfo) => void>();

  #waitForExit(c: ContainerRecord) {
    return new Promise<NonNullable<ContainerState['terminated']>>((resolve) => {
      const id = c.id ?? '';
      const signal = this.#controller.signal;
      const forget = () => this.#exitWaiters.delete(id);
      const done = (info: ContainerInfo) => {
        forget();
        signal.removeEventListener('abort', forget);
        resolve(this.#terminatedState(info));
      };
      this.#exitWaiters.set(id, done);
      // It may have exited before we started waiting.
      void this.#deps.backend.inspectContainer(id).then(
        (info) => {
          if (!info.running && this.#exitWaiters.get(id) === done) done(info);
        },
        () => undefined,
      );
      signal.addEventListener('abort', forget, { once: true });
    });
  }

  /** Podman reported that one of this pod's containers died (or the resync found it stopped). */
  containerExited(info: ContainerInfo): void {
    this.#exitWaiters.get(info.id)?.(info);
  }

  /** Re-reads every container from Podman (after missed events, or to resync). */
  async resync(): Promise<void> {
    for (const c of this.#containers.values()) {
      if (!c.id || !c.state.running) continue;
      try {
        const info = await this.#deps.backend.inspectContainer(c.id);
        if (!info.running) this.containerExited(info);
      } catch {
        // Gone: the next event or resync tells more.
      }
    }
  }

  /** Stops one container with the grace period (its preStop hook first when terminating). */
  async #stop(c: ContainerRecord, graceSeconds: number, restartAfter = false): Promise<void> {
    if (!c.id || !c.state.running || c.stopping) return;
    c.stopping = true;
    try {
      this.#stopProbes(c);
      if (!restartAfter) c.ready = false;
      await this.#deps.backend.stopContainer(c.id, Math.max(0, Math.ceil(graceSeconds)));
    } catch (error) {
      this.#deps.logger.debug({ pod: this.key, container: c.spec.name, err: errorMessage(error) }, 'stop failed');
    } finally {
      c.stopping = false;
    }
  }

  /** Rewrites configMap/secret/projected volume files from their current sources. */
  async refreshVolumes(): Promise<void> {
    await this.#volumes.refresh();
  }

  /**
   * Terminates the pod: preStop hooks, then SIGTERM and SIGKILL after the grace period, as the
   * kubelet does. Resolves when every container has stopped.
   */
  async terminate(graceSeconds: number): Promise<void> {
    if (this.#terminating) return;
    this.#terminating = true;
    const deadline = this.#now() + graceSeconds * 1000;
    const running = [...this.#containers.values()].filter((c) => c.state.running && c.id);
    await Promise.all(
      running.map(async (c) => {
        this.#stopProbes(c);
        const hook = c.spec.lifecycle?.preStop;
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
        c.state = { terminated: this.#terminatedState(info) };
      } catch {
        if (!c.state.terminated)
          c.state = { terminated: { exitCode: 137, reason: 'Error', finishedAt: kubeTime(new Date(this.#now())) } };
      }
      c.ready = false;
      c.started = false;
    }
    this.#terminated = true;
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
    this.#controller.abort();
    this.#volumes.stop();
    try {
      await this.#deps.backend.removePod(this.podName);
    } catch (error) {
      this.#deps.logger.debug({ pod: this.key, err: errorMessage(error) }, 'remove pod failed');
    }
    await this.#volumes.remove();
    await rm(this.#dir, { recursive: true, force: true });
  }

  /** The Podman container ID of a container, for exec, attach and logs. */
  containerId(name: string): string | undefined {
    return this.#containers.get(name)?.id;
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
