/**
 * The terminal-size decoder under generated input: the JSON objects a client sends, however
 * they are spaced, decorated and cut, give exactly their sizes; anything else stops the decoder
 * with a reason, and nothing makes it throw or grow without bound.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { TerminalSize } from '../../../provider/contracts.ts';
import { bytes, fc, fuzz, splits } from '../../../util/fuzz-support.test.ts';
import { TerminalSizeDecoder } from './resize.ts';

const dimension = fc.integer({ min: 0, max: 0xffff });
const spacing = fc.constantFrom('', ' ', '\n', '\r\n', '\t');

/** One resize message as clients write it, with keys in any case and unrelated fields around. */
const message = fc
  .record({
    width: dimension,
    height: dimension,
    widthKey: fc.constantFrom('Width', 'width', 'WIDTH'),
    heightKey: fc.constantFrom('Height', 'height'),
    extra: fc.dictionary(
      fc.string({ maxLength: 6 }).filter((key) => !['width', 'height'].includes(key.toLowerCase())),
      fc.jsonValue({ maxDepth: 2 }),
      { maxKeys: 2 },
    ),
    before: spacing,
  })
  .map((m) => ({
    size: { width: m.width, height: m.height },
    text: `${m.before}${JSON.stringify({ ...m.extra, [m.widthKey]: m.width, [m.heightKey]: m.height })}`,
  }));

function decode(chunks: readonly Buffer[]): { sizes: TerminalSize[]; failure: string | undefined } {
  const sizes: TerminalSize[] = [];
  const decoder = new TerminalSizeDecoder((size) => sizes.push(size));
  for (const chunk of chunks) decoder.write(chunk);
  return { sizes, failure: decoder.failure };
}

test('fuzz: resize messages give their sizes however they are cut', (t) => {
  const stream = fc
    .array(message, { minLength: 1, maxLength: 6 })
    .chain((list) => fc.tuple(fc.constant(list), splits(Buffer.from(list.map((m) => m.text).join('')))));
  fuzz(t, 'terminal resize decoder on cut messages', stream, ([list, chunks]) => {
    const decoded = decode(chunks);
    assert.equal(decoded.failure, undefined);
    assert.deepEqual(
      decoded.sizes,
      list.map((m) => m.size),
    );
  });
});

test('fuzz: anything else stops the decoder with a reason, never a throw', (t) => {
  const garbage = fc.oneof(
    bytes(120).chain(splits),
    fc.jsonValue({ maxDepth: 3 }).chain((value) => splits(Buffer.from(JSON.stringify(value) ?? 'null'))),
  );
  fuzz(t, 'terminal resize decoder on garbage', garbage, (chunks) => {
    const decoded = decode(chunks);
    if (decoded.failure !== undefined) assert.ok(decoded.failure.length > 0);
    for (const size of decoded.sizes) {
      assert.ok(Number.isInteger(size.width) && size.width >= 0 && size.width <= 0xffff);
      assert.ok(Number.isInteger(size.height) && size.height >= 0 && size.height <= 0xffff);
    }
  });
});
