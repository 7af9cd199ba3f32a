/**
 * moto's server (an AWS emulator, `moto_server` from PyPI) for tests: started on 127.0.0.1 on a
 * free port as a child of the test process, with request recording on (so a test or benchmark
 * counts the AWS API calls that reached it), stopped by the test, and frozen for a while
 * (SIGSTOP/SIGCONT) to test an AWS outage without losing moto's in-memory state.
 *
 * moto keeps everything in memory; each server is a separate AWS "account" for its test file.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { cacheDir, HarnessError } from '../kube/binaries.ts';
import { freePort, readTail } from '../kube/processes.ts';
import { ensureMotoVenv, type MotoVenv } from './venv.ts';

/** A moto state-manager transition (docs.getmoto.org, "State Transitions"). */
export type MotoTransition =
  | { progression: 'immediate' }
  | { progression: 'manual'; times: number }
  | { progression: 'time'; seconds: number };

const READY_TIMEOUT_MS = 60_000;

interface ServerRecord {
  pid: number;
  owner: number;
}

const running = new Set<MotoServer>();
let exitHookInstalled = false;

/** One moto_server process. */
export class MotoServer {
  readonly venv: MotoVenv;
  readonly port: number;
  readonly dir: string;
  readonly logPath: string;
  /** Every request moto served, one JSON object a line (moto's recorder). */
  readonly recordingPath: string;
  readonly #recordPath: string;
  #child: ChildProcess | undefined;
  #frozen = false;

  constructor(venv: MotoVenv, port: number, dir: string) {
    this.venv = venv;
    this.port = port;
    this.dir = dir;
    this.logPath = join(dir, 'moto.log');
    this.recordingPath = join(dir, 'recording.jsonl');
    this.#recordPath = join(dir, 'server.json');
  }

  /** The endpoint the SDK's `endpoint` option takes. */
  get endpoint(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get running(): boolean {
    const child = this.#child;
    return child !== undefined && child.exitCode === null && child.signalCode === null;
  }

  get pid(): number | undefined {
    return this.running ? this.#child?.pid : undefined;
  }

  async start(): Promise<void> {
    if (this.running) return;
    const fd = openSync(this.logPath, 'a');
    let child: ChildProcess;
    try {
      child = spawn(this.venv.motoServer, ['-H', '127.0.0.1', '-p', String(this.port)], {
        stdio: ['ignore', fd, fd],
        env: {
          ...process.env,
          MOTO_ENABLE_RECORDING: '1',
          MOTO_RECORDER_FILEPATH: this.recordingPath,
          // Fargate tasks in moto get ENIs from EC2 in the same process; nothing here may reach AWS.
          AWS_ACCESS_KEY_ID: 'testing',
          AWS_SECRET_ACCESS_KEY: 'testing',
        },
      });
    } finally {
      closeSync(fd);
    }
    if (child.pid === undefined) throw new HarnessError(`could not start ${this.venv.motoServer}`);
    this.#child = child;
    running.add(this);
    installExitHook();
    writeFileSync(this.#recordPath, JSON.stringify({ pid: child.pid, owner: process.pid } satisfies ServerRecord));
    const deadline = Date.now() + READY_TIMEOUT_MS;
    for (;;) {
      if (!this.running) {
        running.delete(this);
        throw new HarnessError(`moto_server exited at start; log ${this.logPath}:\n${readTail(this.logPath, 15)}`);
      }
      try {
        const response = await fetch(`${this.endpoint}/moto-api/data.json`, { signal: AbortSignal.timeout(2000) });
        await response.arrayBuffer();
        if (response.ok) return;
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) {
        await this.stop();
        throw new HarnessError(`moto_server did not answer within ${READY_TIMEOUT_MS / 1000} s; log ${this.logPath}`);
      }
      await delay(100);
    }
  }

  /** Stops the server (SIGTERM, then SIGKILL); its state is gone. */
  async stop(): Promise<void> {
    const child = this.#child;
    if (child && this.running) {
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      if (this.#frozen) child.kill('SIGCONT');
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    }
    this.#frozen = false;
    this.#child = undefined;
    running.delete(this);
    rmSync(this.#recordPath, { force: true });
  }

  /**
   * Freezes the server for `ms` (SIGSTOP, then SIGCONT): connections are accepted by the kernel
   * but nothing answers, as when AWS is unreachable; moto's state survives.
   */
  async freeze(ms: number): Promise<void> {
    const child = this.#child;
    if (!child || !this.running) throw new HarnessError('moto_server is not running');
    child.kill('SIGSTOP');
    this.#frozen = true;
    try {
      await delay(ms);
    } finally {
      child.kill('SIGCONT');
      this.#frozen = false;
    }
  }

  /** POSTs to moto's own API (`/moto-api/...`). */
  async motoApi(path: string, body?: unknown): Promise<unknown> {
    const response = await fetch(`${this.endpoint}/moto-api/${path}`, {
      method: 'POST',
      ...(body === undefined ? {} : { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } }),
    });
    const text = await response.text();
    if (!response.ok) throw new HarnessError(`moto-api/${path} answered ${response.status}: ${text.slice(0, 300)}`);
    return text ? JSON.parse(text) : undefined;
  }

  /**
   * How ECS tasks move on. moto's default moves a task one state (RUNNING → DEACTIVATING →
   * STOPPING → DEPROVISIONING → STOPPED) per DescribeTasks call; `{progression: 'manual',
   * times: 1e6}` keeps them RUNNING until StopTask.
   */
  setTaskTransition(transition: MotoTransition): Promise<unknown> {
    return this.motoApi('state-manager/set-transition', { model_name: 'ecs::task', transition });
  }

  /** AWS API calls served so far, by operation (`ecs:RunTask`, `logs:GetLogEvents`…). */
  apiCalls(): Record<string, number> {
    const counts: Record<string, number> = {};
    if (!existsSync(this.recordingPath)) return counts;
    for (const line of readFileSync(this.recordingPath, 'utf8').split('\n')) {
      if (!line) continue;
      const entry = JSON.parse(line) as RecordedRequest;
      const operation = operationOf(entry);
      if (operation) counts[operation] = (counts[operation] ?? 0) + 1;
    }
    return counts;
  }

  /** Forgets the calls counted so far. */
  resetApiCalls(): void {
    writeFileSync(this.recordingPath, '');
  }

  killNow(): void {
    try {
      if (this.#frozen) this.#child?.kill('SIGCONT');
      this.#child?.kill('SIGKILL');
    } catch {
      // already gone
    }
    rmSync(this.#recordPath, { force: true });
  }
}

const SERVICE_OF_TARGET: Record<string, string> = {
  AmazonEC2ContainerServiceV20141113: 'ecs',
  Logs_20140328: 'logs',
};

interface RecordedRequest {
  headers?: Record<string, string>;
  body?: string;
  body_encoded?: boolean;
}

/** `ecs:RunTask` from a recorded request: JSON protocols name it in X-Amz-Target, EC2's query protocol in Action=. */
function operationOf(entry: RecordedRequest): string | undefined {
  const headers = Object.fromEntries(Object.entries(entry.headers ?? {}).map(([k, v]) => [k.toLowerCase(), v]));
  const target = headers['x-amz-target'];
  if (target) {
    const [prefix = '', operation = ''] = target.split('.');
    return `${SERVICE_OF_TARGET[prefix] ?? prefix}:${operation}`;
  }
  const body = entry.body_encoded ? Buffer.from(entry.body ?? '', 'base64').toString('utf8') : (entry.body ?? '');
  const action = /(?:^|&)Action=([A-Za-z]+)/.exec(body)?.[1];
  return action ? `ec2:${action}` : undefined;
}

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // A test process that ends without stopping its servers must not leave them behind.
  process.once('exit', () => {
    for (const server of running) server.killNow();
  });
}

/**
 * Stops servers whose test process died without stopping them (SIGKILL, a crash) and removes
 * their directories. A directory is named after its owner's pid.
 */
function reapOrphans(serversDir: string): void {
  for (const name of readdirSync(serversDir)) {
    const owner = Number(name.split('-')[0]);
    if (owner && alive(owner)) continue;
    try {
      const record = JSON.parse(readFileSync(join(serversDir, name, 'server.json'), 'utf8')) as ServerRecord;
      if (alive(record.pid) && cmdline(record.pid).includes('moto_server')) {
        process.kill(record.pid, 'SIGCONT');
        process.kill(record.pid, 'SIGKILL');
      }
    } catch {
      // no record (stopped cleanly), or the process is gone
    }
    rmSync(join(serversDir, name), { recursive: true, force: true });
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function cmdline(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  } catch {
    return '';
  }
}

let serverCounter = 0;

/** Builds the venv if needed and starts a moto server on a free port of 127.0.0.1. */
export async function startMotoServer(log: (line: string) => void = () => {}): Promise<MotoServer> {
  const venv = await ensureMotoVenv(log);
  const serversDir = join(cacheDir(), 'moto', 'servers');
  mkdirSync(serversDir, { recursive: true });
  reapOrphans(serversDir);
  const dir = join(serversDir, `${process.pid}-${++serverCounter}`);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  // Another process may take the port between freePort() and moto's bind: try a few.
  let lastError: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    const server = new MotoServer(venv, await freePort(), dir);
    try {
      await server.start();
      return server;
    } catch (error) {
      lastError = error;
    }
  }
  throw lastError;
}
