/**
 * When a container's process has ended, as Podman tells it: from its events, a periodic resync,
 * or the stop that ended it — all of them only hints to ask Podman, which alone knows the exit.
 * A container Podman still reports `stopping` has no exit code yet (and cannot be started again):
 * it is asked again shortly until the stop is over.
 */
import { isNotFound } from '../../errors.ts';
import type { ContainerInfo, PodmanBackend } from './runtime-api.ts';

/** While a container is `stopping`, or an inspect failed, it is asked again this often. */
const RECHECK_MS = 200;
/** Failed inspects before the next hint (event or resync) has to ask again: an unreachable Podman is not polled. */
const MAX_FAILED_RECHECKS = 10;

/** Podman has finished with the container's process: its exit code is known. `stopping` is not there yet. */
export function hasExited(info: ContainerInfo): boolean {
  return !info.running && (info.status === 'exited' || info.status === 'stopped');
}

export class ContainerExits {
  readonly #backend: PodmanBackend;
  readonly #now: () => number;
  /** Resolves a wait, by Podman container ID. */
  readonly #waiters = new Map<string, (info: ContainerInfo) => void>();
  /** Containers with a recheck scheduled. */
  readonly #rechecking = new Set<string>();

  constructor(backend: PodmanBackend, now: () => number) {
    this.#backend = backend;
    this.#now = now;
  }

  /**
   * Resolves with the container's state once its process has ended; never, if `signal` aborts
   * first. It may have ended already: Podman is asked at once.
   */
  wait(id: string, signal: AbortSignal): Promise<ContainerInfo> {
    return new Promise((resolve) => {
      const forget = () => this.#waiters.delete(id);
      this.#waiters.set(id, (info) => {
        forget();
        signal.removeEventListener('abort', forget);
        resolve(info);
      });
      signal.addEventListener('abort', forget, { once: true });
      void this.check(id);
    });
  }

  /** A hint that a container may have ended: Podman reported it (an event), with its state. */
  report(info: ContainerInfo): void {
    const waiter = this.#waiters.get(info.id);
    if (!waiter || info.running) return;
    if (hasExited(info)) waiter(info);
    else this.#recheck(info.id);
  }

  /** Asks Podman about a container that is waited for (a resync, or after a stop). */
  async check(id: string, failures = 0): Promise<void> {
    if (!this.#waiters.has(id)) return;
    let info: ContainerInfo;
    try {
      info = await this.#backend.inspectContainer(id);
    } catch (error) {
      if (isNotFound(error)) this.#waiters.get(id)?.(this.#vanished(id));
      else if (failures < MAX_FAILED_RECHECKS) this.#recheck(id, failures + 1);
      return;
    }
    this.report(info);
  }

  #recheck(id: string, failures = 0): void {
    if (this.#rechecking.has(id)) return;
    this.#rechecking.add(id);
    setTimeout(() => {
      this.#rechecking.delete(id);
      void this.check(id, failures);
    }, RECHECK_MS).unref();
  }

  /** What is reported for a container removed behind our back (`podman rm -f`). */
  #vanished(id: string): ContainerInfo {
    return {
      id,
      name: '',
      status: 'exited',
      running: false,
      exitCode: 137,
      oomKilled: false,
      startedAt: undefined,
      finishedAt: new Date(this.#now()),
      error: 'The container could not be located: it was removed from Podman',
      image: '',
      imageID: '',
      labels: {},
    };
  }
}
