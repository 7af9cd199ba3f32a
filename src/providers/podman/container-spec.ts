/**
 * Pure translation of a Kubernetes container into the Podman container to create: the command
 * line (Kubernetes' command/args against the image's entrypoint/cmd), environment, working
 * directory, user, security context, resource limits, mounts and rlimits.
 */
import type { Container, Pod, SecurityContext } from 'kubernetes-types/core/v1.js';
import { InvalidInputError } from '../../errors.ts';
import { parseQuantity } from '../../kube/quantity.ts';

/** What the provider needs from an image's config. */
export interface ImageConfig {
  entrypoint: string[];
  cmd: string[];
  workingDir: string;
  user: string;
  stopSignal?: string;
}

/** A mount into a container: a host directory (or tmpfs) at a path. */
export interface ContainerMount {
  destination: string;
  /** `bind` of a host path, or `tmpfs`. */
  type: 'bind' | 'tmpfs';
  source: string;
  options: string[];
}

/** The Podman (specgen) fields this provider sets; names are the REST API's. */
export interface ContainerCreateSpec {
  name: string;
  pod: string;
  image: string;
  entrypoint: string[];
  command: string[];
  env: Record<string, string>;
  work_dir?: string;
  user?: string;
  terminal: boolean;
  stdin: boolean;
  labels: Record<string, string>;
  annotations?: Record<string, string>;
  mounts: ContainerMount[];
  r_limits: { type: string; soft: number; hard: number }[];
  resource_limits?: { memory?: { limit?: number }; cpu?: { quota?: number; period?: number; shares?: number } };
  cap_add?: string[];
  cap_drop?: string[];
  privileged?: boolean;
  no_new_privileges?: boolean;
  read_only_filesystem?: boolean;
  stop_timeout?: number;
  oci_runtime?: string;
  /** Podman must not apply the image's volumes or restart on its own: the provider manages both. */
  image_volume_mode: 'ignore';
  restart_policy: 'no';
  log_configuration?: { driver: string; size?: number };
  /** Another container's process namespace to join (an ephemeral container's `targetContainerName`). */
  pidns?: { nsmode: 'container'; value: string };
}

/**
 * The process to run, as Kubernetes defines it: `command` replaces the image's entrypoint (and
 * then the image's cmd is not used); `args` replaces the image's cmd.
 */
export function containerArgv(container: Container, image: ImageConfig): string[] {
  if (container.command && container.command.length > 0) return [...container.command, ...(container.args ?? [])];
  return [...image.entrypoint, ...(container.args && container.args.length > 0 ? container.args : image.cmd)];
}

/** The user to run as, from the container's then the pod's security context (`uid[:gid]`), else the image's. */
export function containerUser(pod: Pod, container: Container, image: ImageConfig): string | undefined {
  const uid = container.securityContext?.runAsUser ?? pod.spec?.securityContext?.runAsUser;
  const gid = container.securityContext?.runAsGroup ?? pod.spec?.securityContext?.runAsGroup;
  if (uid === undefined && gid === undefined) return image.user || undefined;
  const user = uid ?? (image.user ? image.user.split(':')[0] : 0);
  return gid === undefined ? String(user) : `${user}:${gid}`;
}

function securityFields(security: SecurityContext | undefined): Partial<ContainerCreateSpec> {
  if (!security) return {};
  const fields: Partial<ContainerCreateSpec> = {};
  if (security.privileged) fields.privileged = true;
  if (security.readOnlyRootFilesystem) fields.read_only_filesystem = true;
  if (security.allowPrivilegeEscalation === false) fields.no_new_privileges = true;
  const add = security.capabilities?.add ?? [];
  const drop = security.capabilities?.drop ?? [];
  if (add.length > 0)
    fields.cap_add = add.map((c) => (c.toUpperCase().startsWith('CAP_') ? c.toUpperCase() : `CAP_${c.toUpperCase()}`));
  if (drop.length > 0) {
    fields.cap_drop = drop.map((c) =>
      c.toUpperCase() === 'ALL'
        ? 'ALL'
        : c.toUpperCase().startsWith('CAP_')
          ? c.toUpperCase()
          : `CAP_${c.toUpperCase()}`,
    );
  }
  return fields;
}

/** CPU and memory limits as cgroup settings (100 ms CFS period; quota in microseconds). */
export function resourceLimits(container: Container): ContainerCreateSpec['resource_limits'] | undefined {
  const limits = container.resources?.limits ?? {};
  const requests = container.resources?.requests ?? {};
  const result: NonNullable<ContainerCreateSpec['resource_limits']> = {};
  if (limits.memory) result.memory = { limit: Math.floor(parseQuantity(limits.memory)) };
  const cpuLimit = limits.cpu ? parseQuantity(limits.cpu) : undefined;
  const cpuRequest = requests.cpu ? parseQuantity(requests.cpu) : undefined;
  if (cpuLimit !== undefined || cpuRequest !== undefined) {
    result.cpu = {};
    if (cpuLimit !== undefined) {
      result.cpu.period = 100_000;
      result.cpu.quota = Math.max(1000, Math.round(cpuLimit * 100_000));
    }
    // The kubelet's request → shares mapping: 1024 shares per CPU, at least 2.
    if (cpuRequest !== undefined) result.cpu.shares = Math.max(2, Math.round(cpuRequest * 1024));
  }
  return Object.keys(result).length > 0 ? result : undefined;
}

/**
 * The limits the host can enforce: a cgroup controller the host does not offer (a rootless
 * Podman without delegation, a trimmed cgroup v1 hierarchy) would make the container fail to
 * start, so its limits are left out and named, for a warning. An empty controller list means
 * the host did not say: everything is kept.
 */
export function enforceableLimits(
  limits: ContainerCreateSpec['resource_limits'] | undefined,
  controllers: readonly string[],
): { limits: ContainerCreateSpec['resource_limits'] | undefined; dropped: string[] } {
  if (!limits || controllers.length === 0) return { limits, dropped: [] };
  const kept: NonNullable<ContainerCreateSpec['resource_limits']> = {};
  const dropped: string[] = [];
  if (limits.memory) {
    if (controllers.includes('memory')) kept.memory = limits.memory;
    else dropped.push('memory');
  }
  if (limits.cpu) {
    if (controllers.includes('cpu')) kept.cpu = limits.cpu;
    else dropped.push('cpu');
  }
  return { limits: Object.keys(kept).length > 0 ? kept : undefined, dropped };
}

/** The rlimits every container of ours gets (Podman adds the RLIMIT_ prefix itself). */
export function containerRlimits(ulimits: { nofile: number; nproc: number }): ContainerCreateSpec['r_limits'] {
  return [
    { type: 'nofile', soft: ulimits.nofile, hard: ulimits.nofile },
    { type: 'nproc', soft: ulimits.nproc, hard: ulimits.nproc },
  ];
}

export interface ContainerSpecOptions {
  podName: string;
  name: string;
  image: string;
  imageConfig: ImageConfig;
  env: Record<string, string>;
  mounts: ContainerMount[];
  labels: Record<string, string>;
  runtime: string;
  ulimits: { nofile: number; nproc: number };
  logMaxBytes?: number | undefined;
  /** Grace period for `podman stop`, in seconds. */
  stopTimeoutSeconds: number;
  /** CPU and memory limits, as far as the host can enforce them (see {@link enforceableLimits}). */
  resourceLimits: ContainerCreateSpec['resource_limits'] | undefined;
  /** The Podman container whose process namespace this one joins. */
  pidNamespaceOf?: string;
}

/** The Podman container for a Kubernetes container. */
export function containerCreateSpec(
  pod: Pod,
  container: Container,
  options: ContainerSpecOptions,
): ContainerCreateSpec {
  const argv = containerArgv(container, options.imageConfig);
  if (argv.length === 0) {
    throw new InvalidInputError(
      `container "${container.name}": no command given and the image ${options.image} defines none`,
    );
  }
  const user = containerUser(pod, container, options.imageConfig);
  const workDir = container.workingDir || options.imageConfig.workingDir;
  const limits = options.resourceLimits;
  return {
    name: options.name,
    pod: options.podName,
    image: options.image,
    // The whole argv as the entrypoint and no command: Podman must not mix in the image's cmd.
    entrypoint: argv,
    command: [],
    env: options.env,
    ...(workDir ? { work_dir: workDir } : {}),
    ...(user ? { user } : {}),
    terminal: container.tty === true,
    stdin: container.stdin === true,
    labels: options.labels,
    mounts: options.mounts,
    r_limits: containerRlimits(options.ulimits),
    ...(limits ? { resource_limits: limits } : {}),
    ...securityFields(container.securityContext),
    stop_timeout: options.stopTimeoutSeconds,
    oci_runtime: options.runtime,
    image_volume_mode: 'ignore',
    restart_policy: 'no',
    ...(options.logMaxBytes ? { log_configuration: { driver: 'k8s-file', size: options.logMaxBytes } } : {}),
    ...(options.pidNamespaceOf ? { pidns: { nsmode: 'container', value: options.pidNamespaceOf } } : {}),
  };
}
