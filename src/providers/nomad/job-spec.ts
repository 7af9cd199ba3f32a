/**
 * A pod as a Nomad job: one task group of count 1 (one allocation = one pod), one task per
 * container. What a pod asks for that Nomad cannot express is refused here with an
 * InvalidInputError listing it, so the pod fails with that message instead of running differently.
 *
 * - restartPolicy: `Always` → a service job (Nomad restarts tasks whatever their exit code);
 *   `OnFailure` → a batch job whose failed tasks restart; `Never` → a batch job without restarts.
 *   Rescheduling to another node is off: a pod that failed is failed, as on a kubelet (its
 *   controller makes a new pod).
 * - init containers → prestart tasks; Nomad starts prestart tasks together, so when there are
 *   several each waits, in a small shell wrapper, for the one before it to leave a marker in the
 *   shared alloc dir (which needs `sh` in the image and an explicit command). Sidecar init
 *   containers (`restartPolicy: Always`) → prestart sidecars.
 * - resources: CPU requests → MHz (`mhzPerCore` per core), memory requests → MemoryMB, a higher
 *   memory limit → MemoryMaxMB (Nomad's memory oversubscription); no request → the defaults.
 * - the network: the group's network (bridge: one address per allocation, shared by its tasks);
 *   hostPort → a static port mapped to the container port.
 * - the pod's namespace, name, uid and node in the job's Meta, so a restarted virtual kubelet finds its jobs.
 */
import type { Container, Pod } from 'kubernetes-types/core/v1.js';
import { InvalidInputError } from '../../errors.ts';
import { gracePeriodSeconds, parseQuantity } from '../../provider/index.ts';
import type { NomadJob, NomadNetwork, NomadTask, NomadTaskGroup } from './api/types.ts';
import type { NomadConfig } from './config.ts';

export const META_NAMESPACE = 'vk.namespace';
export const META_NAME = 'vk.name';
export const META_UID = 'vk.uid';
export const META_NODE = 'vk.node';
/** The task group of every job. */
export const GROUP_NAME = 'pod';
/** Where chained init containers leave their markers (the alloc dir is mounted at /alloc in each task). */
const INIT_MARKERS = '/alloc/.virtual-kubelet-init';
/** Volumes the admission plugins add to every pod for its service account token: not mounted (see README). */
const SERVICE_ACCOUNT_VOLUME = /^kube-api-access-/;

export interface JobContext {
  config: NomadConfig;
  nodeName: string;
  /** MHz one CPU core of a request is worth. */
  mhzPerCore: number;
}

/** The job ID of a pod: `<prefix><namespace>.<name>` (namespaces have no dots, so it is unambiguous). */
export function jobId(prefix: string, namespace: string, name: string): string {
  return `${prefix}${namespace}.${name}`;
}

/** What the pod asks for that this provider cannot run on Nomad; empty when it can. */
export function unsupportedFeatures(pod: Pod): string[] {
  const spec = pod.spec;
  const problems: string[] = [];
  if (!spec) return ['a pod without a spec'];
  if (spec.hostNetwork) problems.push('hostNetwork');
  if (spec.hostPID) problems.push('hostPID');
  if (spec.hostIPC) problems.push('hostIPC');
  if (spec.shareProcessNamespace) problems.push('shareProcessNamespace');
  if (spec.ephemeralContainers?.length) problems.push('ephemeral containers');
  for (const volume of spec.volumes ?? []) {
    if (volume.emptyDir) continue;
    if (volume.projected && SERVICE_ACCOUNT_VOLUME.test(volume.name)) continue;
    const kind = Object.keys(volume).find((key) => key !== 'name') ?? 'unknown';
    problems.push(`volume "${volume.name}" (${kind}: only emptyDir volumes are supported)`);
  }
  for (const container of [...(spec.initContainers ?? []), ...spec.containers]) {
    const where = `container "${container.name}"`;
    if (container.lifecycle?.postStart || container.lifecycle?.preStop) problems.push(`${where}: lifecycle hooks`);
    if (container.stdin || container.tty) problems.push(`${where}: stdin/tty (Nomad tasks have no attachable stdin)`);
    if (container.volumeDevices?.length) problems.push(`${where}: volumeDevices`);
    for (const mount of container.volumeMounts ?? []) {
      if (mount.subPath || mount.subPathExpr) problems.push(`${where}: volume subPath`);
    }
  }
  return problems;
}

function bytesToMB(bytes: number): number {
  return Math.max(1, Math.ceil(bytes / (1024 * 1024)));
}

/** Nomad refuses a task with less memory than this. */
const MIN_MEMORY_MB = 10;

/** CPU MHz, MemoryMB and MemoryMaxMB of a container. */
export function taskResources(container: Container, context: JobContext): NomadTask['Resources'] {
  const requests = container.resources?.requests ?? {};
  const limits = container.resources?.limits ?? {};
  const cpu = requests.cpu ?? limits.cpu ?? context.config.defaultCpu;
  const memoryRequest = requests.memory ?? limits.memory;
  const memory = parseQuantity(memoryRequest ?? context.config.defaultMemory);
  const resources: NomadTask['Resources'] = {
    CPU: Math.max(1, Math.ceil(parseQuantity(cpu) * context.mhzPerCore)),
    MemoryMB: Math.max(MIN_MEMORY_MB, bytesToMB(memory)),
  };
  const limitMB = limits.memory ? bytesToMB(parseQuantity(limits.memory)) : 0;
  if (memoryRequest && limitMB > (resources.MemoryMB ?? 0)) resources.MemoryMaxMB = limitMB;
  return resources;
}

/** A shell wrapper that waits for the init container before it, runs the command, and marks success. */
export function chainedInitCommand(command: string[], previous: string | undefined, self: string): string[] {
  const wait = previous ? `until [ -e ${INIT_MARKERS}/${previous} ]; do sleep 0.1; done; ` : '';
  const script = `mkdir -p ${INIT_MARKERS}; ${wait}"$@"; rc=$?; if [ $rc -eq 0 ]; then : > ${INIT_MARKERS}/${self}; fi; exit $rc`;
  return ['/bin/sh', '-c', script, 'virtual-kubelet-init', ...command];
}

function dockerConfig(
  container: Container,
  command: string[] | undefined,
  args: string[] | undefined,
  pod: Pod,
  context: JobContext,
): Record<string, unknown> {
  const config: Record<string, unknown> = { ...context.config.dockerConfig, image: container.image };
  if (command) config.entrypoint = command;
  if (args?.length) config.args = args;
  if (container.workingDir) config.work_dir = container.workingDir;
  if (container.imagePullPolicy === 'Always') config.force_pull = true;
  const mounts = (container.volumeMounts ?? [])
    .filter((mount) => pod.spec?.volumes?.some((v) => v.name === mount.name && v.emptyDir))
    // A path relative to the task dir is allowed even where the client disables host volumes.
    .map((mount) => `../alloc/data/${mount.name}:${mount.mountPath}${mount.readOnly ? ':ro' : ''}`);
  if (mounts.length) config.volumes = mounts;
  const security = container.securityContext;
  if (security?.privileged) config.privileged = true;
  if (security?.capabilities?.add?.length) config.cap_add = security.capabilities.add.map((c) => c.toLowerCase());
  if (security?.capabilities?.drop?.length) config.cap_drop = security.capabilities.drop.map((c) => c.toLowerCase());
  if (security?.readOnlyRootFilesystem) config.readonly_rootfs = true;
  if (context.config.dockerEngine === 'podman' && context.config.networkMode === 'bridge') {
    // Podman's Docker API gives the docker driver's pause container no network namespace path,
    // so Nomad itself makes the namespace (see task()) and each container joins it; Nomad
    // interpolates the allocation ID.
    // biome-ignore lint/suspicious/noTemplateCurlyInString: Nomad's interpolation, not JavaScript's
    config.network_mode = 'ns:/var/run/netns/${NOMAD_ALLOC_ID}';
  }
  return config;
}

function execConfig(
  command: string[] | undefined,
  args: string[] | undefined,
  container: Container,
): Record<string, unknown> {
  const argv = [...(command ?? []), ...(args ?? [])];
  const [binary, ...rest] = argv;
  if (!binary) {
    throw new InvalidInputError(
      `container "${container.name}": the exec and raw_exec drivers run a host binary and need a command (the image is not used)`,
    );
  }
  return { command: binary, ...(rest.length ? { args: rest } : {}) };
}

function task(
  container: Container,
  pod: Pod,
  context: JobContext,
  overrides: { command?: string[]; args?: string[]; lifecycle?: NomadTask['Lifecycle'] },
): NomadTask {
  const command = overrides.command ?? container.command;
  const args = overrides.command ? [] : container.args;
  const driver = context.config.driver;
  const env: Record<string, string> = {};
  for (const variable of container.env ?? []) {
    if (variable.value !== undefined) env[variable.name] = variable.value;
  }
  const resources = taskResources(container, context);
  if (driver === 'docker' && context.config.dockerEngine === 'podman' && context.config.networkMode === 'bridge') {
    // Keeps the docker driver from claiming the group's network (see dockerConfig).
    resources.Networks = [{ Mode: 'host' }];
  }
  const result: NomadTask = {
    Name: container.name,
    Driver: driver,
    Config:
      driver === 'docker' ? dockerConfig(container, command, args, pod, context) : execConfig(command, args, container),
    Env: env,
    Resources: resources,
    KillTimeout: gracePeriodSeconds(pod) * 1e9,
    KillSignal: 'SIGTERM',
    LogConfig: { MaxFiles: context.config.logs.maxFiles, MaxFileSizeMB: context.config.logs.maxFileSizeMB },
  };
  const user = container.securityContext?.runAsUser ?? pod.spec?.securityContext?.runAsUser;
  const group = container.securityContext?.runAsGroup ?? pod.spec?.securityContext?.runAsGroup;
  if (user !== undefined) result.User = group !== undefined ? `${user}:${group}` : String(user);
  if (overrides.lifecycle) result.Lifecycle = overrides.lifecycle;
  return result;
}

function groupNetworks(pod: Pod, mode: string): NomadNetwork[] {
  const ports = [...(pod.spec?.initContainers ?? []), ...(pod.spec?.containers ?? [])].flatMap((c) =>
    (c.ports ?? []).filter((p) => p.hostPort).map((p) => ({ container: c.name, port: p })),
  );
  const network: NomadNetwork = { Mode: mode };
  if (ports.length) {
    network.ReservedPorts = ports.map(({ port }) => ({
      Label: `port-${port.hostPort}-${(port.protocol ?? 'TCP').toLowerCase()}`,
      Value: port.hostPort as number,
      To: port.containerPort,
    }));
  }
  return [network];
}

/** The Nomad job for a pod; throws InvalidInputError for what Nomad cannot express. */
export function jobFromPod(pod: Pod, context: JobContext): NomadJob {
  const problems = unsupportedFeatures(pod);
  if (problems.length > 0) {
    throw new InvalidInputError(`the nomad provider cannot run this pod: ${problems.join('; ')} are not supported`);
  }
  const spec = pod.spec as NonNullable<Pod['spec']>;
  const namespace = pod.metadata?.namespace ?? 'default';
  const name = pod.metadata?.name ?? '';
  const config = context.config;
  const restartPolicy = spec.restartPolicy ?? 'Always';
  const inits = spec.initContainers ?? [];
  const chained = inits.filter((c) => c.restartPolicy !== 'Always');
  const tasks: NomadTask[] = [];
  let previous: string | undefined;
  for (const container of inits) {
    if (container.restartPolicy === 'Always') {
      tasks.push(task(container, pod, context, { lifecycle: { Hook: 'prestart', Sidecar: true } }));
      continue;
    }
    let command: string[] | undefined;
    if (chained.length > 1) {
      const argv = [...(container.command ?? []), ...(container.args ?? [])];
      if (!container.command?.length) {
        throw new InvalidInputError(
          `init container "${container.name}" needs a command: Nomad starts prestart tasks together, and with several init containers each runs in a shell wrapper that waits for the one before it`,
        );
      }
      command = chainedInitCommand(argv, previous, container.name);
    }
    tasks.push(
      task(container, pod, context, {
        ...(command ? { command } : {}),
        lifecycle: { Hook: 'prestart', Sidecar: false },
      }),
    );
    previous = container.name;
  }
  for (const container of spec.containers) tasks.push(task(container, pod, context, {}));
  const nanos = (ms: number) => ms * 1e6;
  const group: NomadTaskGroup = {
    Name: GROUP_NAME,
    Count: 1,
    Tasks: tasks,
    Networks: groupNetworks(pod, config.networkMode),
    RestartPolicy:
      restartPolicy === 'Never'
        ? {
            Attempts: 0,
            Interval: nanos(config.restart.intervalMs),
            Delay: nanos(config.restart.delayMs),
            Mode: 'fail',
          }
        : {
            Attempts: config.restart.attempts,
            Interval: nanos(config.restart.intervalMs),
            Delay: nanos(config.restart.delayMs),
            Mode: 'delay',
          },
    ReschedulePolicy: { Attempts: 0, Unlimited: false },
  };
  const storage = spec.containers
    .map((c) => c.resources?.requests?.['ephemeral-storage'])
    .filter((q): q is string => Boolean(q))
    .reduce((sum, q) => sum + parseQuantity(q), 0);
  if (storage > 0) group.EphemeralDisk = { SizeMB: bytesToMB(storage) };
  const job: NomadJob = {
    ID: jobId(config.jobPrefix, namespace, name),
    Name: jobId(config.jobPrefix, namespace, name),
    Type: restartPolicy === 'Always' ? 'service' : 'batch',
    Namespace: config.namespace,
    Datacenters: config.datacenters,
    Meta: {
      [META_NAMESPACE]: namespace,
      [META_NAME]: name,
      [META_UID]: pod.metadata?.uid ?? '',
      [META_NODE]: context.nodeName,
    },
    TaskGroups: [group],
  };
  if (config.region) job.Region = config.region;
  if (config.nodePool) job.NodePool = config.nodePool;
  return job;
}

/** The images of a job's tasks by task name: what a pod adopted after a restart is compared on. */
export function jobImages(job: Pick<NomadJob, 'TaskGroups'>): Record<string, string> {
  const images: Record<string, string> = {};
  for (const t of job.TaskGroups[0]?.Tasks ?? []) {
    const image = t.Config.image;
    if (typeof image === 'string') images[t.Name] = image;
  }
  return images;
}
