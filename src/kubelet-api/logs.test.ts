import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseLogOptions } from './logs.ts';

const q = (query: string) => new URLSearchParams(query);

test('log options parse and validate as the kubelet does', () => {
  assert.deepEqual(parseLogOptions(q('follow=true&timestamps=true&tailLines=10&limitBytes=500')), {
    follow: true,
    previous: false,
    timestamps: true,
    tailLines: 10,
    limitBytes: 500,
  });
  assert.equal(
    parseLogOptions(q('sinceTime=2026-11-25T10:00:00Z')).sinceTime?.toISOString(),
    '2026-11-25T10:00:00.000Z',
  );
  assert.equal(parseLogOptions(q('sinceSeconds=30')).sinceSeconds, 30);
  assert.throws(() => parseLogOptions(q('tailLines=-1')), /tailLines: must be non-negative/);
  assert.throws(() => parseLogOptions(q('limitBytes=0')), /limitBytes: must be at least 1/);
  assert.throws(() => parseLogOptions(q('sinceSeconds=0')), /sinceSeconds: must be at least 1/);
  assert.throws(
    () => parseLogOptions(q('sinceSeconds=5&sinceTime=2026-11-25T10:00:00Z')),
    /at most one of sinceTime or sinceSeconds/,
  );
  assert.throws(() => parseLogOptions(q('sinceTime=yesterday')), /sinceTime: invalid RFC 3339/);
  assert.throws(() => parseLogOptions(q('tailLines=ten')), /tailLines: invalid integer/);
  assert.throws(() => parseLogOptions(q('follow=maybe')), /follow: invalid boolean/);
});
