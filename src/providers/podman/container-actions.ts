/**
 * The three kinds of action probes and lifecycle hooks perform, as the kubelet performs them:
 * run a command in the container (success = exit 0), an HTTP GET against the pod (success =
 * status 200–399), or open a TCP connection to the pod.
 */
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { Writable } from 'node:stream';
import type { ExecAction, HTTPGetAction, TCPSocketAction } from 'kubernetes-types/core/v1.js';
import type { ProbeOutcome } from './probe-worker.ts';
import type { PodmanBackend } from './runtime-api.ts';

/** What an action targets: the container (for exec) and the pod's address (for HTTP and TCP). */
export interface ActionTarget {
  backend: PodmanBackend;
  containerId: string;
  podName: string;
  podIP: string | undefined;
  /** The container's ports, to resolve named ports. */
  ports: { name?: string; containerPort: number }[];
}

/** Kubernetes caps what the kubelet keeps of probe output. */
const MAX_OUTPUT = 10 * 1024;

function resolvePort(port: number | string, target: ActionTarget): number {
  if (typeof port === 'number') return port;
  const named = target.ports.find((p) => p.name === port);
  if (named) return named.containerPort;
  const numeric = Number(port);
  if (Number.isInteger(numeric)) return numeric;
  throw new Error(`port "${port}" is not a number and not a named container port`);
}

function collector(): { stream: Writable; text: () => string } {
  let text = '';
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      if (text.length < MAX_OUTPUT) text += chunk.toString('utf8').slice(0, MAX_OUTPUT - text.length);
      done();
    },
  });
  return { stream, text: () => text };
}

export async function execAction(action: ExecAction, target: ActionTarget, signal: AbortSignal): Promise<ProbeOutcome> {
  const out = collector();
  const code = await target.backend.exec(
    target.containerId,
    action.command ?? [],
    { stdout: out.stream, stderr: out.stream, tty: false },
    { signal },
  );
  return code === 0
    ? { ok: true }
    : { ok: false, message: `command ${JSON.stringify(action.command)} exited ${code}: ${out.text().trim()}` };
}

export function httpGetAction(action: HTTPGetAction, target: ActionTarget, signal: AbortSignal): Promise<ProbeOutcome> {
  const host = action.host || target.podIP;
  if (!host) return Promise.resolve({ ok: false, message: 'the pod has no IP yet' });
  const port = resolvePort(action.port, target);
  const https = action.scheme === 'HTTPS';
  const headers: Record<string, string> = { 'user-agent': 'kube-probe/1.37', accept: '*/*' };
  for (const header of action.httpHeaders ?? []) headers[header.name.toLowerCase()] = header.value;
  return new Promise((resolve) => {
    const req = (https ? httpsRequest : httpRequest)(
      {
        host,
        port,
        path: action.path || '/',
        method: 'GET',
        headers,
        signal,
        ...(https ? { rejectUnauthorized: false } : {}),
      },
      (res) => {
        res.resume();
        const status = res.statusCode ?? 0;
        resolve(
          status >= 200 && status < 400
            ? { ok: true }
            : { ok: false, message: `HTTP probe failed with statuscode: ${status}` },
        );
      },
    );
    req.on('error', (error) =>
      resolve({ ok: false, message: `Get "http://${host}:${port}${action.path || '/'}": ${error.message}` }),
    );
    req.end();
  });
}

export async function tcpSocketAction(
  action: TCPSocketAction,
  target: ActionTarget,
  signal: AbortSignal,
): Promise<ProbeOutcome> {
  const port = resolvePort(action.port, target);
  try {
    const connection = await target.backend.connect(target.podName, port, signal);
    connection.destroy();
    return { ok: true };
  } catch (error) {
    return { ok: false, message: `dial tcp ${target.podIP}:${port}: ${(error as Error).message}` };
  }
}

/** Runs whichever action a probe or hook specifies. */
export function runAction(
  action: { exec?: ExecAction; httpGet?: HTTPGetAction; tcpSocket?: TCPSocketAction; sleep?: { seconds: number } },
  target: ActionTarget,
  signal: AbortSignal,
): Promise<ProbeOutcome> {
  if (action.exec) return execAction(action.exec, target, signal);
  if (action.httpGet) return httpGetAction(action.httpGet, target, signal);
  if (action.tcpSocket) return tcpSocketAction(action.tcpSocket, target, signal);
  if (action.sleep) {
    const ms = action.sleep.seconds * 1000;
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve({ ok: true }), ms);
      signal.addEventListener(
        'abort',
        () => {
          clearTimeout(timer);
          resolve({ ok: true });
        },
        { once: true },
      );
    });
  }
  return Promise.resolve({ ok: false, message: 'the probe or hook specifies no action' });
}
