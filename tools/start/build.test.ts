import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { staleOutput } from './build.ts';

/** A repository with src/, dist/ and the two tsconfigs, every file at `time` (seconds). */
function repo(time: number): string {
  const dir = mkdtempSync(join(tmpdir(), 'vk-start-build-'));
  const files = [
    'tsconfig.json',
    'tsconfig.build.json',
    'src/index.ts',
    'src/kube/client.ts',
    'src/kube/client.test.ts',
  ];
  files.push('dist/index.js', 'dist/kube/client.js');
  for (const file of files) {
    mkdirSync(join(dir, file, '..'), { recursive: true });
    writeFileSync(join(dir, file), '');
    utimesSync(join(dir, file), time, time);
  }
  return dir;
}

test('dist/ newer than every source and setting is current; tests are not compiled, so they do not count', () => {
  const dir = repo(1000);
  assert.equal(staleOutput(dir), undefined);
  utimesSync(join(dir, 'src/kube/client.test.ts'), 2000, 2000);
  assert.equal(staleOutput(dir), undefined);
});

test('a changed source, a changed tsconfig or a missing output makes it stale, saying which', () => {
  const changed = repo(1000);
  utimesSync(join(changed, 'src/kube/client.ts'), 2000, 2000);
  assert.equal(staleOutput(changed), 'src/kube/client.ts changed since the last build');

  const settings = repo(1000);
  utimesSync(join(settings, 'tsconfig.build.json'), 2000, 2000);
  assert.match(staleOutput(settings) ?? '', /changed since the last build/);

  const added = repo(1000);
  writeFileSync(join(added, 'src/new.ts'), '');
  assert.equal(staleOutput(added), 'dist/new.js is missing');
});
