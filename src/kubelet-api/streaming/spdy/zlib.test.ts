import assert from 'node:assert/strict';
import { test } from 'node:test';
import zlib from 'node:zlib';
import { SPDY3_DICTIONARY } from './dictionary.ts';
import { SpdyProtocolError } from './errors.ts';
import { decodeHeaderBlock, encodeHeaderBlock } from './frames.ts';
import { HeaderCompressor, HeaderDecompressor } from './zlib.ts';

const SYNC_FLUSH_MARKER = '0000ffff';

test('blocks round-trip in order through one persistent context per direction', async (t) => {
  const compressor = new HeaderCompressor();
  const decompressor = new HeaderDecompressor();
  t.after(() => {
    compressor.close();
    decompressor.close();
  });
  const blocks = Array.from({ length: 200 }, (_, i) =>
    encodeHeaderBlock({
      streamtype: ['error', 'stdin', 'stdout', 'stderr', 'resize'][i % 5] as string,
      requestid: `${i}`,
    }),
  );
  // Started all at once: the classes must serialise them and keep the order.
  const compressed = await Promise.all(blocks.map((block) => compressor.compress(block)));
  for (const block of compressed) assert.equal(block.subarray(-4).toString('hex'), SYNC_FLUSH_MARKER);
  // The context is shared: later blocks refer back to earlier ones and come out smaller.
  assert.ok((compressed[199]?.length ?? 0) < (compressed[0]?.length ?? 0));
  const inflated = await Promise.all(compressed.map((block) => decompressor.decompress(block)));
  assert.deepEqual(inflated, blocks);
});

test('the first block is a zlib stream with the SPDY dictionary that plain zlib can read', async (t) => {
  const compressor = new HeaderCompressor();
  t.after(() => compressor.close());
  const block = encodeHeaderBlock({ streamtype: 'stdout' });
  const compressed = await compressor.compress(block);
  assert.equal(compressed.readUInt32BE(2), 0xe3c6a7c2, 'DICTID in the zlib header');
  // An independent one-shot inflater (as Go's zlib.NewReaderDict would be) reads it.
  const inflated = zlib.inflateSync(compressed, {
    dictionary: SPDY3_DICTIONARY,
    finishFlush: zlib.constants.Z_SYNC_FLUSH,
  });
  assert.deepEqual({ ...decodeHeaderBlock(inflated) }, { streamtype: 'stdout' });
});

test('blocks from an independent compressor (as the peer has) inflate', async (t) => {
  const decompressor = new HeaderDecompressor();
  t.after(() => decompressor.close());
  const deflate = zlib.createDeflate({ dictionary: SPDY3_DICTIONARY, level: 9 });
  const flushBlock = (block: Buffer) =>
    new Promise<Buffer>((resolve) => {
      const out: Buffer[] = [];
      const onData = (chunk: Buffer) => out.push(chunk);
      deflate.on('data', onData);
      deflate.write(block);
      deflate.flush(zlib.constants.Z_SYNC_FLUSH, () => {
        deflate.off('data', onData);
        resolve(Buffer.concat(out));
      });
    });
  for (const port of ['80', '443', '8080']) {
    const block = encodeHeaderBlock({ streamtype: 'data', port, requestid: '0' });
    assert.deepEqual(await decompressor.decompress(await flushBlock(block)), block);
  }
  deflate.close();
});

test('a block that does not inflate breaks the context for good', async (t) => {
  const decompressor = new HeaderDecompressor();
  t.after(() => decompressor.close());
  await assert.rejects(decompressor.decompress(Buffer.from('this is not zlib at all')), SpdyProtocolError);
  await assert.rejects(decompressor.decompress(Buffer.from([0x78, 0xbb])), SpdyProtocolError);
});

test('a decompression bomb is stopped at the block size limit', async (t) => {
  const compressor = new HeaderCompressor({ level: 9 });
  const decompressor = new HeaderDecompressor({ maxBlockSize: 64 * 1024 });
  t.after(() => {
    compressor.close();
    decompressor.close();
  });
  // 64 MiB of zeros compresses to about 64 KiB: one frame's worth, a thousandfold on inflation.
  const bomb = await compressor.compress(Buffer.alloc(64 * 1024 * 1024));
  assert.ok(bomb.length < 128 * 1024);
  const started = performance.now();
  await assert.rejects(decompressor.decompress(bomb), /over 65536 bytes/);
  assert.ok(performance.now() - started < 2000, 'stopped early, not after inflating everything');
  await assert.rejects(decompressor.decompress(Buffer.from([1])), SpdyProtocolError);
});

test('an empty block needs no zlib, and close() rejects what is still queued', async () => {
  const decompressor = new HeaderDecompressor();
  assert.equal((await decompressor.decompress(Buffer.alloc(0))).length, 0);
  const compressor = new HeaderCompressor();
  const pending = compressor.compress(encodeHeaderBlock({ a: 'b' }));
  compressor.close();
  await assert.rejects(pending, SpdyProtocolError);
  await assert.rejects(compressor.compress(encodeHeaderBlock({})), SpdyProtocolError);
  decompressor.close();
});
