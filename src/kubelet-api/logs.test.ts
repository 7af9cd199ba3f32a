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
  // Found by fuzzing: Date alone accepts these (rolling over or yielding an Invalid Date).
  for (const time of [
    '2024-02-30T00:00:00Z',
    '2024-13-01T00:00:00Z',
    '2024-01-01T25:00:00Z',
    '2024-01-01T00:00:00+24:00',
  ]) {
    assert.throws(
      () => parseLogOptions(q(`sinceTime=${encodeURIComponent(time)}`)),
      /sinceTime: invalid RFC 3339/,
      time,
    );
  }
  assert.equal(
    parseLogOptions(q('sinceTime=2024-02-29T23:59:59.5%2B02:00')).sinceTime?.toISOString(),
    '2024-02-29T21:59:59.500Z',
  );
  assert.throws(() => parseLogOptions(q('tailLines=99999999999999999999')), /tailLines: value out of range/);
});
