import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { decodeFrames, encodeFrame, FrameDecoder, looksFramed } from './stream-framing.ts';

async function* chunks(...parts: Buffer[]): AsyncGenerator<Buffer> {
  for (const part of parts) yield part;
}

async function collect<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const items: T[] = [];
  for await (const item of iterable) items.push(item);
  return items;
}

describe('Docker stream framing', () => {
  test('decodes frames split anywhere, including inside headers', async () => {
    const bytes = Buffer.concat([
      encodeFrame('stdout', 'hello\n'),
      encodeFrame('stderr', 'oops'),
      encodeFrame('stdout', ''),
    ]);
    for (let cut = 1; cut < bytes.length; cut++) {
      const frames = await collect(decodeFrames(chunks(bytes.subarray(0, cut), bytes.subarray(cut)), 'framed'));
      assert.deepEqual(
        frames.map((f) => [f.stream, f.payload.toString()]),
        [
          ['stdout', 'hello\n'],
          ['stderr', 'oops'],
          ['stdout', ''],
        ],
        `cut at ${cut}`,
      );
    }
  });

  test('auto mode: a valid header means framed, anything else raw (a TTY)', async () => {
    const framed = await collect(decodeFrames(chunks(encodeFrame('stdout', 'x')), 'auto'));
    assert.deepEqual(
      framed.map((f) => f.payload.toString()),
      ['x'],
    );
    const raw = await collect(
      decodeFrames(chunks(Buffer.from('2026-01-01T00:00:00Z hi\r\n'), Buffer.from('more')), 'auto'),
    );
    assert.deepEqual(
      raw.map((f) => [f.stream, f.payload.toString()]),
      [
        ['stdout', '2026-01-01T00:00:00Z hi\r\n'],
        ['stdout', 'more'],
      ],
    );
  });

  test('auto mode waits for four bytes before deciding', () => {
    const decoder = new FrameDecoder('auto');
    assert.deepEqual(decoder.push(Buffer.from([1, 0])), []);
    assert.equal(decoder.mode, 'auto');
    const frames = decoder.push(Buffer.concat([Buffer.from([0, 0, 0, 0, 0, 2]), Buffer.from('ok')]));
    assert.equal(decoder.mode, 'framed');
    assert.deepEqual(
      frames.map((f) => f.payload.toString()),
      ['ok'],
    );
    assert.equal(decoder.pendingBytes, 0);
  });

  test('stream 3 is a system message; a truncated frame stays pending', () => {
    const decoder = new FrameDecoder('framed');
    const frames = decoder.push(
      Buffer.concat([encodeFrame('system', 'error'), encodeFrame('stdout', 'abc').subarray(0, 9)]),
    );
    assert.deepEqual(
      frames.map((f) => f.stream),
      ['system'],
    );
    assert.equal(decoder.pendingBytes, 9);
  });

  test('looksFramed', () => {
    assert.equal(looksFramed(Buffer.from([1, 0, 0, 0, 0, 0, 0, 1])), true);
    assert.equal(looksFramed(Buffer.from('hello')), false);
    assert.equal(looksFramed(Buffer.from([2, 0])), true);
  });
});
