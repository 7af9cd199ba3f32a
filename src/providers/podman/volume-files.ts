/**
 * The files of a configMap, secret, downwardAPI or projected volume, as the kubelet lays them
 * out: keys (or the listed items) as files, modes from the item, the source's defaultMode or
 * 0644, optional sources that may be missing, downward API values formatted as the kubelet does.
 */
import type { ConfigMap, KeyToPath, Pod, Secret, Volume, VolumeProjection } from 'kubernetes-types/core/v1.js';
import { InvalidInputError, NotFoundError } from '../../errors.ts';
import { type DownwardValues, formatMap, resolveFieldRef, resolveResourceFieldRef } from '../../provider/index.ts';
import type { VolumeFile } from './atomic-writer.ts';

const DEFAULT_MODE = 0o644;

/** What volume files are made from. */
export interface VolumeSources {
  getConfigMap(namespace: string, name: string): ConfigMap | undefined;
  getSecret(namespace: string, name: string): Secret | undefined;
  /** A token for a projected serviceAccountToken source (TokenRequest). */
  serviceAccountToken(pod: Pod, audience: string | undefined, expirationSeconds: number): Promise<string>;
  downward: DownwardValues;
  nodeAllocatable: Readonly<Record<string, string>>;
}

/** A volume whose source is missing: the pod cannot start until it appears. */
export class MissingVolumeSourceError extends NotFoundError {}

function keyData(
  data: Record<string, string> | undefined,
  binary: Record<string, string> | undefined,
  secret: boolean,
) {
  const result = new Map<string, Buffer>();
  for (const [key, value] of Object.entries(data ?? {}))
    result.set(key, secret ? Buffer.from(value, 'base64') : Buffer.from(value));
  for (const [key, value] of Object.entries(binary ?? {})) result.set(key, Buffer.from(value, 'base64'));
  return result;
}

/** Files for the keys of a configMap or secret, honouring `items` (missing listed keys are an error unless optional). */
function keyFiles(
  what: string,
  data: Map<string, Buffer>,
  items: KeyToPath[] | undefined,
  defaultMode: number,
  optional: boolean,
): VolumeFile[] {
  if (!items || items.length === 0) {
    return [...data].map(([key, content]) => ({ path: key, content, mode: defaultMode }));
  }
  const files: VolumeFile[] = [];
  for (const item of items) {
    const content = data.get(item.key);
    if (content === undefined) {
      if (optional) continue;
      throw new MissingVolumeSourceError(`configuration key "${item.key}" not found in ${what}`);
    }
    files.push({ path: item.path, content, mode: item.mode ?? defaultMode });
  }
  return files;
}

function configMapFiles(
  pod: Pod,
  source: { name?: string; items?: KeyToPath[]; optional?: boolean },
  defaultMode: number,
  sources: VolumeSources,
): VolumeFile[] {
  const namespace = pod.metadata?.namespace ?? '';
  const configMap = sources.getConfigMap(namespace, source.name ?? '');
  if (!configMap) {
    if (source.optional) return [];
    throw new MissingVolumeSourceError(`configmap "${source.name}" not found`);
  }
  const data = keyData(configMap.data, configMap.binaryData, false);
  return keyFiles(`ConfigMap ${namespace}/${source.name}`, data, source.items, defaultMode, source.optional === true);
}

function secretFiles(
  pod: Pod,
  name: string | undefined,
  items: KeyToPath[] | undefined,
  optional: boolean | undefined,
  defaultMode: number,
  sources: VolumeSources,
): VolumeFile[] {
  const namespace = pod.metadata?.namespace ?? '';
  const secret = sources.getSecret(namespace, name ?? '');
  if (!secret) {
    if (optional) return [];
    throw new MissingVolumeSourceError(`secret "${name}" not found`);
  }
  return keyFiles(
    `Secret ${namespace}/${name}`,
    keyData(secret.data, undefined, true),
    items,
    defaultMode,
    optional === true,
  );
}

function downwardFiles(
  pod: Pod,
  items:
    | {
        path: string;
        fieldRef?: { fieldPath: string; apiVersion?: string };
        resourceFieldRef?: { containerName?: string; resource: string; divisor?: string };
        mode?: number;
      }[]
    | undefined,
  defaultMode: number,
  sources: VolumeSources,
): VolumeFile[] {
  return (items ?? []).map((item) => {
    let value: string;
    if (item.fieldRef) {
      const path = item.fieldRef.fieldPath;
      // Whole maps are written as sorted key="value" lines, as the kubelet formats them.
      if (path === 'metadata.labels') value = formatMap(pod.metadata?.labels);
      else if (path === 'metadata.annotations') value = formatMap(pod.metadata?.annotations);
      else value = resolveFieldRef(item.fieldRef, pod, sources.downward);
    } else if (item.resourceFieldRef) {
      const container = pod.spec?.containers?.find((c) => c.name === item.resourceFieldRef?.containerName);
      if (!container)
        throw new InvalidInputError(`downwardAPI item ${item.path}: resourceFieldRef needs an existing containerName`);
      value = resolveResourceFieldRef(item.resourceFieldRef, pod, container, sources.nodeAllocatable);
    } else {
      throw new InvalidInputError(`downwardAPI item ${item.path} has neither fieldRef nor resourceFieldRef`);
    }
    return { path: item.path, content: Buffer.from(value), mode: item.mode ?? defaultMode };
  });
}

/** The kinds of volume whose content this module produces. */
export function isFileVolume(volume: Volume): boolean {
  return Boolean(volume.configMap || volume.secret || volume.downwardAPI || volume.projected);
}

/** The earliest token expiry among a projected volume's token sources, in seconds (to schedule a refresh). */
export function tokenLifetimes(volume: Volume): number[] {
  return (volume.projected?.sources ?? [])
    .filter((s: VolumeProjection) => s.serviceAccountToken)
    .map((s) => s.serviceAccountToken?.expirationSeconds ?? 3600);
}

/** Every file of a configMap, secret, downwardAPI or projected volume. */
export async function volumeFiles(pod: Pod, volume: Volume, sources: VolumeSources): Promise<VolumeFile[]> {
  if (volume.configMap) {
    return configMapFiles(pod, volume.configMap, volume.configMap.defaultMode ?? DEFAULT_MODE, sources);
  }
  if (volume.secret) {
    const s = volume.secret;
    return secretFiles(pod, s.secretName, s.items, s.optional, s.defaultMode ?? DEFAULT_MODE, sources);
  }
  if (volume.downwardAPI) {
    return downwardFiles(pod, volume.downwardAPI.items, volume.downwardAPI.defaultMode ?? DEFAULT_MODE, sources);
  }
  if (volume.projected) {
    const defaultMode = volume.projected.defaultMode ?? DEFAULT_MODE;
    const files: VolumeFile[] = [];
    for (const source of volume.projected.sources ?? []) {
      if (source.configMap) files.push(...configMapFiles(pod, source.configMap, defaultMode, sources));
      else if (source.secret) {
        files.push(
          ...secretFiles(pod, source.secret.name, source.secret.items, source.secret.optional, defaultMode, sources),
        );
      } else if (source.downwardAPI) files.push(...downwardFiles(pod, source.downwardAPI.items, defaultMode, sources));
      else if (source.serviceAccountToken) {
        const t = source.serviceAccountToken;
        const token = await sources.serviceAccountToken(pod, t.audience, t.expirationSeconds ?? 3600);
        files.push({ path: t.path, content: Buffer.from(token), mode: defaultMode });
      } else {
        throw new InvalidInputError(
          `projected volume "${volume.name}": unsupported source ${Object.keys(source).join(', ')}`,
        );
      }
    }
    return files;
  }
  throw new InvalidInputError(`volume "${volume.name}" is not a configMap, secret, downwardAPI or projected volume`);
}
