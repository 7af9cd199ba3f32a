/**
 * Builds (or finds) the upstream control-plane binaries: etcd, kube-apiserver,
 * kube-controller-manager, kube-scheduler and kubectl.
 *
 * The versions are the ones pinned in tools/kube/go.mod; `KUBE_VERSION=v1.36.3` builds another
 * release from a module generated on the fly, and `KUBEBUILDER_ASSETS=/dir` (the envtest
 * convention) uses binaries that are already there. Builds are cached outside the repository,
 * keyed by version, so only the first one costs minutes.
 */
import { execFile, spawn } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { withLock } from './lock.ts';

const execFileAsync = promisify(execFile);

/** The directory of the pinned Go module. */
export const KUBE_MODULE_DIR = dirname(fileURLToPath(import.meta.url));

export const COMPONENTS = ['etcd', 'kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'kubectl'] as const;
export type Component = (typeof COMPONENTS)[number];

export interface Binaries {
  /** Kubernetes version, e.g. `v1.37.2`. */
  kubernetesVersion: string;
  etcdVersion: string;
  paths: Record<Component, string>;
}

/** Thrown with a message fit for a terminal: what failed and what to do. */
export class HarnessError extends Error {
  override name = 'HarnessError';
}

/** The release pinned in tools/kube/go.mod. */
export function pinnedVersions(): { kubernetes: string; etcd: string } {
  const goMod = readFileSync(join(KUBE_MODULE_DIR, 'go.mod'), 'utf8');
  const kubernetes = /^\s*k8s\.io\/kubernetes (v\S+)/m.exec(goMod)?.[1];
  const etcd = /^\s*go\.etcd\.io\/etcd\/server\/v3 (v\S+)/m.exec(goMod)?.[1];
  if (!kubernetes || !etcd) throw new HarnessError(`${KUBE_MODULE_DIR}/go.mod does not pin k8s.io/kubernetes and etcd`);
  return { kubernetes, etcd };
}

/** Where builds are cached: `$VK_CACHE_DIR`, else `$XDG_CACHE_HOME/virtual-kubelet`, else `~/.cache/virtual-kubelet`. */
export function cacheDir(): string {
  if (process.env.VK_CACHE_DIR) return process.env.VK_CACHE_DIR;
  return join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'virtual-kubelet');
}

/** Returns the binaries, building them first when the cache does not have them. */
export async function ensureBinaries(log: (line: string) => void = () => {}): Promise<Binaries> {
  const assets = process.env.KUBEBUILDER_ASSETS;
  if (assets) return fromAssetsDir(assets);
  const pinned = pinnedVersions();
  const kubernetesVersion = process.env.KUBE_VERSION || pinned.kubernetes;
  if (!/^v1\.\d+\.\d+$/.test(kubernetesVersion)) {
    throw new HarnessError(`KUBE_VERSION must look like v1.37.2, not "${kubernetesVersion}"`);
  }
  const root = join(cacheDir(), 'kube', kubernetesVersion);
  const binDir = join(root, 'bin');
  const stampPath = join(root, 'complete.json');
  const paths = Object.fromEntries(COMPONENTS.map((c) => [c, join(binDir, c)])) as Record<Component, string>;
  const cached = (): Binaries | undefined => {
    if (!existsSync(stampPath) || !COMPONENTS.every((c) => existsSync(paths[c]))) return undefined;
    const stamp = JSON.parse(readFileSync(stampPath, 'utf8')) as { etcdVersion: string };
    return { kubernetesVersion, etcdVersion: stamp.etcdVersion, paths };
  };
  const hit = cached();
  if (hit) return hit;
  mkdirSync(root, { recursive: true });
  return withLock(join(root, 'build.lock'), log, async () => {
    const again = cached();
    if (again) return again;
    const started = Date.now();
    const goVersion = await checkGo();
    log(
      `building Kubernetes ${kubernetesVersion} from its Go modules with ${goVersion} (the first build takes several minutes)`,
    );
    const moduleDir = join(root, 'module');
    prepareModule(moduleDir, kubernetesVersion, pinned.kubernetes);
    const logPath = join(root, 'build.log');
    rmSync(logPath, { force: true });
    const env = goEnv();
    if (kubernetesVersion !== pinned.kubernetes) await generateModule(moduleDir, kubernetesVersion, env, logPath, log);
    const etcdVersion = await goListVersion(moduleDir, 'go.etcd.io/etcd/server/v3', env);
    const ldflags = versionLdflags(kubernetesVersion);
    mkdirSync(binDir, { recursive: true });
    log('compiling kube-apiserver, kube-controller-manager, kube-scheduler and kubectl');
    await runLogged(
      'go',
      [
        'build',
        '-trimpath',
        '-tags',
        'selinux,notest,grpcnotrace',
        '-ldflags',
        ldflags,
        '-o',
        `${binDir}/`,
        'k8s.io/kubernetes/cmd/kube-apiserver',
        'k8s.io/kubernetes/cmd/kube-controller-manager',
        'k8s.io/kubernetes/cmd/kube-scheduler',
        'k8s.io/kubernetes/cmd/kubectl',
      ],
      moduleDir,
      env,
      logPath,
    );
    log(`compiling etcd ${etcdVersion}`);
    await runLogged(
      'go',
      ['build', '-trimpath', '-ldflags', '-s -w', '-o', join(binDir, 'etcd'), 'go.etcd.io/etcd/server/v3'],
      moduleDir,
      env,
      logPath,
    );
    writeFileSync(
      stampPath,
      `${JSON.stringify({ kubernetesVersion, etcdVersion, goVersion, builtAt: new Date().toISOString() })}\n`,
    );
    log(
      `built Kubernetes ${kubernetesVersion} and etcd ${etcdVersion} in ${Math.round((Date.now() - started) / 1000)} s into ${binDir}`,
    );
    return { kubernetesVersion, etcdVersion, paths };
  });
}

async function fromAssetsDir(dir: string): Promise<Binaries> {
  const paths = Object.fromEntries(COMPONENTS.map((c) => [c, join(dir, c)])) as Record<Component, string>;
  const missing = COMPONENTS.filter((c) => !existsSync(paths[c]));
  if (missing.length > 0) {
    throw new HarnessError(`KUBEBUILDER_ASSETS=${dir} lacks ${missing.join(', ')}; unset it to build them from source`);
  }
  const apiserver = (await execFileAsync(paths['kube-apiserver'], ['--version'])).stdout.trim();
  const etcd = (await execFileAsync(paths.etcd, ['--version'])).stdout;
  return {
    kubernetesVersion: apiserver.replace(/^Kubernetes\s+/, ''),
    etcdVersion: `v${/etcd Version: (\S+)/.exec(etcd)?.[1] ?? 'unknown'}`,
    paths,
  };
}

/** The environment for `go`: no toolchain downloads, static binaries, go.mod updated as needed. */
export function goEnv(): NodeJS.ProcessEnv {
  // A stray newer `go` line must fail loudly rather than try to download a toolchain;
  // the control plane is static so it runs anywhere.
  return { ...process.env, GOTOOLCHAIN: 'local', CGO_ENABLED: '0', GOFLAGS: '-mod=mod' };
}

/**
 * Returns `go env GOVERSION`, or fails with what to install. `purpose` and `alternative` finish the
 * message for builds other than the control plane's.
 */
export async function checkGo(
  purpose = 'the test control plane is built from the official Kubernetes Go modules',
  alternative = 'set KUBEBUILDER_ASSETS to a directory with etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kubectl',
): Promise<string> {
  let version: string;
  try {
    version = (await execFileAsync('go', ['env', 'GOVERSION'], { env: goEnv() })).stdout.trim();
  } catch {
    throw new HarnessError(
      `Go is not installed, and ${purpose}. ` +
        "Install Go 1.26 or newer (https://go.dev/dl, or your distribution's golang package), " +
        `or ${alternative}.`,
    );
  }
  const [major = 0, minor = 0] = version.replace(/^go/, '').split('.').map(Number);
  if (major < 1 || (major === 1 && minor < 26)) {
    throw new HarnessError(`Kubernetes 1.37 needs Go 1.26 or newer to build; this machine has ${version}`);
  }
  return version;
}

/** Copies the pinned module (or writes a skeleton for another release) into the cache. */
function prepareModule(moduleDir: string, version: string, pinnedVersion: string): void {
  mkdirSync(moduleDir, { recursive: true });
  if (version === pinnedVersion) {
    for (const file of ['go.mod', 'go.sum']) {
      writeFileSync(join(moduleDir, file), readFileSync(join(KUBE_MODULE_DIR, file)));
    }
    return;
  }
  const minor = version.split('.')[1];
  writeFileSync(
    join(moduleDir, 'go.mod'),
    `module virtual-kubelet.local/tools/kube\n\ngo 1.26.0\n\ngodebug default=go1.${Number(minor) >= 36 ? 26 : 25}\n`,
  );
  rmSync(join(moduleDir, 'go.sum'), { force: true });
}

/**
 * The staging modules that k8s.io/kubernetes requires at v0.0.0 and replaces with its own
 * directories: a consumer must replace each with the matching v0.<minor>.<patch> release.
 */
async function stagingModules(kubernetesVersion: string, env: NodeJS.ProcessEnv, cwd: string): Promise<string[]> {
  const { stdout } = await execFileAsync('go', ['mod', 'download', '-json', `k8s.io/kubernetes@${kubernetesVersion}`], {
    env,
    cwd,
  });
  const goModPath = (JSON.parse(stdout) as { GoMod: string }).GoMod;
  const goMod = readFileSync(goModPath, 'utf8');
  return [...goMod.matchAll(/^\s*(k8s\.io\/[\w-]+) => \.\/staging\//gm)].map((m) => m[1] as string);
}

async function generateModule(
  moduleDir: string,
  version: string,
  env: NodeJS.ProcessEnv,
  logPath: string,
  log: (line: string) => void,
): Promise<void> {
  log(`resolving the Go modules of Kubernetes ${version}`);
  const stagingVersion = version.replace(/^v1\./, 'v0.');
  for (const module of await stagingModules(version, env, moduleDir)) {
    await runLogged('go', ['mod', 'edit', `-replace=${module}=${module}@${stagingVersion}`], moduleDir, env, logPath);
  }
  await runLogged(
    'go',
    [
      'get',
      '-tool',
      ...['kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'kubectl'].map(
        (c) => `k8s.io/kubernetes/cmd/${c}@${version}`,
      ),
    ],
    moduleDir,
    env,
    logPath,
  );
  const etcd = await goListVersion(moduleDir, 'go.etcd.io/etcd/server/v3', env);
  await runLogged('go', ['get', '-tool', `go.etcd.io/etcd/server/v3@${etcd}`], moduleDir, env, logPath);
  await runLogged('go', ['mod', 'tidy'], moduleDir, env, logPath);
}

async function goListVersion(moduleDir: string, module: string, env: NodeJS.ProcessEnv): Promise<string> {
  const { stdout } = await execFileAsync('go', ['list', '-m', '-f', '{{.Version}}', module], { cwd: moduleDir, env });
  return stdout.trim();
}

/** `-ldflags` that stamp the version, so `kubectl version` reports the real release. */
export function versionLdflags(version: string): string {
  const [, major, minor] = /^v(\d+)\.(\d+)\./.exec(version) ?? [];
  const buildDate = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
  const values = { gitVersion: version, gitMajor: major, gitMinor: minor, gitTreeState: 'clean', buildDate };
  const flags = ['-s', '-w'];
  for (const pkg of ['k8s.io/component-base/version', 'k8s.io/client-go/pkg/version']) {
    for (const [key, value] of Object.entries(values)) flags.push(`-X '${pkg}.${key}=${value}'`);
  }
  return flags.join(' ');
}

/** Runs a command with its output appended to `logPath`; on failure the error names the log and quotes its end. */
export function runLogged(
  command: string,
  args: string[],
  cwd: string,
  env: NodeJS.ProcessEnv,
  logPath: string,
): Promise<void> {
  return new Promise((resolve, reject) => {
    const out = createWriteStream(logPath, { flags: 'a' });
    out.write(`$ ${command} ${args.join(' ')}\n`);
    const child = spawn(command, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.pipe(out, { end: false });
    child.stderr.pipe(out, { end: false });
    child.on('error', (error) => {
      out.end();
      reject(new HarnessError(`could not run ${command}: ${error.message}`));
    });
    child.on('close', (code) => {
      out.end(() => {
        if (code === 0) {
          resolve();
          return;
        }
        const tail = readFileSync(logPath, 'utf8').trimEnd().split('\n').slice(-20).join('\n');
        reject(new HarnessError(`${command} ${args[0]} failed (exit ${code}); full log: ${logPath}\n${tail}`));
      });
    });
  });
}
