import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { readTar, writeTar } from './tar.ts';

test('an archive written here reads back, and GNU tar agrees with it both ways', () => {
  const data = Buffer.alloc(700_001, 7);
  const archive = writeTar([
    { name: 'tmp/big.bin', data, mode: 0o644, mtime: new Date(1_700_000_000_000), type: '0' },
    { name: `deep/${'x'.repeat(120)}`, data: Buffer.from('long name'), mode: 0o600, mtime: new Date(0), type: '0' },
  ]);
  const entries = readTar(archive);
  assert.deepEqual(
    entries.map((e) => e.name),
    ['tmp/big.bin', `deep/${'x'.repeat(120)}`],
  );
  assert.ok(entries[0]?.data.equals(data));

  const dir = mkdtempSync(join(tmpdir(), 'vk-tar-'));
  writeFileSync(join(dir, 'a.tar'), archive);
  execFileSync('tar', ['xf', 'a.tar'], { cwd: dir });
  assert.ok(readFileSync(join(dir, 'tmp', 'big.bin')).equals(data));
  assert.equal(readFileSync(join(dir, 'deep', 'x'.repeat(120)), 'utf8'), 'long name');

  writeFileSync(join(dir, 'hello.txt'), 'hello from GNU tar');
  const gnu = execFileSync('tar', ['cf', '-', '--format=pax', 'hello.txt'], { cwd: dir });
  assert.deepEqual(
    readTar(gnu).map((e) => [e.name, e.data.toString()]),
    [['hello.txt', 'hello from GNU tar']],
  );
});

test('a corrupt or truncated archive is an error, not a crash', () => {
  const archive = writeTar([{ name: 'f', data: Buffer.alloc(2000), mode: 0o644, mtime: new Date(0), type: '0' }]);
  assert.throws(() => readTar(archive.subarray(0, 1024)), /unexpected end/);
  const corrupt = Buffer.from(archive);
  corrupt[10] = 0x41;
  assert.throws(() => readTar(corrupt), /checksum/);
});
