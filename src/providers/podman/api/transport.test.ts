/**
 * The transport and the hijacked-stream pump against a fake Podman on a unix socket: no Podman
 * needed, and the edge cases (half-close, frames split across writes, abort, a vanished
 * service) are under the test's control.
 */
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Writable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { isNotFound } from '../../../errors.ts';
import { isPodmanUnavailable, PodmanError } from './errors.ts';
import { events } from './events.ts';
import { execStart } from './exec.ts';
import { containerLogs } from './logs.ts';
import { encodeFrame } from './stream-framing.ts';
import { PodmanTransport } from './transport.ts';

function sink(): { stream: Writable; text: () => string } {
  const chunks: Buffer[] = [];
  return {
    stream: new Writable({
      write(chunk: Buffer, _encoding, callback) {
        chunks.push(chunk);
        callback();
      },
    }),
    text: () => Buffer.concat(chunks).toString(),
  };
}

/** Reads a hijacked request's JSON body: Content-Length bytes from `head`, then the socket. */
function readBody(req: IncomingMessage, socket: Socket, head: Buffer): Promise<{ body: unknown; rest: Buffer }> {
  const length = Number(req.headers['content-length'] ?? 0);
  return new Promise((resolve) => {
    let buffered = head;
    const done = () => {
      socket.off('data', onData);
      resolve({ body: JSON.parse(buffered.subarray(0, length).toString() || 'null'), rest: buffered.subarray(length) });
    };
    const onData = (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      if (buffered.length >= length) done();
    };
    if (buffered.length >= length) done();
    else socket.on('data', onData);
  });
}

describe('PodmanTransport against a fake Podman', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fake-podman-'));
  const socketPath = join(dir, 'podman.sock');
  let server: Server;
  let transport: PodmanTransport;
  const execBodies: unknown[] = [];

  before(async () => {
    server = createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://d');
      if (url.pathname === '/v4.0.0/libpod/containers/missing/json') {
        res.writeHead(404, { 'content-type': 'application/json' });
        res.end(
          '{"cause":"no such container","message":"no container with name or ID \\"missing\\" found: no such container","response":404}',
        );
      } else if (url.pathname === '/v4.0.0/libpod/containers/c1/logs') {
        res.writeHead(200);
        // One line split across two writes, and a partial line.
        const frames = Buffer.concat([
          encodeFrame('stdout', '2026-01-02T03:04:05Z hello\n'),
          encodeFrame('stderr', '2026-01-02T03:04:06Z world'),
        ]);
        res.write(frames.subarray(0, 11));
        setTimeout(() => res.end(frames.subarray(11)), 10);
      } else if (url.pathname === '/v4.0.0/libpod/containers/c2/logs') {
        res.writeHead(200);
        res.write(encodeFrame('stdout', '2026-01-02T03:04:05Z first\n'));
        // …and never ends: a followed log.
      } else if (url.pathname === '/v4.0.0/libpod/events') {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.write(
          '{"Type":"container","Action":"start","Actor":{"ID":"a","Attributes":{"name":"n"}},"time":1,"timeNano":1000000000}\n',
        );
        setTimeout(() => res.destroy(), 20); // the service dies mid-stream
      } else {
        res.writeHead(500);
        res.end(`unexpected ${req.url}`);
      }
    });
    server.on('upgrade', async (req: IncomingMessage, socket: Socket, head: Buffer) => {
      socket.on('error', () => {}); // the abort test resets the connection
      const { body, rest } = await readBody(req, socket, head);
      execBodies.push(body);
      socket.write(
        'HTTP/1.1 101 UPGRADED\r\nContent-Type: application/vnd.docker.raw-stream\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n',
      );
      if (req.url?.includes('/exec/tty/')) {
        socket.write('raw \x01\x00 bytes');
        socket.end();
        return;
      }
      // A `cat` that uppercases: echo stdin as stdout frames until the client half-closes.
      let received = rest.toString();
      socket.on('data', (chunk: Buffer) => {
        received += chunk.toString();
      });
      socket.on('end', () => {
        const reply = encodeFrame('stdout', received.toUpperCase());
        // Split a frame across writes to exercise reassembly.
        socket.write(reply.subarray(0, 5));
        socket.write(Buffer.concat([reply.subarray(5), encodeFrame('stderr', 'done\n')]));
        socket.end();
      });
    });
    await new Promise<void>((resolve) => server.listen(socketPath, resolve));
    transport = new PodmanTransport({ socketPath });
  });

  after(async () => {
    transport.close();
    await new Promise((resolve) => server.close(resolve));
  });

  test('a 404 is a NotFoundError carrying Podman message', async () => {
    await assert.rejects(
      transport.json({
        method: 'GET',
        path: '/libpod/containers/missing/json',
        what: 'inspecting container "missing"',
      }),
      (error: unknown) =>
        isNotFound(error) &&
        (error as Error).message ===
          'inspecting container "missing": no container with name or ID "missing" found: no such container' &&
        (error as Error).cause instanceof PodmanError,
    );
  });

  test('a missing socket is PodmanUnavailableError', async () => {
    const nowhere = new PodmanTransport({ socketPath: join(dir, 'nothing.sock') });
    await assert.rejects(nowhere.call({ method: 'GET', path: '/_ping', what: 'pinging' }), (error: unknown) => {
      assert.ok(isPodmanUnavailable(error));
      assert.match((error as Error).message, /does not exist; start the service/);
      return true;
    });
    nowhere.close();
  });

  test('logs: frames reassembled, times decoded, partial lines flagged', async () => {
    const entries = [];
    for await (const entry of containerLogs(transport, 'c1')) entries.push(entry);
    assert.deepEqual(entries, [
      { stream: 'stdout', time: new Date('2026-01-02T03:04:05Z'), text: 'hello', partial: false },
      { stream: 'stderr', time: new Date('2026-01-02T03:04:06Z'), text: 'world', partial: true },
    ]);
  });

  test('logs: aborting a followed log ends the iteration quietly', async () => {
    const controller = new AbortController();
    const texts: string[] = [];
    for await (const entry of containerLogs(transport, 'c2', { follow: true, signal: controller.signal })) {
      texts.push(entry.text);
      controller.abort();
    }
    assert.deepEqual(texts, ['first']);
  });

  test('events: a stream that breaks throws PodmanUnavailableError after the events it delivered', async () => {
    const actions: string[] = [];
    await assert.rejects(
      (async () => {
        for await (const event of events(transport)) actions.push(`${event.action} ${event.name}`);
      })(),
      (error: unknown) => isPodmanUnavailable(error),
    );
    assert.deepEqual(actions, ['start n']);
  });

  test('exec: stdin is sent, its end half-closes, framed output is demultiplexed', async () => {
    const stdin = new PassThrough();
    const stdout = sink();
    const stderr = sink();
    const running = execStart(transport, 'e1', { tty: false, stdin, stdout: stdout.stream, stderr: stderr.stream });
    stdin.write('hello ');
    stdin.end('world');
    await running;
    assert.equal(stdout.text(), 'HELLO WORLD');
    assert.equal(stderr.text(), 'done\n');
    assert.deepEqual(execBodies.at(-1), { Detach: false, Tty: false });
  });

  test('exec with a TTY: raw bytes, the size in the start body', async () => {
    const stdout = sink();
    await execStart(transport, 'tty', { tty: true, size: { h: 24, w: 80 }, stdout: stdout.stream });
    assert.equal(stdout.text(), 'raw \x01\x00 bytes');
    assert.deepEqual(execBodies.at(-1), { Detach: false, Tty: true, h: 24, w: 80 });
  });

  test('exec: aborting closes the connection and rejects with the reason', async () => {
    const controller = new AbortController();
    const stdin = new PassThrough(); // never ends: the fake never answers
    const running = execStart(transport, 'e2', { tty: false, stdin, signal: controller.signal });
    setTimeout(() => controller.abort(new Error('client went away')), 20);
    await assert.rejects(running, /client went away/);
    // The same before Podman has answered at all.
    const early = new AbortController();
    const starting = execStart(transport, 'e3', { tty: false, stdin: new PassThrough(), signal: early.signal });
    early.abort(new Error('gone before the answer'));
    await assert.rejects(starting, /gone before the answer/);
  });
});
