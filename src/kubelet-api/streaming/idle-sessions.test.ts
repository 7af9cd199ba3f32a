/**
 * What 1 000 idle exec sessions cost the server. The server runs in a child process so the
 * clients' memory does not count; it reports its heap, external memory and RSS after a GC.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { type TestContext, test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { SpdyConnection } from './spdy/index.ts';
import { createStream, rawUpgrade, webSocketClient } from './test-support.test.ts';

const SESSIONS = 1000;

/** The server process: serves exec sessions whose handlers wait for the client to leave. */
const SERVER = `
import http from 'node:http';
import { serveRemoteCommand } from ${JSON.stringify(new URL('./remotecommand/index.ts', import.meta.url).href)};
let running = 0;
const server = http.createServer();
server.on('upgrade', (request, socket, head) => {
  void serveRemoteCommand(request, socket, head, { stdin: true, stdout: true, stderr: false, tty: false }, async (io, signal) => {
    running++;
    await new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }));
    running--;
    return 0;
  });
});
server.listen(0, '127.0.0.1', () => process.send({ port: server.address().port }));
process.on('message', (message) => {
  if (message === 'running') return process.send({ running });
  for (let i = 0; i < 3; i++) globalThis.gc();
  const { heapUsed, external, rss } = process.memoryUsage();
  process.send({ heapUsed, external, rss });
});
process.on('disconnect', () => process.exit(0));
`;

interface Memory {
  heapUsed: number;
  external: number;
  rss: number;
}

async function startServer(t: TestContext): Promise<{ child: ChildProcess; port: number }> {
  const child = spawn(process.execPath, ['--expose-gc', '--input-type=module', '-e', SERVER], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  t.after(() => child.kill());
  const [{ port }] = (await once(child, 'message')) as [{ port: number }];
  return { child, port };
}

async function ask<T>(child: ChildProcess, message: string): Promise<T> {
  const reply = once(child, 'message');
  child.send(message);
  return ((await reply) as [T])[0];
}

async function running(child: ChildProcess): Promise<number> {
  return (await ask<{ running: number }>(child, 'running')).running;
}

/** Polls the server until `count` handlers are running. */
async function waitForRunning(child: ChildProcess, count: number): Promise<void> {
  const deadline = performance.now() + 20_000;
  let now = await running(child);
  while (now !== count) {
    if (performance.now() > deadline) throw new Error(`${now} handlers running, waiting for ${count}`);
    await delay(10);
    now = await running(child);
  }
}

function perSession(before: Memory, after: Memory) {
  const kib = (bytes: number) => Math.round(bytes / SESSIONS / 1024);
  return {
    heapKiB: kib(after.heapUsed - before.heapUsed),
    externalKiB: kib(after.external - before.external),
    rssKiB: kib(after.rss - before.rss),
  };
}

test(`${SESSIONS} idle SPDY exec sessions: memory per session on the server`, { timeout: 60_000 }, async (t) => {
  const { child, port } = await startServer(t);
  const before = await ask<Memory>(child, 'measure');
  const clients: SpdyConnection[] = [];
  t.after(() => {
    for (const client of clients) client.destroy();
  });
  // In batches, as a busy API server would open them, not all in one tick.
  for (let batch = 0; batch < SESSIONS / 100; batch++) {
    await Promise.all(
      Array.from({ length: 100 }, async () => {
        const response = await rawUpgrade(port, {
          headers: [
            ['Connection', 'Upgrade'],
            ['Upgrade', 'SPDY/3.1'],
            ['X-Stream-Protocol-Version', 'v4.channel.k8s.io'],
          ],
        });
        const connection = new SpdyConnection(response.socket, { role: 'client', head: response.rest });
        clients.push(connection);
        const client = { connection, protocol: undefined, socket: response.socket };
        for (const streamtype of ['error', 'stdin', 'stdout']) await createStream(client, { streamtype });
      }),
    );
  }
  await waitForRunning(child, SESSIONS);
  const after = await ask<Memory>(child, 'measure');
  const cost = perSession(before, after);
  t.diagnostic(`SPDY: per idle session ${JSON.stringify(cost)}`);
  assert.ok(cost.heapKiB + cost.externalKiB < 1024, `under 1 MiB a session: ${JSON.stringify(cost)}`);
  for (const client of clients) client.destroy();
  // Every handler sees its client leave.
  await waitForRunning(child, 0);
});

test(`${SESSIONS} idle WebSocket v5 exec sessions: memory per session on the server`, {
  timeout: 60_000,
}, async (t) => {
  const { child, port } = await startServer(t);
  const before = await ask<Memory>(child, 'measure');
  const sockets: { terminate(): void }[] = [];
  for (let batch = 0; batch < SESSIONS / 100; batch++) {
    await Promise.all(
      Array.from({ length: 100 }, async () => {
        const client = await webSocketClient(t, port, '/', ['v5.channel.k8s.io']);
        sockets.push(client.ws);
      }),
    );
  }
  await waitForRunning(child, SESSIONS);
  const after = await ask<Memory>(child, 'measure');
  const cost = perSession(before, after);
  t.diagnostic(`WebSocket: per idle session ${JSON.stringify(cost)}`);
  assert.ok(cost.heapKiB + cost.externalKiB < 256, `under 256 KiB a session: ${JSON.stringify(cost)}`);
  for (const ws of sockets) ws.terminate();
  // Every handler sees its client leave.
  await waitForRunning(child, 0);
});
