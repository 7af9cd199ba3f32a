/**
 * The image's root filesystem, assembled from local parts only (no container registry is
 * reachable, so there is no base image):
 *
 *   usr/local/bin/node     the binary of the pinned `node` devDependency (stripped of debug symbols
 *                          when `strip` is installed: 126 → 108 MB)
 *   lib…/                  the shared libraries it links (glibc, libstdc++, libgcc_s…), from this
 *                          host, as `ldd` lists them, and the dynamic loader
 *   etc/ssl/certs/         this host's CA bundle (Debian's ca-certificates)
 *   etc/passwd, etc/group  root, nobody and `virtual-kubelet` (65532, the image's user)
 *   tmp/                   sticky, for a read-only root with an emptyDir over it — or without one
 *   app/                   package.json, bin/, dist/ and the production dependencies
 *                          (`npm ci --omit=dev` from package-lock.json, so the same versions)
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, copyFileSync, cpSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { HarnessError } from '../kube/binaries.ts';
import { findExecutable } from '../podman/environment.ts';

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** The image's user: not root, and the uid distroless images use, so policies that expect it match. */
export const IMAGE_UID = 65532;

const CA_BUNDLE = '/etc/ssl/certs/ca-certificates.crt';

/** The Node.js binary the pinned `node` package installed, checked against the pin. */
export function pinnedNodeBinary(): { path: string; version: string } {
  const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as {
    devDependencies: Record<string, string>;
  };
  const pinned = pkg.devDependencies.node;
  const path = join(REPO_ROOT, 'node_modules', 'node', 'bin', 'node');
  if (!pinned || !existsSync(path)) {
    throw new HarnessError(
      `${path} is missing: run npm ci first (the image takes Node.js from the pinned node package)`,
    );
  }
  const version = execFileSync(path, ['--version'], { encoding: 'utf8' }).trim();
  if (version !== `v${pinned}`) {
    throw new HarnessError(`${path} is ${version}, but package.json pins node ${pinned}: run npm ci`);
  }
  return { path, version };
}

/** The shared objects `binary` loads, by the absolute path the loader finds each at (the loader included). */
export function sharedLibraries(binary: string): string[] {
  let output: string;
  try {
    output = execFileSync('ldd', [binary], { encoding: 'utf8' });
  } catch (error) {
    throw new HarnessError(`ldd ${binary} failed (install libc-bin): ${(error as Error).message}`);
  }
  return parseLdd(output, binary);
}

/** The absolute paths in `ldd` output (the vDSO has none); a library `not found` is an error. */
export function parseLdd(output: string, binary: string): string[] {
  const paths: string[] = [];
  for (const line of output.split('\n')) {
    if (/not found/.test(line)) throw new HarnessError(`${binary} needs a library this host lacks: ${line.trim()}`);
    // `libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x…)` or `/lib64/ld-linux-x86-64.so.2 (0x…)`.
    const match = /=>\s+(\/\S+)/.exec(line) ?? /^\s*(\/\S+)\s+\(/.exec(line);
    if (match?.[1]) paths.push(match[1]);
  }
  return paths;
}

function write(root: string, path: string, content: string, mode = 0o644): void {
  const target = join(root, path);
  mkdirSync(dirname(target), { recursive: true });
  writeFileSync(target, content);
  chmodSync(target, mode);
}

/** Copies a host file into the root filesystem at the same path, following symlinks. */
function copyHostFile(root: string, path: string): void {
  const target = join(root, path);
  mkdirSync(dirname(target), { recursive: true });
  copyFileSync(path, target);
}

/**
 * Writes the root filesystem into `root` (emptied first). `dependencies` is a directory that
 * already holds `node_modules` for this package-lock.json (see {@link installProductionDependencies}).
 */
export function assembleRootfs(root: string, dependencies: string, log: (line: string) => void): void {
  if (!existsSync(CA_BUNDLE)) {
    throw new HarnessError(`${CA_BUNDLE} not found: install it with \`apt-get install -y ca-certificates\``);
  }
  for (const part of ['dist', 'bin']) {
    if (!existsSync(join(REPO_ROOT, part))) throw new HarnessError(`${part}/ is missing: run npm run build first`);
  }
  rmSync(root, { recursive: true, force: true });
  mkdirSync(root, { recursive: true });

  const node = pinnedNodeBinary();
  const nodeTarget = join(root, 'usr', 'local', 'bin', 'node');
  mkdirSync(dirname(nodeTarget), { recursive: true });
  const strip = findExecutable('strip', []);
  if (strip) execFileSync(strip, ['--strip-all', '-o', nodeTarget, node.path]);
  else copyFileSync(node.path, nodeTarget);
  chmodSync(nodeTarget, 0o755);
  const libraries = sharedLibraries(node.path);
  for (const library of libraries) copyHostFile(root, library);
  log(`node ${node.version}${strip ? ' (stripped)' : ''} and ${libraries.length} shared libraries from this host`);

  copyHostFile(root, CA_BUNDLE);
  write(
    root,
    'etc/passwd',
    `root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\nvirtual-kubelet:x:${IMAGE_UID}:${IMAGE_UID}:virtual-kubelet:/tmp:/sbin/nologin\n`,
  );
  write(root, 'etc/group', `root:x:0:\nnogroup:x:65534:\nvirtual-kubelet:x:${IMAGE_UID}:\n`);
  // glibc's resolver reads it; without one it would try DNS before /etc/hosts.
  write(root, 'etc/nsswitch.conf', 'hosts: files dns\n');
  mkdirSync(join(root, 'tmp'));
  chmodSync(join(root, 'tmp'), 0o1777);

  const app = join(root, 'app');
  mkdirSync(app);
  copyFileSync(join(REPO_ROOT, 'package.json'), join(app, 'package.json'));
  cpSync(join(REPO_ROOT, 'bin'), join(app, 'bin'), { recursive: true });
  // Declarations and their maps are for TypeScript users of the library, not for the CLI.
  cpSync(join(REPO_ROOT, 'dist'), join(app, 'dist'), {
    recursive: true,
    filter: (source) => !/\.d\.ts(\.map)?$/.test(source),
  });
  cpSync(join(dependencies, 'node_modules'), join(app, 'node_modules'), { recursive: true, verbatimSymlinks: true });
}

/**
 * `npm ci --omit=dev` in `dir` for this package-lock.json (the same versions the tests ran
 * with), skipped when `dir` already has them for the same lock file.
 */
export function installProductionDependencies(dir: string, log: (line: string) => void): void {
  const lock = readFileSync(join(REPO_ROOT, 'package-lock.json'));
  const pkg = readFileSync(join(REPO_ROOT, 'package.json'));
  const stamp = join(dir, 'installed-from');
  const key = createHash('sha256').update(pkg).update(lock).digest('hex');
  if (existsSync(stamp) && readFileSync(stamp, 'utf8') === key && existsSync(join(dir, 'node_modules'))) return;
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'package.json'), pkg);
  writeFileSync(join(dir, 'package-lock.json'), lock);
  log('npm ci --omit=dev (the production dependencies, at package-lock.json’s versions)');
  try {
    execFileSync(
      'npm',
      ['ci', '--omit=dev', '--ignore-scripts', '--no-audit', '--no-fund', '--prefer-offline', '--loglevel=error'],
      { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NODE_ENV: 'production' } },
    );
  } catch (error) {
    const stderr = (error as { stderr?: Buffer }).stderr?.toString().trim();
    throw new HarnessError(`npm ci --omit=dev failed in ${dir}: ${stderr || (error as Error).message}`);
  }
  writeFileSync(stamp, key);
}
