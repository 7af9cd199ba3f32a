/**
 * Writes the files of a configMap, secret, downwardAPI or projected volume so that a container
 * never sees a half-updated set, the way the kubelet's AtomicWriter does: the files live in a
 * timestamped directory, `..data` is a symlink to it, and each visible name is a symlink through
 * `..data`. An update writes a new directory and swaps `..data` with one rename.
 */
import { randomBytes } from 'node:crypto';
import { lstat, mkdir, readdir, readlink, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { dirname, join, normalize, sep } from 'node:path';

const DATA_LINK = '..data';

/** One file of a volume: its path relative to the volume root, content and mode. */
export interface VolumeFile {
  path: string;
  content: Buffer;
  mode: number;
}

/** Rejects paths that would escape the volume (`..`, absolute paths, empty segments). */
export function validateVolumePath(path: string): string {
  const clean = normalize(path);
  if (
    !path ||
    clean.startsWith('..') ||
    clean.startsWith(sep) ||
    clean.split(sep).some((s) => s === '..' || s.startsWith('..'))
  ) {
    throw new Error(`invalid volume file path "${path}"`);
  }
  return clean;
}

/** A digest-free comparison key: the set of files and their contents and modes. */
function fingerprint(files: readonly VolumeFile[]): string {
  return JSON.stringify(
    [...files].sort((a, b) => (a.path < b.path ? -1 : 1)).map((f) => [f.path, f.mode, f.content.toString('base64')]),
  );
}

export class AtomicWriter {
  readonly root: string;
  #last: string | undefined;

  constructor(root: string) {
    this.root = root;
  }

  /** Makes the volume show exactly `files`; returns false when nothing changed. */
  async write(files: readonly VolumeFile[]): Promise<boolean> {
    const key = fingerprint(files);
    if (key === this.#last) return false;
    await mkdir(this.root, { recursive: true });
    const stamp = `..${new Date().toISOString().replace(/[:.]/g, '_')}.${randomBytes(4).toString('hex')}`;
    const dataDir = join(this.root, stamp);
    await mkdir(dataDir, { recursive: true, mode: 0o755 });
    for (const file of files) {
      const path = validateVolumePath(file.path);
      await mkdir(dirname(join(dataDir, path)), { recursive: true, mode: 0o755 });
      await writeFile(join(dataDir, path), file.content, { mode: file.mode });
    }
    // Swap ..data in one rename: readers see the old set or the new one, never a mix.
    const tmpLink = join(this.root, `..data_tmp.${randomBytes(4).toString('hex')}`);
    await symlink(stamp, tmpLink);
    let previous: string | undefined;
    try {
      previous = await readlink(join(this.root, DATA_LINK));
    } catch {
      previous = undefined;
    }
    await rename(tmpLink, join(this.root, DATA_LINK));
    // Top-level names point through ..data; names that went away are removed.
    const wanted = new Set(files.map((f) => validateVolumePath(f.path).split(sep)[0] as string));
    for (const name of wanted) {
      const link = join(this.root, name);
      try {
        await lstat(link);
      } catch {
        await symlink(join(DATA_LINK, name), link);
      }
    }
    for (const entry of await readdir(this.root)) {
      if (entry.startsWith('..') || wanted.has(entry)) continue;
      await rm(join(this.root, entry), { recursive: true, force: true });
    }
    if (previous && previous !== stamp) await rm(join(this.root, previous), { recursive: true, force: true });
    this.#last = key;
    return true;
  }
}
