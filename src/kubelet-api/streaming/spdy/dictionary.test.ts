import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import zlib from 'node:zlib';
import { SPDY3_DICTIONARY } from './dictionary.ts';

// Reference values, computed from the byte table in moby/spdystream `spdy/dictionary.go`
// (commit f0be51f), which the SPDY/3 draft's table and spdy-transport's copy match byte for
// byte. 0xe3c6a7c2 is also the dictionary ID other SPDY implementations check for (e.g. the
// Perl Protocol::SPDY test suite), and it is what every SPDY/3 header stream starts with.
const SHA256 = '51d27341373f923f3cd88e1eb7162aeaa3723d7585ff2399201dc06498407f02';
const ADLER32 = 0xe3c6a7c2;

/** Adler-32 (RFC 1950), written out so the test does not trust zlib for the value it checks. */
function adler32(bytes: Uint8Array): number {
  let a = 1;
  let b = 0;
  for (const byte of bytes) {
    a = (a + byte) % 65521;
    b = (b + a) % 65521;
  }
  return ((b << 16) | a) >>> 0;
}

test('the dictionary is the 1,423 bytes of the SPDY/3 draft', () => {
  assert.equal(SPDY3_DICTIONARY.length, 1423);
  assert.equal(createHash('sha256').update(SPDY3_DICTIONARY).digest('hex'), SHA256);
  assert.equal(adler32(SPDY3_DICTIONARY), ADLER32);
  // Spot checks at both ends: the first length-prefixed word and the last bytes of the text run.
  assert.deepEqual([...SPDY3_DICTIONARY.subarray(0, 11)], [0, 0, 0, 7, ...Buffer.from('options')]);
  assert.equal(SPDY3_DICTIONARY.subarray(-6).toString('latin1'), 'enq=0.');
});

test('zlib names the dictionary by the same Adler-32 in the stream header (FDICT)', () => {
  const compressed = zlib.deflateSync(Buffer.from('streamtype'), { dictionary: SPDY3_DICTIONARY });
  // CMF/FLG, then DICTID: RFC 1950 section 2.2.
  assert.ok(((compressed[1] ?? 0) & 0x20) !== 0, 'FDICT is set');
  assert.equal(compressed.readUInt32BE(2), ADLER32);
});
