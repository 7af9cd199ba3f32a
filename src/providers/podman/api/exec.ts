/**
 * Exec sessions and attach: `kubectl exec` and `kubectl attach` end up here.
 *
 * An exec is created (`POST /libpod/containers/{id}/exec`), then started with a hijacked
 * connection (`POST /libpod/exec/{id}/start`, see ./hijack.ts); its exit code is read from
 * `GET /libpod/exec/{id}/json` once the connection closes. A TTY is resized through
 * `/libpod/exec/{id}/resize`, which only works while the process runs.
 */

import { pumpHijacked, type StreamIO } from './hijack.ts';
import { describeEndpoint, type PodmanTransport } from './transport.ts';

/**
 * Detach keys for exec sessions. Podman's default, ctrl-p ctrl-q, holds back every lone ctrl-p
 * typed into the session until the next key (it might start the detach sequence), and an empty
 * value means "the default" at create time; a sequence nobody types keeps stdin transparent.
 */
export const EXEC_DETACH_KEYS = 'ctrl-@,ctrl-@,ctrl-@,ctrl-@,ctrl-@,ctrl-@,ctrl-@,ctrl-@';

export interface ExecCreateOptions {
  cmd: string[];
  tty?: boolean;
  attachStdin?: boolean;
  attachStdout?: boolean;
  attachStderr?: boolean;
  /** Added to the container's environment. */
  env?: Record<string, string>;
  workingDir?: string;
  user?: string;
  privileged?: boolean;
  /** See {@link EXEC_DETACH_KEYS} (the default). */
  detachKeys?: string;
  signal?: AbortSignal | undefined;
}

export interface ExecStartOptions extends StreamIO {
  /** Initial terminal size (with a TTY). */
  size?: { h: number; w: number } | undefined;
}

/** An exec session as `GET /libpod/exec/{id}/json` reports it. */
export interface ExecInspect {
  id: string;
  containerId: string;
  running: boolean;
  /** Meaningful once `running` is false. */
  exitCode: number;
  pid: number;
  tty: boolean;
  command: string[];
}

interface RawExecInspect {
  ID: string;
  ContainerID: string;
  Running: boolean;
  ExitCode: number;
  Pid: number;
  ProcessConfig?: { tty?: boolean; entrypoint?: string; arguments?: string[] | null };
}

export interface AttachOptions extends StreamIO {
  /** Also replay the container's logs before streaming (Docker's `logs=true`). Default false. */
  logs?: boolean;
}

/** Creates an exec session in a running container; resolves with its ID. */
export async function execCreate(
  transport: PodmanTransport,
  containerId: string,
  options: ExecCreateOptions,
): Promise<string> {
  const report = await transport.json<{ Id: string }>({
    method: 'POST',
    path: `/libpod/containers/${encodeURIComponent(containerId)}/exec`,
    body: {
      Cmd: options.cmd,
      Tty: options.tty ?? false,
      AttachStdin: options.attachStdin ?? false,
      AttachStdout: options.attachStdout ?? true,
      AttachStderr: options.attachStderr ?? true,
      Env: Object.entries(options.env ?? {}).map(([key, value]) => `${key}=${value}`),
      ...(options.workingDir ? { WorkingDir: options.workingDir } : {}),
      ...(options.user ? { User: options.user } : {}),
      Privileged: options.privileged ?? false,
      DetachKeys: options.detachKeys ?? EXEC_DETACH_KEYS,
    },
    signal: options.signal,
    what: `creating an exec session in container "${containerId}"`,
  });
  return report.Id;
}

/**
 * Starts an exec session and pumps its streams; resolves when the process has ended (read
 * the exit code with {@link execInspect}). A container that is not running is a PodmanError
 * with status 409.
 */
export async function execStart(transport: PodmanTransport, execId: string, options: ExecStartOptions): Promise<void> {
  const what = `running exec session ${execId.slice(0, 12)}`;
  const connection = await transport.hijack({
    method: 'POST',
    path: `/libpod/exec/${encodeURIComponent(execId)}/start`,
    body: {
      Detach: false,
      Tty: options.tty,
      ...(options.tty && options.size ? { h: options.size.h, w: options.size.w } : {}),
    },
    signal: options.signal,
    what,
  });
  await pumpHijacked(connection, options, describeEndpoint(transport.endpoint), what);
}

/** Resizes an exec session's TTY; only while the process runs. */
export async function execResize(
  transport: PodmanTransport,
  execId: string,
  size: { h: number; w: number },
  signal?: AbortSignal,
): Promise<void> {
  await transport.call({
    method: 'POST',
    path: `/libpod/exec/${encodeURIComponent(execId)}/resize`,
    query: { h: size.h, w: size.w },
    signal,
    what: `resizing the terminal of exec session ${execId.slice(0, 12)}`,
  });
}

export async function execInspect(
  transport: PodmanTransport,
  execId: string,
  signal?: AbortSignal,
): Promise<ExecInspect> {
  const raw = await transport.json<RawExecInspect>({
    method: 'GET',
    path: `/libpod/exec/${encodeURIComponent(execId)}/json`,
    signal,
    what: `inspecting exec session ${execId.slice(0, 12)}`,
  });
  return {
    id: raw.ID,
    containerId: raw.ContainerID,
    running: raw.Running,
    exitCode: raw.ExitCode,
    pid: raw.Pid,
    tty: raw.ProcessConfig?.tty ?? false,
    command: [
      ...(raw.ProcessConfig?.entrypoint ? [raw.ProcessConfig.entrypoint] : []),
      ...(raw.ProcessConfig?.arguments ?? []),
    ],
  };
}

/**
 * Attaches to a running container's main process; resolves when it ends or Podman closes the
 * connection. `tty` must match how the container was created. Stdin reaches the process only
 * if the container was created with `stdin: true`.
 */
export async function attachContainer(transport: PodmanTransport, id: string, options: AttachOptions): Promise<void> {
  const what = `attaching to container "${id}"`;
  const connection = await transport.hijack({
    method: 'POST',
    path: `/libpod/containers/${encodeURIComponent(id)}/attach`,
    query: {
      stream: true,
      logs: options.logs ?? false,
      stdin: options.stdin !== undefined,
      stdout: options.stdout !== undefined,
      stderr: options.stderr !== undefined,
      // Present and empty: no detach sequence, so stdin passes through untouched.
      detachKeys: '',
    },
    signal: options.signal,
    what,
  });
  await pumpHijacked(connection, options, describeEndpoint(transport.endpoint), what);
}
