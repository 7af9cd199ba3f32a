/**
 * The service itself: liveness, the host it runs on, its version.
 */
import type { PodmanTransport } from './transport.ts';

/** The host and engine as `GET /libpod/info` describes them (the fields the provider uses). */
export interface PodmanInfo {
  hostname: string;
  arch: string;
  os: string;
  kernel: string;
  /** e.g. `debian 12`. */
  distribution: string;
  cpus: number;
  /** Bytes. */
  memTotal: number;
  /** Bytes. */
  memFree: number;
  /** `v1` or `v2`. */
  cgroupVersion: string;
  /** `cgroupfs` or `systemd`. */
  cgroupManager: string;
  /** The cgroup controllers containers can use (`cpu`, `memory`, …): what limits the host can enforce. */
  cgroupControllers: string[];
  ociRuntime: { name: string; path: string; version: string };
  /** `netavark` or `cni`. */
  networkBackend: string;
  rootless: boolean;
  /** Default log driver for new containers, e.g. `k8s-file`. */
  logDriver: string;
  /** `file` or `journald`: where the event stream comes from. */
  eventLogger: string;
  graphRoot: string;
  runRoot: string;
  /** Podman's version, e.g. `4.3.1`. */
  version: string;
}

/** `GET /libpod/version`. */
export interface PodmanVersion {
  /** e.g. `4.3.1`. */
  version: string;
  /** The Docker-compatible API version, e.g. `1.41`. */
  apiVersion: string;
  goVersion: string;
  os: string;
  arch: string;
  kernelVersion: string;
  /** Component versions: `Conmon`, `OCI Runtime (runc)`… */
  components: Record<string, string>;
}

interface RawInfo {
  host: {
    hostname: string;
    arch: string;
    os: string;
    kernel: string;
    distribution?: { distribution?: string; version?: string };
    cpus: number;
    memTotal: number;
    memFree: number;
    cgroupVersion: string;
    cgroupManager: string;
    cgroupControllers?: string[];
    ociRuntime?: { name?: string; path?: string; version?: string };
    networkBackend?: string;
    security?: { rootless?: boolean };
    logDriver?: string;
    eventLogger?: string;
  };
  store: { graphRoot: string; runRoot: string };
  version: { Version: string };
}

interface RawVersion {
  Version: string;
  ApiVersion: string;
  GoVersion: string;
  Os: string;
  Arch: string;
  KernelVersion: string;
  Components?: { Name: string; Version: string }[];
}

/** Resolves when the service answers `/_ping` with OK. */
export async function ping(transport: PodmanTransport, signal?: AbortSignal): Promise<void> {
  await transport.call({ method: 'GET', path: '/_ping', signal, idleTimeoutMs: 10_000, what: 'pinging Podman' });
}

export async function info(transport: PodmanTransport, signal?: AbortSignal): Promise<PodmanInfo> {
  const raw = await transport.json<RawInfo>({
    method: 'GET',
    path: '/libpod/info',
    signal,
    what: 'reading Podman host information',
  });
  const host = raw.host;
  return {
    hostname: host.hostname,
    arch: host.arch,
    os: host.os,
    kernel: host.kernel,
    distribution: [host.distribution?.distribution, host.distribution?.version].filter(Boolean).join(' '),
    cpus: host.cpus,
    memTotal: host.memTotal,
    memFree: host.memFree,
    cgroupVersion: host.cgroupVersion,
    cgroupManager: host.cgroupManager,
    cgroupControllers: host.cgroupControllers ?? [],
    ociRuntime: {
      name: host.ociRuntime?.name ?? '',
      path: host.ociRuntime?.path ?? '',
      version: host.ociRuntime?.version ?? '',
    },
    networkBackend: host.networkBackend ?? '',
    rootless: host.security?.rootless ?? false,
    logDriver: host.logDriver ?? '',
    eventLogger: host.eventLogger ?? '',
    graphRoot: raw.store.graphRoot,
    runRoot: raw.store.runRoot,
    version: raw.version.Version,
  };
}

export async function version(transport: PodmanTransport, signal?: AbortSignal): Promise<PodmanVersion> {
  const raw = await transport.json<RawVersion>({
    method: 'GET',
    path: '/libpod/version',
    signal,
    what: 'reading the Podman version',
  });
  return {
    version: raw.Version,
    apiVersion: raw.ApiVersion,
    goVersion: raw.GoVersion,
    os: raw.Os,
    arch: raw.Arch,
    kernelVersion: raw.KernelVersion,
    components: Object.fromEntries((raw.Components ?? []).map((c) => [c.Name, c.Version])),
  };
}
