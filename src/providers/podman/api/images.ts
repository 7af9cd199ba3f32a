/**
 * Images: existence, pull (with registry credentials), inspect for the defaults a container
 * inherits, and import/push (the test harness builds its images locally and serves them from
 * a local registry).
 */
import type { Readable } from 'node:stream';
import { isNotFound } from '../../../errors.ts';
import { ImagePullError, PodmanError } from './errors.ts';
import { jsonLines } from './json-stream.ts';
import type { PodmanTransport } from './transport.ts';

/** Registry credentials for one pull or push: a username and password, or an identity token. */
export type RegistryCredentials =
  | { username: string; password: string; serverAddress?: string }
  | { identityToken: string; serverAddress?: string };

export interface PullOptions {
  auth?: RegistryCredentials | undefined;
  /**
   * Verify the registry's TLS certificate (default true). False also lets Podman fall back to
   * plain HTTP, which a registry without TLS (a local test registry) needs.
   */
  tlsVerify?: boolean | undefined;
  /** Podman's pull policy; `always` (the default) asks the registry even if the image is present. */
  policy?: 'always' | 'missing' | 'newer' | 'never';
  /** Called with each progress line (`Copying blob …`, `Writing manifest…`). */
  onProgress?: (line: string) => void;
  signal?: AbortSignal | undefined;
}

/** What a container inherits from its image, from `GET /libpod/images/{name}/json`. */
export interface ImageInspect {
  /** The image ID (64 hex digits, no `sha256:` prefix). */
  id: string;
  /** Manifest digest, `sha256:…`. */
  digest: string;
  repoTags: string[];
  repoDigests: string[];
  created: Date | undefined;
  /** Bytes. */
  size: number;
  entrypoint: string[];
  cmd: string[];
  env: string[];
  workingDir: string;
  user: string;
  /** `80/tcp`, `53/udp`… */
  exposedPorts: string[];
  stopSignal: string;
  labels: Record<string, string>;
}

export interface ImportOptions {
  /** `name:tag` for the new image. */
  reference: string;
  /** Dockerfile-like changes: `CMD ["sh"]`, `ENV PATH=/bin`, `LABEL a=b`, `WORKDIR /`… */
  changes?: string[];
  message?: string;
  signal?: AbortSignal | undefined;
}

export interface PushOptions {
  /** Where to push, e.g. `127.0.0.1:5000/busybox:1`; defaults to the image's own name. */
  destination?: string;
  auth?: RegistryCredentials | undefined;
  tlsVerify?: boolean | undefined;
  signal?: AbortSignal | undefined;
}

interface RawImage {
  Id: string;
  Digest?: string;
  RepoTags?: string[] | null;
  RepoDigests?: string[] | null;
  Created?: string;
  Size?: number;
  User?: string;
  Config?: {
    User?: string;
    Env?: string[] | null;
    Entrypoint?: string[] | null;
    Cmd?: string[] | null;
    WorkingDir?: string;
    ExposedPorts?: Record<string, unknown> | null;
    StopSignal?: string;
    Labels?: Record<string, string> | null;
  };
}

interface PullReport {
  stream?: string;
  error?: string;
  images?: string[] | null;
  id?: string;
}

/**
 * The `X-Registry-Auth` header: base64url (with padding, which Go's decoder requires) of
 * Docker's `AuthConfig` JSON.
 */
export function registryAuthHeader(auth: RegistryCredentials): string {
  const config =
    'identityToken' in auth
      ? { identitytoken: auth.identityToken, serveraddress: auth.serverAddress ?? '' }
      : { username: auth.username, password: auth.password, serveraddress: auth.serverAddress ?? '' };
  return Buffer.from(JSON.stringify(config)).toString('base64').replaceAll('+', '-').replaceAll('/', '_');
}

function imagePath(reference: string, suffix: string): string {
  return `/libpod/images/${encodeURIComponent(reference)}${suffix}`;
}

export async function imageExists(
  transport: PodmanTransport,
  reference: string,
  signal?: AbortSignal,
): Promise<boolean> {
  try {
    await transport.call({
      method: 'GET',
      path: imagePath(reference, '/exists'),
      signal,
      what: `checking for image "${reference}"`,
    });
    return true;
  } catch (error) {
    if (isNotFound(error)) return false;
    throw error;
  }
}

/**
 * Pulls an image and resolves with its ID. Podman answers 200 at once and streams progress;
 * a failure arrives as the last line's `error`, which carries the registry's own message
 * (`unauthorized: authentication required`, `manifest unknown`…) and becomes an
 * {@link ImagePullError}.
 */
export async function pullImage(
  transport: PodmanTransport,
  reference: string,
  options: PullOptions = {},
): Promise<string> {
  const what = `pulling image "${reference}"`;
  let response: Awaited<ReturnType<PodmanTransport['request']>>;
  try {
    response = await transport.request({
      method: 'POST',
      path: '/libpod/images/pull',
      query: {
        reference,
        policy: options.policy ?? 'always',
        ...(options.tlsVerify === undefined ? {} : { tlsVerify: options.tlsVerify }),
      },
      headers: options.auth ? { 'X-Registry-Auth': registryAuthHeader(options.auth) } : undefined,
      signal: options.signal,
      stream: true,
      what,
    });
  } catch (error) {
    if (error instanceof PodmanError && !(error instanceof ImagePullError)) {
      throw new ImagePullError(reference, error.message.replace(`${what}: `, ''), error.status, { cause: error });
    }
    throw error;
  }
  let id: string | undefined;
  for await (const report of jsonLines<PullReport>(response.body)) {
    if (report.stream) options.onProgress?.(report.stream.trimEnd());
    if (report.error) throw new ImagePullError(reference, report.error.trim());
    if (report.id) id = report.id;
  }
  if (!id) throw new ImagePullError(reference, 'Podman ended the pull without an image ID or an error');
  return id;
}

export async function inspectImage(
  transport: PodmanTransport,
  reference: string,
  signal?: AbortSignal,
): Promise<ImageInspect> {
  const raw = await transport.json<RawImage>({
    method: 'GET',
    path: imagePath(reference, '/json'),
    signal,
    what: `inspecting image "${reference}"`,
  });
  const config = raw.Config ?? {};
  return {
    id: raw.Id.replace(/^sha256:/, ''),
    digest: raw.Digest ?? '',
    repoTags: raw.RepoTags ?? [],
    repoDigests: raw.RepoDigests ?? [],
    created: raw.Created ? new Date(raw.Created) : undefined,
    size: raw.Size ?? 0,
    entrypoint: config.Entrypoint ?? [],
    cmd: config.Cmd ?? [],
    env: config.Env ?? [],
    workingDir: config.WorkingDir ?? '',
    user: config.User ?? raw.User ?? '',
    exposedPorts: Object.keys(config.ExposedPorts ?? {}),
    stopSignal: config.StopSignal ?? '',
    labels: config.Labels ?? {},
  };
}

/** Imports a root filesystem tarball as a one-layer image; resolves with the image ID. */
export async function importImage(
  transport: PodmanTransport,
  tarball: Buffer | Readable,
  options: ImportOptions,
): Promise<string> {
  const report = await transport.json<{ Id: string }>({
    method: 'POST',
    path: '/libpod/images/import',
    query: { reference: options.reference, changes: options.changes ?? [], message: options.message },
    body: tarball,
    contentType: 'application/x-tar',
    signal: options.signal,
    idleTimeoutMs: 300_000,
    what: `importing image "${options.reference}"`,
  });
  return report.Id.replace(/^sha256:/, '');
}

/** Pushes an image to a registry. */
export async function pushImage(
  transport: PodmanTransport,
  reference: string,
  options: PushOptions = {},
): Promise<void> {
  await transport.call({
    method: 'POST',
    path: imagePath(reference, '/push'),
    query: {
      destination: options.destination,
      quiet: true,
      ...(options.tlsVerify === undefined ? {} : { tlsVerify: options.tlsVerify }),
    },
    headers: options.auth ? { 'X-Registry-Auth': registryAuthHeader(options.auth) } : undefined,
    signal: options.signal,
    idleTimeoutMs: 300_000,
    what: `pushing image "${reference}" to "${options.destination ?? reference}"`,
  });
}

/** Removes an image (`force` also removes containers using it). */
export async function removeImage(
  transport: PodmanTransport,
  reference: string,
  options: { force?: boolean; signal?: AbortSignal } = {},
): Promise<void> {
  await transport.call({
    method: 'DELETE',
    path: imagePath(reference, ''),
    query: { force: options.force ?? false },
    signal: options.signal,
    what: `removing image "${reference}"`,
  });
}
