/**
 * The node side of the Podman provider: the Node's capacity and allocatable (from the config, or
 * from the Podman host for what the config leaves out), its memory and disk pressure conditions,
 * and the cgroup controllers of the host, which decide the container limits it can enforce.
 */
import { statfsSync } from 'node:fs';
import { freemem, totalmem } from 'node:os';
import type { Node, NodeCondition } from 'kubernetes-types/core/v1.js';
import { parseQuantity } from '../../kube/quantity.ts';
import type { PodmanConfig } from './config.ts';
import type { HostInfo, PodmanBackend } from './runtime-api.ts';

/** How often capacity and pressure are published again. */
const PUBLISH_INTERVAL_MS = 30_000;
/** The kubelet's default pod capacity. */
const DEFAULT_PODS = '110';

export class PodmanNode {
  readonly #backend: PodmanBackend;
  readonly #config: PodmanConfig;
  readonly #signal: AbortSignal;
  #callback: ((node: Node) => void) | undefined;
  /** What limits the host can enforce, from Podman's host information (read at start and with the node status). */
  #cgroupControllers: string[] = [];
  #hostRead = false;

  constructor(backend: PodmanBackend, config: PodmanConfig, signal: AbortSignal) {
    this.#backend = backend;
    this.#config = config;
    this.#signal = signal;
  }

  /** The host's cgroup controllers; empty until the host has been read (then nothing is dropped). */
  get cgroupControllers(): readonly string[] {
    return this.#cgroupControllers;
  }

  /** The Node before registration: configured capacity, Podman's defaults for what is not configured. */
  configure(node: Node): void {
    const { capacity, reserved } = this.#config;
    const resources = { cpu: capacity.cpu ?? '4', memory: capacity.memory ?? '8Gi', pods: DEFAULT_PODS, ...capacity };
    Object.assign(node, {
      status: { ...node.status, capacity: { ...resources }, allocatable: allocatable(resources, reserved) },
    });
  }

  /** Publishes capacity and pressure now and every 30 s, until the provider stops. */
  notify(callback: (node: Node) => void): void {
    this.#callback = callback;
    void this.#publish();
    const timer = setInterval(() => void this.#publish(), PUBLISH_INTERVAL_MS);
    timer.unref();
    this.#signal.addEventListener('abort', () => clearInterval(timer), { once: true });
  }

  /** The host's description; its cgroup controllers are kept (they do not change while Podman runs). */
  async readHost(): Promise<HostInfo | undefined> {
    try {
      const host = await this.#backend.hostInfo(this.#signal);
      this.#cgroupControllers = host.cgroupControllers;
      this.#hostRead = true;
      return host;
    } catch {
      return undefined;
    }
  }

  /** Capacity from the host (unless configured) and pressure conditions, published to the node. */
  async #publish(): Promise<void> {
    const callback = this.#callback;
    if (!callback) return;
    const { capacity, reserved, stateDir } = this.#config;
    // Podman is asked only for what the config leaves out (or what an unreachable Podman left unread).
    const host = !capacity.cpu || !capacity.memory || !this.#hostRead ? await this.readHost() : undefined;
    const cpus = capacity.cpu ?? (host ? String(host.cpus) : undefined);
    const memory = capacity.memory ?? (host ? String(host.memoryBytes) : undefined);
    if (!cpus || !memory) return; // unreachable: ping reports it
    const resources = { ...capacity, cpu: cpus, memory, pods: capacity.pods ?? DEFAULT_PODS };
    const conditions = [memoryPressure(freemem() / totalmem()), diskPressure(freeDiskFraction(stateDir))];
    callback({ status: { capacity: resources, allocatable: allocatable(resources, reserved), conditions } });
  }
}

function memoryPressure(freeFraction: number): NodeCondition {
  return freeFraction < 0.05
    ? {
        type: 'MemoryPressure',
        status: 'True',
        reason: 'KubeletHasInsufficientMemory',
        message: 'available memory is below 5%',
      }
    : {
        type: 'MemoryPressure',
        status: 'False',
        reason: 'KubeletHasSufficientMemory',
        message: 'kubelet has sufficient memory available',
      };
}

function diskPressure(freeFraction: number): NodeCondition {
  return freeFraction < 0.1
    ? {
        type: 'DiskPressure',
        status: 'True',
        reason: 'KubeletHasDiskPressure',
        message: 'free disk space is below 10%',
      }
    : {
        type: 'DiskPressure',
        status: 'False',
        reason: 'KubeletHasNoDiskPressure',
        message: 'kubelet has no disk pressure',
      };
}

/** The free share of the file system holding the state directory; 1 while it does not exist yet. */
function freeDiskFraction(stateDir: string): number {
  try {
    const fs = statfsSync(stateDir);
    return fs.bavail / fs.blocks;
  } catch {
    return 1;
  }
}

/** Capacity minus reservations. */
export function allocatable(
  capacity: Record<string, string>,
  reserved: Record<string, string>,
): Record<string, string> {
  const result = { ...capacity };
  for (const [name, value] of Object.entries(reserved)) {
    const total = capacity[name];
    if (!total) continue;
    const remaining = parseQuantity(total) - parseQuantity(value);
    result[name] =
      name === 'cpu' ? `${Math.max(0, Math.floor(remaining * 1000))}m` : String(Math.max(0, Math.floor(remaining)));
  }
  return result;
}
