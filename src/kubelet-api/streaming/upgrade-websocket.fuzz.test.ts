/**
 * The WebSocket channel decoder (exec, attach and port-forward over `channel.k8s.io` and its
 * `base64.`, `v4.` and `v5.` forms) under generated messages, checked against a model written
 * independently of it: what reaches each channel is exactly the payloads the client sent on it,
 * garbage is dropped without a throw, and only a malformed v5 CLOSE ends the socket.
 */
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { test } from 'node:test';
import type { WebSocket } from 'ws';
import { bytes, fc, fuzz } from '../../util/fuzz-support.test.ts';
import { type ChannelMode, ChannelWebSocket, STREAM_CLOSE_SIGNAL } from './upgrade-websocket.ts';

/** Just enough of a `ws` WebSocket: messages are emitted by the test, sends and closes recorded. */
class FakeWebSocket extends EventEmitter {
  readyState = 1; // OPEN
  isPaused = false;
  closeCode: number | undefined;
  send(_data: unknown, _options: unknown, callback?: () => void): void {
    callback?.();
  }
  close(code: number): void {
    this.closeCode ??= code;
  }
  terminate(): void {
    this.closeCode ??= 1006;
  }
  pause(): void {
    this.isPaused = true;
  }
  resume(): void {
    this.isPaused = false;
  }
}

const mode = fc.constantFrom<ChannelMode>('ignore', 'read', 'write', 'readwrite');

interface Case {
  base64: boolean;
  streamClose: boolean;
  channels: ChannelMode[];
  messages: Buffer[];
}

/** Messages a client could send: well-formed ones on real channels, CLOSE messages, and anything at all. */
function messages(base64: boolean, channelCount: number): fc.Arbitrary<Buffer[]> {
  const channel = fc.integer({ min: 0, max: channelCount + 1 });
  const wellFormed = fc
    .tuple(channel, bytes(40))
    .map(([n, payload]) =>
      base64
        ? Buffer.from(String.fromCharCode(48 + n) + payload.toString('base64'), 'latin1')
        : Buffer.concat([Buffer.from([n]), payload]),
    );
  const close = fc
    .tuple(channel, fc.integer({ min: 1, max: 3 }))
    .map(([n, length]) => Buffer.from([STREAM_CLOSE_SIGNAL, n, 0].slice(0, length)));
  const damagedBase64 = fc
    .tuple(channel, fc.string({ unit: 'binary-ascii', maxLength: 12 }))
    .map(([n, text]) => Buffer.from(String.fromCharCode(48 + n) + text, 'latin1'));
  return fc.array(fc.oneof(wellFormed, wellFormed, close, damagedBase64, bytes(16)), { maxLength: 16 });
}

const cases: fc.Arbitrary<Case> = fc
  .record({ base64: fc.boolean(), streamClose: fc.boolean(), channels: fc.array(mode, { minLength: 1, maxLength: 6 }) })
  .chain((options) =>
    messages(options.base64, options.channels.length).map((list) => ({ ...options, messages: list })),
  );

/**
 * Standard padded base64 as Go's `base64.StdEncoding` decodes it: whole quads of the standard
 * alphabet, at most two `=` and only at the end. Like Go (which is not `Strict()`), the unused
 * bits of the last character need not be zero: `///=` is ff ff, although it re-encodes as `//8=`.
 */
function stdBase64(text: string): Buffer | undefined {
  const data = text.replace(/={1,2}$/, '');
  const padding = text.length - data.length;
  if (!/^[A-Za-z0-9+/]*$/.test(data) || text.length % 4 !== 0) return undefined;
  if (padding > 0 && data.length % 4 !== 4 - padding) return undefined;
  return Buffer.from(data, 'base64');
}

/** What each channel should receive, and whether the socket should be closed with 1002. */
function model(c: Case): { received: Buffer[][]; ended: boolean[]; closeCode: number | undefined } {
  const received: Buffer[][] = c.channels.map(() => []);
  const ended = c.channels.map((m) => m !== 'read' && m !== 'readwrite');
  for (const message of c.messages) {
    if (message.length === 0) continue;
    if (c.streamClose && message[0] === STREAM_CLOSE_SIGNAL) {
      const n = message[1] as number;
      if (message.length !== 2 || n >= c.channels.length) return { received, ended, closeCode: 1002 };
      ended[n] = true;
      continue;
    }
    const n = c.base64 ? ((message[0] as number) - 48 + 256) % 256 : (message[0] as number);
    if (n >= c.channels.length || ended[n]) continue;
    const payload = c.base64 ? stdBase64(message.subarray(1).toString('latin1')) : message.subarray(1);
    if (payload && payload.length > 0) received[n]?.push(payload);
  }
  return { received, ended, closeCode: undefined };
}

test('fuzz: every channel gets exactly what the client sent on it', (t) => {
  fuzz(t, 'WebSocket channel decoder', cases, (c) => {
    const ws = new FakeWebSocket();
    const connection = new ChannelWebSocket(ws as unknown as WebSocket, {
      base64: c.base64,
      streamClose: c.streamClose,
      channels: c.channels,
      idleTimeoutMs: 0,
    });
    const received: Buffer[][] = c.channels.map(() => []);
    for (const message of c.messages) {
      if (ws.closeCode !== undefined) break; // ws delivers nothing after a close
      ws.emit('message', message);
      for (const [n, channel] of connection.channels.entries()) {
        for (let chunk = channel.read(); chunk !== null; chunk = channel.read()) received[n]?.push(chunk as Buffer);
      }
    }
    const expected = model(c);
    assert.deepEqual(
      received.map((chunks) => Buffer.concat(chunks).toString('hex')),
      expected.received.map((chunks) => Buffer.concat(chunks).toString('hex')),
    );
    assert.deepEqual(
      connection.channels.map((channel) => channel.remoteEnded),
      expected.ended,
    );
    assert.equal(ws.closeCode, expected.closeCode);
    // Read all along: never paused.
    assert.equal(ws.isPaused, false);
    ws.emit('close', 1000);
  });
});
