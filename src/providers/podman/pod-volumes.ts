/**
 * A pod's volumes on the host: emptyDir (a directory, or tmpfs for `medium: Memory`), hostPath,
 * and configMap/secret/downwardAPI/projected volumes written with the atomic writer, kept up to
 * date when their sources change (about a minute at most, like the kubelet) and with
 * service-account tokens renewed before they expire.
 */
import { existsSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join, normalize } from 'node:path';
import type { Container, Pod, Volume } from 'kubernetes-types/core/v1.js';
import { InvalidInputError } from '../../errors.ts';
import { parseQuantity } from '../../kube/quantity.ts';
import { AtomicWriter } from './atomic-writer.ts';
import type { ContainerMount } from './container-spec.ts';
import { isFileVolume, tokenLifetimes, type VolumeSources, volumeFiles } from './volume-files.ts';

const UNSUPPORTED = [
  'persistentVolumeClaim',
  'nfs',
  'iscsi',
  'csi',
  'ephemeral',
  'image',
  'glusterfs',
  'rbd',
  'cephfs',
  'fc',
  'azureDisk',
  'azureFile',
  'awsElasticBlockStore',
  'gcePersistentDisk',
  'gitRepo',
] as const;

interface PreparedVolume {
  source: string;
  type: 'bind' | 'tmpfs';
  options: string[];
  writer?: AtomicWriter;
  volume: Volume;
}

export class PodVolumes {
  readonly #pod: Pod;
  readonly #dir: string;
  readonly #sources: VolumeSources;
  readonly #prepared = new Map<string, PreparedVolume>();
  #tokenTimer: NodeJS.Timeout | undefined;

  constructor(pod: Pod, dir: string, sources: VolumeSources) {
    this.#pod = pod;
    this.#dir = dir;
    this.#sources = sources;
  }

  /** The ConfigMaps and Secrets the volumes read (to refresh them when those change). */
  dependencies(): { kind: 'ConfigMap' | 'Secret'; name: string }[] {
    const result: { kind: 'ConfigMap' | 'Secret'; name: string }[] = [];
    for (const volume of this.#pod.spec?.volumes ?? []) {
      if (volume.configMap?.name) result.push({ kind: 'ConfigMap', name: volume.configMap.name });
      if (volume.secret?.secretName) result.push({ kind: 'Secret', name: volume.secret.secretName });
      for (const source of volume.projected?.sources ?? []) {
        if (source.configMap?.name) result.push({ kind: 'ConfigMap', name: source.configMap.name });
        if (source.secret?.name) result.push({ kind: 'Secret', name: source.secret.name });
      }
    }
    return result;
  }

  /** Rejects volume types the provider cannot back, before anything is created. */
  static check(pod: Pod): void {
    for (const volume of pod.spec?.volumes ?? []) {
      const kind = UNSUPPORTED.find((k) => (volume as unknown as Record<string, unknown>)[k] !== undefined);
      if (kind)
        throw new InvalidInputError(
          `volume "${volume.name}": ${kind} volumes are not supported by the podman provider`,
        );
    }
  }

  /** Creates every volume on the host (idempotent). Throws MissingVolumeSourceError while a source is missing. */
  async prepare(): Promise<void> {
    PodVolumes.check(this.#pod);
    for (const volume of this.#pod.spec?.volumes ?? []) {
      if (this.#prepared.has(volume.name)) continue;
      const path = join(this.#dir, 'volumes', volume.name.replace(/[^a-zA-Z0-9_.-]/g, '_'));
      if (volume.emptyDir) {
        if (volume.emptyDir.medium === 'Memory') {
          const size = volume.emptyDir.sizeLimit ? Math.floor(parseQuantity(volume.emptyDir.sizeLimit)) : undefined;
          this.#prepared.set(volume.name, {
            source: 'tmpfs',
            type: 'tmpfs',
            options: size ? [`size=${size}`] : [],
            volume,
          });
        } else {
          mkdirSync(path, { recursive: true, mode: 0o777 });
          this.#prepared.set(volume.name, { source: path, type: 'bind', options: [], volume });
        }
      } else if (volume.hostPath) {
        this.#prepared.set(volume.name, { source: prepareHostPath(volume), type: 'bind', options: [], volume });
      } else if (isFileVolume(volume)) {
        const writer = new AtomicWriter(path);
        await writer.write(await volumeFiles(this.#pod, volume, this.#sources));
        this.#prepared.set(volume.name, { source: path, type: 'bind', options: [], writer, volume });
      } else {
        throw new InvalidInputError(
          `volume "${volume.name}": ${
            Object.keys(volume)
              .filter((k) => k !== 'name')
              .join(', ') || 'an empty volume source'
          } is not supported by the podman provider`,
        );
      }
    }
    this.#scheduleTokenRefresh();
  }

  /** Rewrites configMap/secret/downwardAPI/projected volumes from their current sources; true if a file changed. */
  async refresh(): Promise<boolean> {
    let changed = false;
    for (const prepared of this.#prepared.values()) {
      if (!prepared.writer) continue;
      try {
        changed =
          (await prepared.writer.write(await volumeFiles(this.#pod, prepared.volume, this.#sources))) || changed;
      } catch {
        // A source that vanished after start leaves the last content in place, as the kubelet does.
      }
    }
    return changed;
  }

  #scheduleTokenRefresh(): void {
    const lifetimes = (this.#pod.spec?.volumes ?? []).flatMap(tokenLifetimes);
    if (lifetimes.length === 0 || this.#tokenTimer) return;
    // Renew at 80% of the shortest lifetime, as the kubelet does.
    const ms = Math.min(...lifetimes) * 800;
    this.#tokenTimer = setInterval(() => void this.refresh(), ms);
    this.#tokenTimer.unref();
  }

  /** The mounts of one container. */
  mountsFor(container: Container): ContainerMount[] {
    return (container.volumeMounts ?? []).map((mount) => {
      const prepared = this.#prepared.get(mount.name);
      if (!prepared)
        throw new InvalidInputError(
          `container "${container.name}": volumeMount "${mount.name}" names no volume of the pod`,
        );
      const readOnly = mount.readOnly === true || (prepared.writer !== undefined && mount.readOnly !== false);
      const options = [...prepared.options, readOnly ? 'ro' : 'rw'];
      if (prepared.type === 'tmpfs') return { destination: mount.mountPath, type: 'tmpfs', source: 'tmpfs', options };
      let source = prepared.source;
      if (mount.subPath) {
        const sub = normalize(mount.subPath);
        if (sub.startsWith('..') || sub.startsWith('/'))
          throw new InvalidInputError(`volumeMount "${mount.name}": invalid subPath "${mount.subPath}"`);
        source = join(source, sub);
        if (!existsSync(source)) mkdirSync(source, { recursive: true });
      }
      return { destination: mount.mountPath, type: 'bind', source, options: [...options, 'rbind'] };
    });
  }

  /** Removes the pod's volume directories (not hostPath ones). */
  async remove(): Promise<void> {
    if (this.#tokenTimer) clearInterval(this.#tokenTimer);
    this.#tokenTimer = undefined;
    await rm(join(this.#dir, 'volumes'), { recursive: true, force: true });
  }

  stop(): void {
    if (this.#tokenTimer) clearInterval(this.#tokenTimer);
    this.#tokenTimer = undefined;
  }
}

function prepareHostPath(volume: Volume): string {
  const path = volume.hostPath?.path ?? '';
  const type = volume.hostPath?.type ?? '';
  const exists = existsSync(path);
  switch (type) {
    case 'DirectoryOrCreate':
      if (!exists) mkdirSync(path, { recursive: true, mode: 0o755 });
      break;
    case 'FileOrCreate':
      if (!exists) writeFileSync(path, '', { mode: 0o644 });
      break;
    case 'Directory':
      if (!exists || !statSync(path).isDirectory())
        throw new InvalidInputError(`hostPath volume "${volume.name}": ${path} is not a directory`);
      break;
    case 'File':
      if (!exists || !statSync(path).isFile())
        throw new InvalidInputError(`hostPath volume "${volume.name}": ${path} is not a file`);
      break;
    case 'Socket':
      if (!exists || !statSync(path).isSocket())
        throw new InvalidInputError(`hostPath volume "${volume.name}": ${path} is not a socket`);
      break;
    default:
      break;
  }
  return path;
}
