/**
 * The local processes the test harness starts (control plane, metrics-server, Podman service,
 * registry, virtual kubelets): a port for each, whether a recorded pid is still ours, stopping
 * one, and the end of its log for an error message.
 */
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';

/** A port on 127.0.0.1 that was free a moment ago; callers retry if another process takes it first. */
export function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolvePort(port));
    });
  });
}

/** True if `pid` is alive and runs `binary` (a recycled pid of another program is not ours). */
export function isOurProcess(pid: number, binary: string): boolean {
  try {
    if (!readFileSync(`/proc/${pid}/cmdline`, 'utf8').startsWith(binary)) return false;
    return !/\) Z /.test(readFileSync(`/proc/${pid}/stat`, 'utf8')); // a zombie has exited
  } catch {
    return false;
  }
}

/** Signals the process group `pid` leads (detached children lead their own), else the process alone. */
export function signalProcess(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    try {
      process.kill(pid, signal);
    } catch {
      // already gone
    }
  }
}

/**
 * Stops our process `pid` (running `binary`): SIGTERM, then SIGKILL if it is still there after
 * `graceMs`; resolves once it is gone. A pid no longer ours is left alone.
 */
export async function stopProcess(pid: number, binary: string, graceMs = 10_000): Promise<void> {
  if (!isOurProcess(pid, binary)) return;
  signalProcess(pid, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (isOurProcess(pid, binary) && Date.now() < deadline) await delay(100);
  if (isOurProcess(pid, binary)) signalProcess(pid, 'SIGKILL');
  while (isOurProcess(pid, binary)) await delay(50);
}

/** The last `lines` lines of a log file, for an error message. */
export function readTail(path: string, lines: number): string {
  try {
    return readFileSync(path, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}
