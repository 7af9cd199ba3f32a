/**
 * Pumps a hijacked Podman connection (exec start, attach): the caller's stdin into it, its
 * output into the caller's stdout/stderr.
 *
 * After `101 UPGRADED` the connection carries raw bytes both ways. Output is multiplexed
 * frames (./stream-framing.ts) without a TTY and the terminal's raw bytes with one (stderr
 * then goes to the same terminal). Input is raw. When the caller's stdin ends we half-close
 * the connection (FIN); Podman then closes the process's stdin, and the process sees EOF.
 * Podman closes the connection when the process has exited and its exit code is recorded,
 * so "connection closed" means "done".
 */
import type { Readable, Writable } from 'node:stream';
import { PodmanUnavailableError } from './errors.ts';
import { FrameDecoder } from './stream-framing.ts';
import type { HijackedConnection } from './transport.ts';

/** The caller's side of a hijacked stream. */
export interface StreamIO {
  /** Copied into the process; its end half-closes the connection (the process sees EOF). */
  stdin?: Readable | undefined;
  /** Receives stdout (and, with a TTY, everything). Not ended when the stream finishes. */
  stdout?: Writable | undefined;
  /** Receives stderr (never written with a TTY). Not ended when the stream finishes. */
  stderr?: Writable | undefined;
  /** The process has a TTY: output is raw, not framed. */
  tty: boolean;
  /** Aborting closes the connection; the promise rejects with the abort reason. */
  signal?: AbortSignal | undefined;
  /** Called once, when the process first writes: by then it runs (Podman resizes only a running session). */
  onFirstOutput?: (() => void) | undefined;
}

/**
 * Runs the pump until Podman closes the connection (resolves) or `signal` aborts or the
 * connection breaks (rejects).
 */
export function pumpHijacked(
  connection: HijackedConnection,
  io: StreamIO,
  endpoint: string,
  what: string,
): Promise<void> {
  const { socket, head } = connection;
  const decoder = new FrameDecoder(io.tty ? 'raw' : 'framed');
  return new Promise<void>((resolve, reject) => {
    let settled = false;
    const finish = (error?: unknown) => {
      if (settled) return;
      settled = true;
      io.signal?.removeEventListener('abort', onAbort);
      if (io.stdin) {
        io.stdin.unpipe(socket);
        io.stdin.off('end', onStdinEnd);
        io.stdin.off('error', onStdinError);
      }
      if (error === undefined) resolve();
      else reject(error);
    };
    const onAbort = () => {
      socket.destroy();
      finish(io.signal?.reason ?? new DOMException('The operation was aborted', 'AbortError'));
    };
    const onStdinEnd = () => {
      if (!socket.destroyed) socket.end();
    };
    const onStdinError = (error: Error) => {
      socket.destroy();
      finish(error);
    };

    let wrote = false;
    const deliver = (chunk: Buffer) => {
      for (const frame of decoder.push(chunk)) {
        if (!wrote && frame.payload.length > 0) {
          wrote = true;
          io.onFirstOutput?.();
        }
        const target = frame.stream === 'stderr' ? io.stderr : frame.stream === 'stdout' ? io.stdout : undefined;
        if (!target || target.destroyed) continue;
        if (!target.write(frame.payload)) {
          // Back-pressure: stop reading from Podman until the caller's stream drains.
          socket.pause();
          target.once('drain', () => socket.resume());
        }
      }
    };

    if (io.signal?.aborted) {
      onAbort();
      return;
    }
    io.signal?.addEventListener('abort', onAbort, { once: true });
    socket.on('data', deliver);
    socket.once('close', () => {
      if (decoder.pendingBytes > 0 && !settled) {
        finish(new PodmanUnavailableError(endpoint, `${what}: the connection closed in the middle of a frame`));
        return;
      }
      finish();
    });
    socket.once('error', (error: NodeJS.ErrnoException) => {
      // A reset after everything arrived is how some sessions end; the close handler decides.
      if (error.code === 'ECONNRESET' || error.code === 'EPIPE') return;
      finish(new PodmanUnavailableError(endpoint, `${what}: ${error.message}`, { cause: error }));
    });
    if (head.length > 0) deliver(head);
    if (io.stdin) {
      io.stdin.once('end', onStdinEnd);
      io.stdin.once('error', onStdinError);
      io.stdin.pipe(socket, { end: false });
    }
  });
}
