/**
 * `kubectl exec` over Nomad's allocation exec WebSocket (`/v1/client/allocation/:id/exec`): JSON
 * frames, base64 data. Our stdin goes as `{stdin: {data}}` then `{stdin: {close: true}}`, terminal
 * sizes as `{tty_size: {width, height}}`; Nomad answers `{stdout|stderr: {data}}` and finally
 * `{exited: true, result: {exit_code}}`.
 */
import WebSocket from 'ws';
import type { AttachIO, TerminalSize } from '../../provider/index.ts';
import type { NomadClient } from './api/client.ts';

/** When a terminal size is sent again (see the open handler). */
const RESIZE_RETRIES_MS = [250, 1000, 3000];

interface ExecFrame {
  stdout?: { data?: string; close?: boolean };
  stderr?: { data?: string; close?: boolean };
  exited?: boolean;
  result?: { exit_code?: number };
}

export function execInTask(
  client: NomadClient,
  allocId: string,
  task: string,
  command: string[],
  io: AttachIO,
  signal: AbortSignal,
): Promise<number> {
  const target = client.execTarget(allocId, task, command, io.tty);
  return new Promise<number>((resolve, reject) => {
    const socket = new WebSocket(target.url, { ...target.options, handshakeTimeout: 30_000 });
    let exitCode: number | undefined;
    let settled = false;
    // The terminal size last asked for, and whether it was sent again once the process ran.
    let latestSize: TerminalSize | undefined;
    let resentAfterOutput = false;
    const finish = (error?: Error) => {
      if (settled) return;
      settled = true;
      signal.removeEventListener('abort', onAbort);
      io.stdin?.removeListener('data', onStdin);
      io.stdin?.removeListener('end', onStdinEnd);
      if (error) reject(error);
      else resolve(exitCode ?? 0);
    };
    const send = (frame: unknown) => {
      if (socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(frame));
    };
    const sendSize = (size: TerminalSize) => send({ tty_size: { width: size.width, height: size.height } });
    const onFirstOutput = () => {
      if (resentAfterOutput || !latestSize) return;
      resentAfterOutput = true;
      sendSize(latestSize);
    };
    const onStdin = (chunk: Buffer) => send({ stdin: { data: Buffer.from(chunk).toString('base64') } });
    const onStdinEnd = () => send({ stdin: { close: true } });
    const onAbort = () => {
      socket.terminate();
      finish(signal.reason instanceof Error ? signal.reason : new Error('exec aborted'));
    };
    signal.addEventListener('abort', onAbort, { once: true });
    socket.on('open', () => {
      if (io.tty) {
        // Nomad's docker driver passes a size on once and forgets it, and the engine refuses a
        // resize before the exec's process runs (the first size, sent at once, is always
        // lost): each size is sent again when the process first writes (it runs then) and a
        // little later, for processes that write nothing at first.
        io.onResize((size) => {
          latestSize = size;
          sendSize(size);
          for (const delay of RESIZE_RETRIES_MS) {
            setTimeout(() => {
              if (latestSize === size && !settled) sendSize(size);
            }, delay).unref();
          }
        });
      }
      if (io.stdin) {
        io.stdin.on('data', onStdin);
        io.stdin.once('end', onStdinEnd);
      }
    });
    socket.on('message', (message) => {
      let frame: ExecFrame;
      try {
        frame = JSON.parse(String(message)) as ExecFrame;
      } catch {
        return;
      }
      if (io.tty && (frame.stdout?.data || frame.stderr?.data)) onFirstOutput();
      if (frame.stdout?.data) io.stdout?.write(Buffer.from(frame.stdout.data, 'base64'));
      if (frame.stderr?.data) (io.stderr ?? io.stdout)?.write(Buffer.from(frame.stderr.data, 'base64'));
      if (frame.exited) {
        exitCode = frame.result?.exit_code ?? 0;
        socket.close();
      }
    });
    socket.on('unexpected-response', (_request, response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8').trim() || `HTTP ${response.statusCode}`;
        finish(new Error(`Nomad refused the exec: ${text}`));
      });
    });
    socket.on('error', (error) => finish(new Error(`Nomad exec: ${error.message}`)));
    socket.on('close', (code, reason) => {
      if (exitCode !== undefined || code === 1000) finish();
      else finish(new Error(`Nomad closed the exec session (${code}${reason.length ? `: ${reason}` : ''})`));
    });
  });
}
