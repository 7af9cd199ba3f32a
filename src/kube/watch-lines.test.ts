import assert from 'node:assert/strict';
import { test } from 'node:test';
import { watchLines } from './watch-lines.ts';

async function linesOf(chunks: Buffer[]): Promise<string[]> {
  const lines: string[] = [];
  for await (const line of watchLines(chunks)) lines.push(line);
  return lines;
}

const events = [
  '{"type":"ADDED","object":{"metadata":{"name":"a"}}}',
  '{"type":"MODIFIED","object":{"metadata":{"name":"ünïcødé-✓-🚀"}}}',
  '{"type":"DELETED","object":{"metadata":{"name":"c"}}}',
];
const stream = Buffer.from(`${events.join('\n')}\n`);

test('every split of the stream into two chunks gives the same lines, multi-byte characters included', async () => {
  for (let cut = 0; cut <= stream.length; cut++) {
    assert.deepEqual(await linesOf([stream.subarray(0, cut), stream.subarray(cut)]), events, `cut at byte ${cut}`);
  }
});

test('a line spread over many chunks, one byte each, and empty lines between events', async () => {
  const bytes = Buffer.from(`\n${events[0]}\n\n${events[1]}\n`);
  const chunks = [...bytes].map((byte) => Buffer.from([byte]));
  assert.deepEqual(await linesOf(chunks), [events[0], events[1]]);
});

test('a last line the connection cut before its newline is not an event', async () => {
  assert.deepEqual(await linesOf([Buffer.from(`${events[0]}\n{"type":"ADD`)]), [events[0]]);
});

test('many lines in one large chunk, its last one finished by the next chunk', async () => {
  const large = Buffer.from(`${`${events[0]}\n`.repeat(1000)}{"type":`);
  const lines: string[] = [];
  const iterator = watchLines([large, Buffer.from('"ADDED"}\n')]);
  for await (const line of iterator) lines.push(line);
  assert.equal(lines.length, 1001);
  assert.equal(lines.at(-1), '{"type":"ADDED"}');
});
