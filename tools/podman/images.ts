/**
 * Test images built on this machine (there is no registry to pull from): a busybox image from
 * Debian's `busybox-static` — one static binary and a symlink per applet, the way busybox
 * images are made — imported into the harness's Podman store.
 *
 * The image carries the hash of what went into it as a label, so it is built once per store
 * and rebuilt only when busybox (or this recipe) changes.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { PodmanClient } from '../../src/providers/podman/podman-client.ts';
import { HarnessError } from '../kube/binaries.ts';
import { withLock } from '../kube/lock.ts';
import { toolMissingReason } from './environment.ts';

/** Where Debian's busybox-static puts the binary. */
export const BUSYBOX_PATH = '/bin/busybox';

/** The busybox image's reference in the store. */
export const BUSYBOX_IMAGE = 'localhost/busybox:test';

/** Bumped when the recipe below changes, so cached images are rebuilt. */
const RECIPE_VERSION = '1';
const CONTENT_LABEL = 'io.virtual-kubelet.test.content';

/** One entry of the root filesystem. */
export interface RootfsEntry {
  path: string;
  type: 'file' | 'dir' | 'symlink';
  mode: number;
  data?: Buffer;
  /** For symlinks. */
  target?: string;
}

/**
 * The busybox root filesystem: /bin/busybox, a symlink in /bin for every applet it has (sh,
 * ls, cat, echo, sleep, httpd, wget, nc, tar, id, env, hostname, …), /etc/passwd and
 * /etc/group with root and nobody, a sticky /tmp, /root, /var/www and mount points.
 */
export function busyboxRootfs(busybox: Buffer, applets: readonly string[]): RootfsEntry[] {
  const dirs = ['bin', 'dev', 'etc', 'home', 'proc', 'root', 'run', 'sys', 'usr', 'usr/bin', 'var', 'var/www'];
  const entries: RootfsEntry[] = dirs.map((path) => ({ path, type: 'dir', mode: path === 'root' ? 0o700 : 0o755 }));
  entries.push({ path: 'tmp', type: 'dir', mode: 0o1777 });
  entries.push({ path: 'bin/busybox', type: 'file', mode: 0o755, data: busybox });
  for (const applet of [...new Set(applets)].sort()) {
    if (applet === 'busybox' || applet.includes('/')) continue;
    entries.push({ path: `bin/${applet}`, type: 'symlink', mode: 0o777, target: 'busybox' });
  }
  entries.push({ path: 'usr/bin/env', type: 'symlink', mode: 0o777, target: '../../bin/busybox' });
  entries.push({
    path: 'etc/passwd',
    type: 'file',
    mode: 0o644,
    data: Buffer.from('root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n'),
  });
  entries.push({ path: 'etc/group', type: 'file', mode: 0o644, data: Buffer.from('root:x:0:\nnogroup:x:65534:\n') });
  entries.push({ path: 'etc/hostname', type: 'file', mode: 0o644, data: Buffer.from('busybox\n') });
  return entries;
}

/**
 * A ustar archive of `entries`, owned by root, with a fixed mtime so equal content gives an
 * equal archive. (src/providers/mock/tar.ts has no symlinks, hence this small writer.)
 */
export function tarRootfs(entries: readonly RootfsEntry[]): Buffer {
  const parts: Buffer[] = [];
  for (const entry of entries) {
    const data = entry.type === 'file' ? (entry.data ?? Buffer.alloc(0)) : Buffer.alloc(0);
    const name = entry.type === 'dir' ? `./${entry.path}/` : `./${entry.path}`;
    if (Buffer.byteLength(name) > 100) throw new HarnessError(`path too long for this tar writer: ${entry.path}`);
    const header = Buffer.alloc(512);
    header.write(name, 0, 100, 'utf8');
    header.write(`${entry.mode.toString(8).padStart(7, '0')}\0`, 100, 8, 'ascii');
    header.write('0000000\0', 108, 8, 'ascii'); // uid
    header.write('0000000\0', 116, 8, 'ascii'); // gid
    header.write(`${data.length.toString(8).padStart(11, '0')}\0`, 124, 12, 'ascii');
    header.write(`${(0).toString(8).padStart(11, '0')}\0`, 136, 12, 'ascii'); // mtime: the epoch
    header.write('        ', 148, 8, 'ascii'); // checksum placeholder
    header.write(entry.type === 'file' ? '0' : entry.type === 'dir' ? '5' : '2', 156, 1, 'ascii');
    if (entry.target) header.write(entry.target, 157, 100, 'utf8');
    header.write('ustar\0', 257, 6, 'ascii');
    header.write('00', 263, 2, 'ascii');
    header.write('root', 265, 32, 'ascii');
    header.write('root', 297, 32, 'ascii');
    let sum = 0;
    for (const byte of header) sum += byte;
    header.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 8, 'ascii');
    parts.push(header, data, Buffer.alloc((512 - (data.length % 512)) % 512));
  }
  parts.push(Buffer.alloc(1024));
  return Buffer.concat(parts);
}

export interface BuiltImage {
  /** e.g. `localhost/busybox:test`. */
  reference: string;
  /** Image ID. */
  id: string;
  /** True when this call imported it (false: the cached image was current). */
  built: boolean;
}

/**
 * Builds the busybox image into the store behind `client` as {@link BUSYBOX_IMAGE} (or
 * `reference`), unless an image with the same content is there already. `lockDir` serializes
 * builds from parallel test processes sharing a store.
 */
export async function buildBusyboxImage(
  client: PodmanClient,
  options: { reference?: string; lockDir?: string; log?: (line: string) => void } = {},
): Promise<BuiltImage> {
  const missing = toolMissingReason('busybox', BUSYBOX_PATH);
  if (missing) throw new HarnessError(missing);
  const reference = options.reference ?? BUSYBOX_IMAGE;
  const log = options.log ?? ((line: string) => process.stderr.write(`podman: ${line}\n`));
  const busybox = readFileSync(BUSYBOX_PATH);
  const applets = execFileSync(BUSYBOX_PATH, ['--list'], { encoding: 'utf8' }).split('\n').filter(Boolean);
  const rootfs = busyboxRootfs(busybox, applets);
  const tarball = tarRootfs(rootfs);
  const content = createHash('sha256').update(RECIPE_VERSION).update(tarball).digest('hex').slice(0, 32);
  const build = async (): Promise<BuiltImage> => {
    if (await client.imageExists(reference)) {
      const image = await client.inspectImage(reference);
      if (image.labels[CONTENT_LABEL] === content) return { reference, id: image.id, built: false };
    }
    const started = performance.now();
    const id = await client.importImage(tarball, {
      reference,
      changes: [
        'CMD ["sh"]',
        'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
        'WORKDIR /',
        `LABEL ${CONTENT_LABEL}=${content}`,
      ],
      message: `busybox from ${BUSYBOX_PATH}`,
    });
    log(`built ${reference} (${applets.length} applets) in ${Math.round(performance.now() - started)} ms`);
    return { reference, id, built: true };
  };
  return options.lockDir ? withLock(options.lockDir, log, build) : build();
}
