/**
 * Pods: a Podman pod is an infra container holding the namespaces (network, IPC, UTS) that the
 * pod's containers join, which is what a Kubernetes pod sandbox is.
 */
import { PodmanError } from './errors.ts';
import type { PodmanTransport } from './transport.ts';

/** A port published on the host (Kubernetes `hostPort`); pods publish none by default. */
export interface PortMapping {
  containerPort: number;
  hostPort: number;
  protocol?: 'tcp' | 'udp' | 'sctp';
  /** Host address to bind; all addresses when empty. */
  hostIP?: string;
}

/** What to create: the fields of Podman's `PodSpecGenerator` the provider uses, in camelCase. */
export interface PodCreateSpec {
  name: string;
  labels?: Record<string, string>;
  /** The pod's hostname (the UTS namespace is shared, so every container sees it). */
  hostname?: string;
  /** Create an infra container (default true); without one the pod shares no namespaces. */
  infra?: boolean;
  /** Image of the infra container; by default Podman builds `localhost/podman-pause` from catatonit, offline. */
  infraImage?: string;
  /** Namespaces the containers share; default `ipc`, `net`, `uts` (what a Kubernetes pod shares). */
  sharedNamespaces?: ('ipc' | 'net' | 'uts' | 'pid' | 'cgroup')[];
  /**
   * Network mode: `bridge` (default as root: a veth on a Podman network, with its own IP),
   * `host`, or `none`.
   */
  networkMode?: 'bridge' | 'host' | 'none';
  /** Podman networks to join in bridge mode; the default network (`podman`) when empty. */
  networks?: string[];
  /** Published ports; none by default. */
  portMappings?: PortMapping[];
  dnsServers?: string[];
  dnsSearch?: string[];
  dnsOptions?: string[];
  /** Extra /etc/hosts entries, `hostname:ip` (Kubernetes `hostAliases`). */
  hostAdd?: string[];
  /** Leave /etc/hosts alone (each container gets its image's). */
  noManageHosts?: boolean;
  noManageResolvConf?: boolean;
  /** Namespaced sysctls for the pod, e.g. `net.ipv4.ip_unprivileged_port_start`. */
  sysctl?: Record<string, string>;
  /** Size of /dev/shm in bytes. */
  shmSize?: number;
  cgroupParent?: string;
  /** `continue` (default) keeps the infra container when the others exit; `stop` stops the pod. */
  exitPolicy?: 'continue' | 'stop';
}

/** A pod as `GET /libpod/pods/{name}/json` describes it. */
export interface PodInspect {
  id: string;
  name: string;
  /** `Created`, `Running`, `Degraded` (some containers running), `Stopped`, `Exited`, `Paused`, `Error`. */
  state: string;
  hostname: string;
  labels: Record<string, string>;
  created: Date | undefined;
  infraContainerId: string | undefined;
  sharedNamespaces: string[];
  networks: string[];
  cgroupPath: string;
  containers: { id: string; name: string; state: string }[];
}

/** A pod as listed by `GET /libpod/pods/json`. */
export interface PodSummary {
  id: string;
  name: string;
  /** Same values as {@link PodInspect.state}. */
  status: string;
  labels: Record<string, string>;
  created: Date | undefined;
  infraContainerId: string | undefined;
  networks: string[];
  containers: { id: string; name: string; status: string }[];
}

export interface ListPodsOptions {
  /** `key=value` (or just `key`) per label; a pod must match all. */
  labelFilters?: Record<string, string | undefined>;
  signal?: AbortSignal | undefined;
}

interface RawPodInspect {
  Id: string;
  Name: string;
  State: string;
  Hostname?: string;
  Labels?: Record<string, string> | null;
  Created?: string;
  InfraContainerID?: string;
  SharedNamespaces?: string[] | null;
  InfraConfig?: { Networks?: string[] | null };
  CgroupPath?: string;
  Containers?: { Id: string; Name: string; State: string }[] | null;
}

interface RawPodSummary {
  Id: string;
  Name: string;
  Status: string;
  Labels?: Record<string, string> | null;
  Created?: string;
  InfraId?: string;
  Networks?: string[] | null;
  Containers?: { Id: string; Names: string; Status: string }[] | null;
}

/** The JSON body of `POST /libpod/pods/create`. */
export function podCreateBody(spec: PodCreateSpec): Record<string, unknown> {
  const body: Record<string, unknown> = {
    name: spec.name,
    labels: spec.labels ?? {},
    shared_namespaces: spec.sharedNamespaces ?? ['ipc', 'net', 'uts'],
    no_infra: spec.infra === false,
    exit_policy: spec.exitPolicy ?? 'continue',
  };
  if (spec.hostname) body.hostname = spec.hostname;
  if (spec.infraImage) body.infra_image = spec.infraImage;
  if (spec.infra !== false) body.netns = { nsmode: spec.networkMode ?? 'bridge' };
  if (spec.networks && spec.networks.length > 0) {
    // The field has no JSON tag in Podman 4.3, so it is spelled as the Go field.
    body.Networks = Object.fromEntries(spec.networks.map((network) => [network, {}]));
  }
  if (spec.portMappings && spec.portMappings.length > 0) {
    body.portmappings = spec.portMappings.map((port) => ({
      container_port: port.containerPort,
      host_port: port.hostPort,
      protocol: port.protocol ?? 'tcp',
      ...(port.hostIP ? { host_ip: port.hostIP } : {}),
    }));
  }
  if (spec.dnsServers?.length) body.dns_server = spec.dnsServers;
  if (spec.dnsSearch?.length) body.dns_search = spec.dnsSearch;
  if (spec.dnsOptions?.length) body.dns_option = spec.dnsOptions;
  if (spec.hostAdd?.length) body.hostadd = spec.hostAdd;
  if (spec.noManageHosts) body.no_manage_hosts = true;
  if (spec.noManageResolvConf) body.no_manage_resolv_conf = true;
  if (spec.sysctl) body.sysctl = spec.sysctl;
  if (spec.shmSize !== undefined) body.shm_size = spec.shmSize;
  if (spec.cgroupParent) body.cgroup_parent = spec.cgroupParent;
  return body;
}

/** Podman's list filters as the `filters` query parameter (JSON of `map[string][]string`). */
export function labelFilterQuery(
  labels: Record<string, string | undefined> | undefined,
  extra: Record<string, string[]> = {},
): string | undefined {
  const filters: Record<string, string[]> = { ...extra };
  const entries = Object.entries(labels ?? {});
  if (entries.length > 0)
    filters.label = entries.map(([key, value]) => (value === undefined ? key : `${key}=${value}`));
  return Object.keys(filters).length > 0 ? JSON.stringify(filters) : undefined;
}

function podPath(name: string, suffix = ''): string {
  return `/libpod/pods/${encodeURIComponent(name)}${suffix}`;
}

/** Creates a pod (not started); resolves with its ID. A taken name is a PodmanError with status 409. */
export async function createPod(
  transport: PodmanTransport,
  spec: PodCreateSpec,
  signal?: AbortSignal,
): Promise<string> {
  const report = await transport.json<{ Id: string }>({
    method: 'POST',
    path: '/libpod/pods/create',
    body: podCreateBody(spec),
    signal,
    what: `creating pod "${spec.name}"`,
  });
  return report.Id;
}

/**
 * Starts the pod's containers (at first only its infra container). Already running is fine.
 * A container that fails to start is a PodmanError (409) with the runtime's message.
 */
export async function startPod(transport: PodmanTransport, name: string, signal?: AbortSignal): Promise<void> {
  await transport.call({ method: 'POST', path: podPath(name, '/start'), signal, what: `starting pod "${name}"` });
}

/**
 * Stops every container of the pod: their stop signal, then SIGKILL after `timeoutSeconds`.
 * Already stopped is fine.
 *
 * Podman 4.3's pod stop does nothing (304) unless *every* container runs — a pod whose init or
 * finished containers have exited is `Degraded` — so the containers still running are then
 * stopped one by one, the infra container last.
 */
export async function stopPod(
  transport: PodmanTransport,
  name: string,
  timeoutSeconds: number,
  signal?: AbortSignal,
): Promise<void> {
  const seconds = Math.max(1, Math.ceil(timeoutSeconds));
  const status = await transport.call({
    method: 'POST',
    path: podPath(name, '/stop'),
    // Podman treats t=0 as "each container's own stop timeout", so 0 is sent as 1.
    query: { t: seconds },
    signal,
    idleTimeoutMs: (seconds + 60) * 1000,
    what: `stopping pod "${name}"`,
  });
  if (status !== 304) return;
  const pod = await inspectPod(transport, name, signal);
  const running = pod.containers.filter((c) => c.state === 'running');
  const stop = (id: string) =>
    transport.call({
      method: 'POST',
      path: `/libpod/containers/${encodeURIComponent(id)}/stop`,
      query: { timeout: seconds },
      signal,
      idleTimeoutMs: (seconds + 60) * 1000,
      what: `stopping container "${id}" of pod "${name}"`,
    });
  await Promise.all(running.filter((c) => c.id !== pod.infraContainerId).map((c) => stop(c.id)));
  if (pod.infraContainerId && running.some((c) => c.id === pod.infraContainerId)) await stop(pod.infraContainerId);
}

/** Sends a signal (default SIGKILL) to every running container of the pod; a pod with none running is fine. */
export async function killPod(
  transport: PodmanTransport,
  name: string,
  killSignal = 'SIGKILL',
  signal?: AbortSignal,
): Promise<void> {
  try {
    await transport.call({
      method: 'POST',
      path: podPath(name, '/kill'),
      query: { signal: killSignal },
      signal,
      what: `killing pod "${name}"`,
    });
  } catch (error) {
    if (error instanceof PodmanError && error.status === 409 && /no running containers/.test(error.message)) return;
    throw error;
  }
}

/** Removes the pod and its containers (`force` also stops running ones). */
export async function removePod(
  transport: PodmanTransport,
  name: string,
  options: { force?: boolean; timeoutSeconds?: number; signal?: AbortSignal | undefined } = {},
): Promise<void> {
  await transport.call({
    method: 'DELETE',
    path: podPath(name),
    query: { force: options.force ?? false, timeout: options.timeoutSeconds },
    signal: options.signal,
    idleTimeoutMs: ((options.timeoutSeconds ?? 10) + 60) * 1000,
    what: `removing pod "${name}"`,
  });
}

export async function inspectPod(transport: PodmanTransport, name: string, signal?: AbortSignal): Promise<PodInspect> {
  const raw = await transport.json<RawPodInspect>({
    method: 'GET',
    path: podPath(name, '/json'),
    signal,
    what: `inspecting pod "${name}"`,
  });
  return {
    id: raw.Id,
    name: raw.Name,
    state: raw.State,
    hostname: raw.Hostname ?? '',
    labels: raw.Labels ?? {},
    created: raw.Created ? new Date(raw.Created) : undefined,
    infraContainerId: raw.InfraContainerID || undefined,
    sharedNamespaces: raw.SharedNamespaces ?? [],
    networks: raw.InfraConfig?.Networks ?? [],
    cgroupPath: raw.CgroupPath ?? '',
    containers: (raw.Containers ?? []).map((c) => ({ id: c.Id, name: c.Name, state: c.State })),
  };
}

export async function listPods(transport: PodmanTransport, options: ListPodsOptions = {}): Promise<PodSummary[]> {
  const raw = await transport.json<RawPodSummary[] | null>({
    method: 'GET',
    path: '/libpod/pods/json',
    query: { filters: labelFilterQuery(options.labelFilters) },
    signal: options.signal,
    what: 'listing pods',
  });
  return (raw ?? []).map((pod) => ({
    id: pod.Id,
    name: pod.Name,
    status: pod.Status,
    labels: pod.Labels ?? {},
    created: pod.Created ? new Date(pod.Created) : undefined,
    infraContainerId: pod.InfraId || undefined,
    networks: pod.Networks ?? [],
    containers: (pod.Containers ?? []).map((c) => ({ id: c.Id, name: c.Names, status: c.Status })),
  }));
}
