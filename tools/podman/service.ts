/**
 * A Podman API service for tests: `podman system service` on a socket of its own, over a
 * store of the harness's own, started and stopped (and stopped for a while, to test outages)
 * by the test that owns it.
 *
 * Isolation, and why this much: Podman as root keeps its containers, images and database in
 * a graph root (/var/lib/containers/storage) and its runtime state, locks and event log in
 * a run root and a tmp dir (/run/…). The harness gives Podman its own graph root, run root
 * and tmp dir (so its own database, event log and `alive` file) under a state directory, so
 * tests never see or touch the machine's other containers and may remove everything they
 * find. What stays shared, on purpose: the network setup (netavark's config in
 * /etc/containers/networks and its IPAM database in /run/containers/networks, which Podman
 * itself shares between all rootful instances so their pods never get the same IP), and the
 * shared-memory lock table, whose slots are allocated globally. runc, conmon and netavark run
 * unchanged. Podman reads this harness's containers.conf (through CONTAINERS_CONF, which conmon
 * passes on to the `podman container cleanup` it runs when a container exits) for:
 * runc as the runtime (crun does not work everywhere), `default_ulimits` at this process's
 * hard limits (nproc also at most `pid_max`, to which Podman lowers its own; as root Podman
 * asks for nofile=1048576, which fails where limits cannot be raised, and the pod infra
 * container can get limits no other way), and the paths above.
 *
 * Layout of the state directory (`$VK_PODMAN_DIR`, else `<cache>/podman/<store>`):
 *   containers.conf   the configuration above
 *   storage/          graph root: images (kept between runs: the busybox image is built once), containers
 *   sockets/          one socket per service process; several may share a store
 *   services/         pid files, so a service whose test process died is stopped by the next one
 *   logs/             each service's log
 * and of the runtime directory (`$VK_PODMAN_RUN_DIR`, else `/run/vk-podman/<store>`; Podman
 * refuses a run root longer than 50 characters, so it cannot live under the state directory):
 *   storage/          run root
 *   libpod/           tmp dir: locks' `alive` file, exit files, attach sockets, the event log
 *   boot_id           both are wiped after a reboot (boot ID changed), so Podman refreshes its state
 */
import { type ChildProcess, spawn } from 'node:child_process';
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { hostRlimits, PodmanClient } from '../../src/providers/podman/podman-client.ts';
import { cacheDir, HarnessError } from '../kube/binaries.ts';
import { withLock } from '../kube/lock.ts';
import { readTail } from '../kube/processes.ts';
import { bootId, findExecutable, podmanUnavailableReason } from './environment.ts';

export interface PodmanServiceOptions {
  /** Services with the same store name share images, pods and containers. Default `$VK_PODMAN_STORE` or `default`. */
  store?: string;
  /** Progress lines. Default: stderr. */
  log?: (line: string) => void;
  /** After the first start, create and start a throwaway pod to catch rlimit and runtime problems. Default true. */
  checkRuntime?: boolean;
  /** Podman's log level for the service log. Default `info` (one line per request). */
  logLevel?: 'debug' | 'info' | 'warn' | 'error';
}

/** The directories of one store. */
export interface PodmanStore {
  name: string;
  dir: string;
  /** Holds the run root and tmp dir. */
  runDir: string;
  graphRoot: string;
  runRoot: string;
  tmpDir: string;
  containersConf: string;
}

const READY_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 5_000;

/** The state directory of a store. */
export function podmanStoreDir(store: string): string {
  if (process.env.VK_PODMAN_DIR) return process.env.VK_PODMAN_DIR;
  return join(cacheDir(), 'podman', store);
}

/** The runtime directory of a store (short: Podman limits the run root to 50 characters). */
export function podmanRunDir(store: string): string {
  if (process.env.VK_PODMAN_RUN_DIR) return process.env.VK_PODMAN_RUN_DIR;
  return join('/run/vk-podman', store);
}

function storeLayout(name: string): PodmanStore {
  const dir = podmanStoreDir(name);
  const runDir = podmanRunDir(name);
  return {
    name,
    dir,
    runDir,
    graphRoot: join(dir, 'storage'),
    runRoot: join(runDir, 'storage'),
    tmpDir: join(runDir, 'libpod'),
    containersConf: join(dir, 'containers.conf'),
  };
}

/** containers.conf for the harness's services (see the module comment for why each line). */
export function containersConf(store: PodmanStore, limits: { nofile: number; nproc: number }): string {
  const path = ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'].join(':');
  return [
    '# Written by tools/podman/service.ts for the test harness; rewritten at every start.',
    '[containers]',
    // Podman reads these as type=hard:soft; equal values avoid caring.
    `default_ulimits = ["nofile=${limits.nofile}:${limits.nofile}", "nproc=${limits.nproc}:${limits.nproc}"]`,
    'log_driver = "k8s-file"',
    '',
    '[engine]',
    'runtime = "runc"',
    `tmp_dir = "${store.tmpDir}"`,
    'events_logger = "file"',
    `conmon_env_vars = ["PATH=${path}", "CONTAINERS_CONF=${store.containersConf}"]`,
    '',
    '[network]',
    'network_backend = "netavark"',
    '',
  ].join('\n');
}

/** Creates the store's directories and configuration; wipes runtime state from before a reboot. */
async function prepareStore(store: PodmanStore, log: (line: string) => void): Promise<void> {
  mkdirSync(store.dir, { recursive: true });
  await withLock(`${store.dir}.lock`, log, async () => {
    for (const sub of ['storage', 'sockets', 'services', 'logs']) mkdirSync(join(store.dir, sub), { recursive: true });
    const bootFile = join(store.runDir, 'boot_id');
    const boot = bootId();
    const previous = existsSync(bootFile) ? readFileSync(bootFile, 'utf8').trim() : undefined;
    if (previous !== boot) {
      if (previous !== undefined) log(`the machine rebooted since the last run: clearing ${store.runDir}`);
      rmSync(store.runDir, { recursive: true, force: true });
      mkdirSync(store.runDir, { recursive: true });
      writeFileSync(bootFile, `${boot}\n`);
    }
    const limits = hostRlimits() ?? [];
    const limit = (type: string) => limits.find((l) => l.type === type)?.hard ?? 1024;
    // Atomically: running services and their containers' cleanup processes read it at any time.
    const staged = `${store.containersConf}.${process.pid}`;
    writeFileSync(staged, containersConf(store, { nofile: limit('nofile'), nproc: limit('nproc') }));
    renameSync(staged, store.containersConf);
    reapOrphans(store, log);
    removeOldLogs(join(store.dir, 'logs'));
  });
}

interface ServiceRecord {
  pid: number;
  owner: number;
  socketPath: string;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function runsService(pid: number, socketPath: string): boolean {
  try {
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    return cmdline.includes('podman') && cmdline.includes(socketPath);
  } catch {
    return false;
  }
}

/** Service logs are kept for a day, for looking into failed runs. */
function removeOldLogs(dir: string): void {
  const cutoff = Date.now() - 24 * 3600 * 1000;
  for (const file of readdirSync(dir)) {
    const path = join(dir, file);
    try {
      if (statSync(path).mtimeMs < cutoff) rmSync(path, { force: true });
    } catch {
      // removed meanwhile
    }
  }
}

/** Stops services whose test process died without stopping them. */
function reapOrphans(store: PodmanStore, log: (line: string) => void): void {
  const dir = join(store.dir, 'services');
  for (const file of readdirSync(dir)) {
    let record: ServiceRecord;
    try {
      record = JSON.parse(readFileSync(join(dir, file), 'utf8')) as ServiceRecord;
    } catch {
      rmSync(join(dir, file), { force: true });
      continue;
    }
    if (alive(record.owner)) continue;
    if (runsService(record.pid, record.socketPath)) {
      log(`stopping an orphaned Podman service (pid ${record.pid}) left by process ${record.owner}`);
      try {
        process.kill(record.pid, 'SIGKILL');
      } catch {
        // gone meanwhile
      }
    }
    rmSync(join(dir, file), { force: true });
    rmSync(record.socketPath, { force: true });
  }
}

const running = new Set<PodmanService>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // A test process that ends without stopping its services (a failed assertion, a timeout)
  // must not leave them behind; kill is synchronous, which is all an exit handler may do.
  process.once('exit', () => {
    for (const service of running) service.killNow();
  });
}

let serviceCounter = 0;

/** One `podman system service` process and its socket; restartable on the same socket. */
export class PodmanService {
  readonly store: PodmanStore;
  readonly socketPath: string;
  readonly logPath: string;
  /** A client for the service's socket (it reconnects by itself after a restart). */
  readonly client: PodmanClient;
  readonly #log: (line: string) => void;
  readonly #logLevel: string;
  readonly #recordPath: string;
  #child: ChildProcess | undefined;

  constructor(store: PodmanStore, options: { log: (line: string) => void; logLevel: string }) {
    this.store = store;
    const id = `${process.pid}-${++serviceCounter}`;
    this.socketPath = join(store.dir, 'sockets', `${id}.sock`);
    this.logPath = join(store.dir, 'logs', `service-${id}.log`);
    this.#recordPath = join(store.dir, 'services', `${id}.json`);
    this.#log = options.log;
    this.#logLevel = options.logLevel;
    this.client = new PodmanClient(this.socketPath);
  }

  /** `unix://…`, as CONTAINER_HOST and the provider's config take it. */
  get address(): string {
    return `unix://${this.socketPath}`;
  }

  get running(): boolean {
    const child = this.#child;
    return child !== undefined && child.exitCode === null && child.signalCode === null;
  }

  /** The service's process ID while it runs. */
  get pid(): number | undefined {
    return this.running ? this.#child?.pid : undefined;
  }

  /** Starts the service (if it is not running) and waits until it answers. */
  async start(): Promise<void> {
    if (this.running) return;
    rmSync(this.socketPath, { force: true });
    const podman = findExecutable('podman') ?? 'podman';
    const fd = openSync(this.logPath, 'a');
    let child: ChildProcess;
    try {
      child = spawn(
        podman,
        [
          '--root',
          this.store.graphRoot,
          '--runroot',
          this.store.runRoot,
          `--log-level=${this.#logLevel}`,
          'system',
          'service',
          '--time=0',
          this.address,
        ],
        {
          stdio: ['ignore', fd, fd],
          env: { ...process.env, CONTAINERS_CONF: this.store.containersConf },
          // conmon inherits this directory and writes an `oom` file into it when a container is
          // OOM-killed: the store's, not wherever the tests were started from.
          cwd: this.store.dir,
        },
      );
    } finally {
      closeSync(fd);
    }
    if (child.pid === undefined) throw new HarnessError(`could not start ${podman}`);
    this.#child = child;
    running.add(this);
    installExitHook();
    writeFileSync(
      this.#recordPath,
      JSON.stringify({ pid: child.pid, owner: process.pid, socketPath: this.socketPath } satisfies ServiceRecord),
    );
    const deadline = Date.now() + READY_TIMEOUT_MS;
    for (;;) {
      if (!this.running) {
        running.delete(this);
        throw new HarnessError(
          `podman system service exited at start; log: ${this.logPath}\n${readTail(this.logPath, 15)}`,
        );
      }
      try {
        await this.client.ping(AbortSignal.timeout(2000));
        return;
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) {
        await this.stop();
        throw new HarnessError(
          `podman system service did not answer within ${READY_TIMEOUT_MS / 1000} s; log: ${this.logPath}`,
        );
      }
      await delay(50);
    }
  }

  /**
   * Stops the service (SIGTERM, then SIGKILL after 5 s). Containers keep running: conmon, not
   * the service, is their parent — as on a real host.
   */
  async stop(): Promise<void> {
    const child = this.#child;
    if (child && this.running) {
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
      await exited;
      clearTimeout(timer);
    }
    this.#child = undefined;
    running.delete(this);
    rmSync(this.#recordPath, { force: true });
    // Without the file, clients fail fast with ENOENT instead of hanging on a dead socket.
    rmSync(this.socketPath, { force: true });
  }

  /** Stops the service, keeps it down for `downtimeMs`, and starts it again on the same socket. */
  async restart(downtimeMs = 0): Promise<void> {
    await this.stop();
    if (downtimeMs > 0) {
      this.#log(`Podman service down for ${downtimeMs} ms`);
      await delay(downtimeMs);
    }
    await this.start();
  }

  /** Force-removes every pod (and its containers) with these labels, e.g. a test's own. */
  async removePods(labelFilters: Record<string, string | undefined>): Promise<void> {
    const pods = await this.client.listPods({ labelFilters });
    // SIGKILL first: a forced remove stops containers one by one with their stop timeouts.
    await Promise.all(
      pods.map(async (pod) => {
        await this.client.killPod(pod.name).catch(() => {});
        await this.client.removePod(pod.name, true, { timeoutSeconds: 0 }).catch(() => {});
      }),
    );
  }

  /** Stops the service and closes the client. */
  async close(): Promise<void> {
    await this.stop();
    this.client.close();
  }

  /** For the exit hook: kills the process without waiting. */
  killNow(): void {
    try {
      this.#child?.kill('SIGKILL');
    } catch {
      // already gone
    }
    rmSync(this.#recordPath, { force: true });
    rmSync(this.socketPath, { force: true });
  }
}

/**
 * Starts a Podman service over the harness's store and waits until it answers (and, unless
 * `checkRuntime` is false, until a pod can start). Throws a HarnessError that says what to do
 * when the machine cannot run it.
 */
export async function startPodmanService(options: PodmanServiceOptions = {}): Promise<PodmanService> {
  const reason = podmanUnavailableReason();
  if (reason) throw new HarnessError(reason);
  const log = options.log ?? ((line: string) => process.stderr.write(`podman: ${line}\n`));
  const store = storeLayout(options.store ?? process.env.VK_PODMAN_STORE ?? 'default');
  await prepareStore(store, log);
  const service = new PodmanService(store, { log, logLevel: options.logLevel ?? 'info' });
  await service.start();
  if (options.checkRuntime ?? true) {
    try {
      await service.client.checkRuntime();
    } catch (error) {
      await service.close();
      throw new HarnessError(
        `Podman cannot start a pod on this machine: ${(error as Error).message}; service log: ${service.logPath}`,
        { cause: error },
      );
    }
  }
  return service;
}
