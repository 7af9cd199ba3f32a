/**
 * Whether the kernel's OOM killer killed a process of a container, for hosts where Podman does
 * not say (Podman 4.3 on cgroup v1 reports `OOMKilled: false` even then: conmon notices the
 * kill and writes its `oom` file, but into its working directory, where Podman never looks).
 *
 * Two witnesses, both on the Podman host itself (so only for a local service), asked in turn:
 * - the container's own memory cgroup counts its OOM kills (`oom_kill` in v1's memory.oom_control,
 *   v2's memory.events) — but only while the cgroup exists, and Podman's cleanup removes it
 *   within tens of milliseconds of the container's exit, usually before anyone can ask;
 * - the kernel log (/dev/kmsg), which records every memory-cgroup OOM kill with the cgroup of
 *   the killed task — the container's, which holds its ID — and keeps it after the cgroup is
 *   gone. The kubelet's OOM watcher (cAdvisor's oomparser) reads the same records.
 * Reading /dev/kmsg needs root (or CAP_SYSLOG); without it only the cgroup counter is asked.
 */
import { existsSync, constants as fsConstants, readFileSync } from 'node:fs';
import { type FileHandle, open } from 'node:fs/promises';
import { join } from 'node:path';

/** The OOM kill counter of a cgroup (v1 or v2), or undefined when the cgroup is gone or has none. */
export function cgroupOomKills(cgroupPath: string, root = '/sys/fs/cgroup'): number | undefined {
  const unified = existsSync(join(root, 'cgroup.controllers'));
  const file = unified
    ? join(root, cgroupPath, 'memory.events')
    : join(root, 'memory', cgroupPath, 'memory.oom_control');
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
  const match = /^oom_kill (\d+)$/m.exec(text);
  return match ? Number(match[1]) : undefined;
}

/**
 * The 64-hex container ID in a kernel log record of a memory-cgroup OOM kill, or undefined for
 * any other record. The record (`/dev/kmsg`: `prio,seq,usec,flags;text`) names the killed task's
 * cgroup: `oom-kill:constraint=CONSTRAINT_MEMCG,…,task_memcg=/libpod_parent/<pod>/libpod-<id>,…`
 * (`…/libpod-<id>.scope` with systemd).
 */
export function oomKilledContainer(record: string): string | undefined {
  const text = record.slice(record.indexOf(';') + 1);
  if (!text.startsWith('oom-kill:')) return undefined;
  const memcg = /(?:^|,)task_memcg=([^,\s]*)/.exec(text)?.[1] ?? '';
  return /libpod-([0-9a-f]{64})(?:\.scope)?(?:\/|$)/.exec(memcg)?.[1];
}

/** How many OOM-killed container IDs are remembered; older ones are forgotten first. */
const REMEMBERED = 4096;
const RECORD_BYTES = 8192;

export interface OomWitnessOptions {
  /** The cgroup file system. Default /sys/fs/cgroup. */
  cgroupRoot?: string;
  /** The kernel log device. Default /dev/kmsg. */
  kernelLog?: string;
}

/** Asks both witnesses; the kernel log is read on demand, from where the last read stopped. */
export class OomWitness {
  readonly #cgroupRoot: string;
  readonly #kernelLogPath: string;
  /** The kernel log, opened non-blocking on first use; null when it cannot be read here. */
  #kernelLog: Promise<FileHandle | null> | undefined;
  /** Containers the kernel log says were OOM-killed. */
  readonly #killed = new Set<string>();
  #reading: Promise<void> | undefined;

  constructor(options: OomWitnessOptions = {}) {
    this.#cgroupRoot = options.cgroupRoot ?? '/sys/fs/cgroup';
    this.#kernelLogPath = options.kernelLog ?? '/dev/kmsg';
  }

  /** True when a process of the container was OOM-killed; `cgroupPath` as Podman reported it while it ran. */
  async wasOomKilled(containerId: string, cgroupPath: string | undefined): Promise<boolean> {
    if (cgroupPath && (cgroupOomKills(cgroupPath, this.#cgroupRoot) ?? 0) > 0) return true;
    await this.#readKernelLog();
    return this.#killed.has(containerId);
  }

  close(): void {
    const log = this.#kernelLog;
    this.#kernelLog = Promise.resolve(null);
    void log?.then((handle) => handle?.close()).catch(() => undefined);
  }

  /** Reads the records written since the last read; concurrent callers share one read. */
  #readKernelLog(): Promise<void> {
    this.#reading ??= this.#readNewRecords().finally(() => {
      this.#reading = undefined;
    });
    return this.#reading;
  }

  async #readNewRecords(): Promise<void> {
    this.#kernelLog ??= open(this.#kernelLogPath, fsConstants.O_RDONLY | fsConstants.O_NONBLOCK).catch(() => null);
    const handle = await this.#kernelLog;
    if (!handle) return;
    const buffer = Buffer.alloc(RECORD_BYTES);
    for (;;) {
      let bytes: number;
      try {
        // Each read returns one record; EAGAIN when there is no newer one.
        ({ bytesRead: bytes } = await handle.read(buffer, 0, buffer.length, null));
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        if (code === 'EPIPE') continue; // records were overwritten before we read them: go on with the next
        if (code !== 'EAGAIN') this.close(); // not readable here after all
        return;
      }
      if (bytes === 0) return;
      const id = oomKilledContainer(buffer.toString('utf8', 0, bytes));
      if (id) this.#remember(id);
    }
  }

  #remember(id: string): void {
    if (this.#killed.size >= REMEMBERED) {
      const oldest = this.#killed.values().next().value;
      if (oldest !== undefined) this.#killed.delete(oldest);
    }
    this.#killed.add(id);
  }
}
