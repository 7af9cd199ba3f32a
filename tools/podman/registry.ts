/**
 * A private image registry for pull tests: Debian's `docker-registry` (the CNCF distribution
 * registry) on 127.0.0.1 with a free port, htpasswd basic auth, and plain HTTP.
 *
 * Plain HTTP rather than TLS, on purpose: Podman pulls from it per request with
 * `tlsVerify=false` (containers/image then tries HTTPS and falls back to HTTP), so nothing
 * machine-wide changes — no registries.conf `insecure` entry, no CA to trust — and the
 * provider exercises the same per-pull switch it offers for insecure registries.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import type { PodmanClient } from '../../src/providers/podman/podman-client.ts';
import { cacheDir, HarnessError } from '../kube/binaries.ts';
import { freePort } from '../kube/processes.ts';
import { findExecutable, toolMissingReason } from './environment.ts';
import { BUSYBOX_IMAGE } from './images.ts';

export interface RegistryOptions {
  username: string;
  password: string;
  /** Pushes `image` (default the busybox test image) with it; no push when omitted. */
  client?: PodmanClient;
  /** Local image to push. Default {@link BUSYBOX_IMAGE}. */
  image?: string;
  /** Repository and tag in the registry. Default `busybox:1`. */
  repository?: string;
  log?: (line: string) => void;
}

export interface TestRegistry {
  /** `127.0.0.1:<port>`: what image references start with. */
  host: string;
  /** `http://127.0.0.1:<port>`. */
  url: string;
  /** The pushed image, e.g. `127.0.0.1:<port>/busybox:1`. */
  image: string;
  username: string;
  password: string;
  /** Stops the registry and deletes its data. */
  stop(): Promise<void>;
}

const REGISTRY_BINARY = 'docker-registry';

function registriesDir(): string {
  return join(process.env.VK_PODMAN_DIR ?? join(cacheDir(), 'podman'), 'registries');
}

/** Status of `GET /v2/`: 401 once the registry serves (it wants credentials), 0 while it does not. */
function v2Status(port: number): Promise<number> {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, path: '/v2/', timeout: 2000 }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(0));
    req.end();
  });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Stops registries whose test process died, and deletes their data. */
function reapOrphans(): void {
  const dir = registriesDir();
  mkdirSync(dir, { recursive: true });
  for (const name of readdirSync(dir)) {
    const recordPath = join(dir, name, 'owner.json');
    let record: { pid: number; owner: number };
    try {
      record = JSON.parse(readFileSync(recordPath, 'utf8')) as { pid: number; owner: number };
    } catch {
      continue; // being created, or not ours
    }
    if (alive(record.owner)) continue;
    try {
      if (readFileSync(`/proc/${record.pid}/cmdline`, 'utf8').includes(REGISTRY_BINARY))
        process.kill(record.pid, 'SIGKILL');
    } catch {
      // gone
    }
    rmSync(join(dir, name), { recursive: true, force: true });
  }
}

function config(dir: string, port: number): string {
  return [
    'version: 0.1',
    'log:',
    '  level: warn',
    '  accesslog:',
    '    disabled: true',
    'storage:',
    '  filesystem:',
    `    rootdirectory: ${join(dir, 'data')}`,
    '  delete:',
    '    enabled: true',
    'http:',
    `  addr: 127.0.0.1:${port}`,
    `  secret: ${randomBytes(16).toString('hex')}`,
    'auth:',
    '  htpasswd:',
    '    realm: virtual-kubelet-test',
    `    path: ${join(dir, 'htpasswd')}`,
    '',
  ].join('\n');
}

/**
 * Starts the registry and, given a client, pushes the test image into it with the
 * credentials. Stop it with `stop()` (it also dies with the test process' successor, which
 * reaps orphans).
 */
export async function startRegistry(options: RegistryOptions): Promise<TestRegistry> {
  const missing = toolMissingReason('docker-registry') ?? toolMissingReason('htpasswd');
  if (missing) throw new HarnessError(missing);
  const log = options.log ?? ((line: string) => process.stderr.write(`registry: ${line}\n`));
  reapOrphans();
  const dir = join(registriesDir(), `${process.pid}-${randomBytes(3).toString('hex')}`);
  mkdirSync(join(dir, 'data'), { recursive: true });
  // bcrypt, the only hash the distribution registry accepts.
  const entry = execFileSync(findExecutable('htpasswd') ?? 'htpasswd', ['-Bbn', options.username, options.password], {
    encoding: 'utf8',
  });
  writeFileSync(join(dir, 'htpasswd'), `${entry.trim()}\n`, { mode: 0o600 });

  let child: ChildProcess | undefined;
  let port = 0;
  for (let attempt = 1; ; attempt++) {
    port = await freePort();
    writeFileSync(join(dir, 'config.yml'), config(dir, port));
    const logFd = openSync(join(dir, 'registry.log'), 'a');
    try {
      child = spawn(findExecutable(REGISTRY_BINARY) ?? REGISTRY_BINARY, ['serve', join(dir, 'config.yml')], {
        stdio: ['ignore', logFd, logFd],
      });
    } finally {
      closeSync(logFd);
    }
    const pid = child.pid;
    if (pid === undefined) throw new HarnessError(`could not start ${REGISTRY_BINARY}`);
    writeFileSync(join(dir, 'owner.json'), JSON.stringify({ pid, owner: process.pid }));
    const deadline = Date.now() + 15_000;
    let status = 0;
    while (Date.now() < deadline && child.exitCode === null) {
      status = await v2Status(port);
      if (status !== 0) break;
      await delay(50);
    }
    if (status === 401) break;
    child.kill('SIGKILL');
    const tail = readFileSync(join(dir, 'registry.log'), 'utf8').split('\n').slice(-10).join('\n');
    if (/address already in use/.test(tail) && attempt < 4) continue;
    rmSync(dir, { recursive: true, force: true });
    throw new HarnessError(`${REGISTRY_BINARY} did not start (GET /v2/ answered ${status}); its log:\n${tail}`);
  }
  const registryProcess = child;
  const host = `127.0.0.1:${port}`;
  const image = `${host}/${options.repository ?? 'busybox:1'}`;
  const stop = async () => {
    if (registryProcess.exitCode === null && registryProcess.signalCode === null) {
      const exited = new Promise((resolve) => registryProcess.once('exit', resolve));
      registryProcess.kill('SIGTERM');
      const timer = setTimeout(() => registryProcess.kill('SIGKILL'), 3000);
      await exited;
      clearTimeout(timer);
    }
    rmSync(dir, { recursive: true, force: true });
  };
  process.once('exit', () => registryProcess.kill('SIGKILL'));
  if (options.client) {
    const started = performance.now();
    try {
      await options.client.pushImage(options.image ?? BUSYBOX_IMAGE, {
        destination: image,
        auth: { username: options.username, password: options.password, serverAddress: host },
        tlsVerify: false,
      });
    } catch (error) {
      await stop();
      throw new HarnessError(
        `pushing ${options.image ?? BUSYBOX_IMAGE} to the test registry failed: ${(error as Error).message}`,
        {
          cause: error,
        },
      );
    }
    log(`pushed ${image} in ${Math.round(performance.now() - started)} ms`);
  }
  return { host, url: `http://${host}`, image, username: options.username, password: options.password, stop };
}
