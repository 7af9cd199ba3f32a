import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { TerminalSize } from '../../../provider/contracts.ts';
import { TerminalSizeDecoder } from './resize.ts';

function decode(...chunks: (string | Buffer)[]): { sizes: TerminalSize[]; failure: string | undefined } {
  const sizes: TerminalSize[] = [];
  const decoder = new TerminalSizeDecoder((size) => sizes.push(size));
  for (const chunk of chunks) decoder.write(Buffer.from(chunk));
  return { sizes, failure: decoder.failure };
}

test('newline-separated, concatenated, split anywhere, with whitespace', () => {
  assert.deepEqual(decode('{"Width":80,"Height":24}\n{"Width":1', '00,"Height":30}  {"width":7}\r\n').sizes, [
    { width: 80, height: 24 },
    { width: 100, height: 30 },
    { width: 7, height: 0 },
  ]);
});

test('unknown keys, nested values and braces inside strings do not confuse the splitter', () => {
  assert.deepEqual(decode('{"a":{"b":[1,2,{"c":"}{"}]},"Height":5,"s":"\\"}","Width":null}').sizes, [
    { width: 0, height: 5 },
  ]);
});

test('a multi-byte character split across chunks is fine', () => {
  const bytes = Buffer.from('{"é":1,"Width":3}');
  assert.deepEqual(decode(bytes.subarray(0, 3), bytes.subarray(3)).sizes, [{ width: 3, height: 0 }]);
});

test('the first bad value stops decoding for good', () => {
  for (const input of [
    '[1,2]',
    '5',
    'garbage',
    '{"Width":-1}',
    '{"Width":70000}',
    '{"Width":1.5}',
    '{"Height":"2"}',
    '{"Width":1,}',
  ]) {
    const result = decode(`{"Width":1,"Height":2}${input}{"Width":3,"Height":4}`);
    assert.deepEqual(result.sizes, [{ width: 1, height: 2 }], input);
    assert.ok(result.failure, input);
  }
  assert.ok(decode(`{"x":"${'a'.repeat(5000)}"}`).failure, 'an endless value');
});
