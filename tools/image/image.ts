/**
 * Builds the virtual-kubelet OCI image with Podman: `localhost/virtual-kubelet:<package version>`
 * from the root filesystem of rootfs.ts and the Containerfile beside this file (FROM scratch:
 * nothing is pulled). The context lives in the cache (`<cache>/image/`), where the production
 * dependencies are kept between builds.
 */
import { execFile } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { cacheDir, HarnessError } from '../kube/binaries.ts';
import { withLock } from '../kube/lock.ts';
import { findExecutable } from '../podman/environment.ts';
import { assembleRootfs, installProductionDependencies, REPO_ROOT } from './rootfs.ts';

/** The image's repository; the tag is the package version. */
export const IMAGE_REPOSITORY = 'localhost/virtual-kubelet';

export function imageReference(): string {
  const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string };
  return `${IMAGE_REPOSITORY}:${pkg.version}`;
}

export interface ImageBuildOptions {
  /** Podman's global flags, e.g. `--root`/`--runroot` of a test store. Default: none (the user's store). */
  podmanArgs?: string[];
  /** Extra environment for podman (CONTAINERS_CONF of a test store). */
  podmanEnv?: NodeJS.ProcessEnv;
  log?: (line: string) => void;
}

export interface BuiltImage {
  reference: string;
  id: string;
  /** As `podman images` reports it: the uncompressed size of the layer. */
  sizeBytes: number;
}

function podman(args: string[], options: ImageBuildOptions): Promise<string> {
  const binary = findExecutable('podman');
  if (!binary) throw new HarnessError('podman not found: install it with `apt-get install -y podman`');
  return new Promise((resolveRun, reject) => {
    execFile(
      binary,
      [...(options.podmanArgs ?? []), ...args],
      { env: { ...process.env, ...options.podmanEnv }, maxBuffer: 16 * 1024 * 1024, timeout: 10 * 60_000 },
      (error, stdout, stderr) => {
        if (error) reject(new HarnessError(`podman ${args[0]} failed: ${stderr.trim() || error.message}`));
        else resolveRun(stdout);
      },
    );
  });
}

/** Assembles the root filesystem and builds the image; `dist/` must be built. */
export async function buildImage(options: ImageBuildOptions = {}): Promise<BuiltImage> {
  const log = options.log ?? ((line: string) => process.stderr.write(`image: ${line}\n`));
  const reference = imageReference();
  const root = join(cacheDir(), 'image');
  const context = join(root, 'context');
  mkdirSync(root, { recursive: true });
  // One build context for the machine: a test and `npm run image` must not assemble it at once.
  return withLock(join(root, 'build.lock'), log, async () => {
    installProductionDependencies(join(root, 'dependencies'), log);
    assembleRootfs(join(context, 'rootfs'), join(root, 'dependencies'), log);
    copyFileSync(join(REPO_ROOT, 'tools', 'image', 'Containerfile'), join(context, 'Containerfile'));
    return podmanBuild(reference, context, options, log);
  });
}

async function podmanBuild(
  reference: string,
  context: string,
  options: ImageBuildOptions,
  log: (line: string) => void,
): Promise<BuiltImage> {
  const version = reference.slice(reference.lastIndexOf(':') + 1);
  log(`podman build -t ${reference}`);
  await podman(
    [
      'build',
      '--format',
      'oci',
      '--pull=never',
      '--tag',
      reference,
      '--label',
      'org.opencontainers.image.title=virtual-kubelet',
      '--label',
      `org.opencontainers.image.version=${version}`,
      '--label',
      'org.opencontainers.image.licenses=Apache-2.0',
      '--file',
      join(context, 'Containerfile'),
      context,
    ],
    options,
  );
  const [id = '', size = '0'] = (
    await podman(['image', 'inspect', '--format', '{{.Id}} {{.Size}}', reference], options)
  )
    .trim()
    .split(' ');
  return { reference, id, sizeBytes: Number(size) };
}
