import assert from 'node:assert/strict';
import { test } from 'node:test';
import { applyLogOptions, formatLogTimestamp, type LogEntry } from './logs.ts';

test('timestamps have a fixed width with nine fractional digits', () => {
  assert.equal(formatLogTimestamp(new Date(Date.UTC(2026, 10, 25, 10, 0, 0, 5))), '2026-11-25T10:00:00.005000000Z');
  assert.equal(formatLogTimestamp(new Date(Date.UTC(2026, 10, 25, 10, 0, 0, 0))).length, 30);
});

test('since, tail, timestamps and limitBytes apply in the kubelet order', () => {
  const base = Date.UTC(2026, 0, 1, 0, 0, 0);
  const entries: LogEntry[] = Array.from({ length: 10 }, (_, i) => ({
    time: new Date(base + i * 1000),
    text: `l${i + 1}`,
  }));
  const now = new Date(base + 9500);
  const opts = { follow: false, previous: false, timestamps: false };
  assert.equal(applyLogOptions(entries, { ...opts, tailLines: 2 }).toString(), 'l9\nl10\n');
  assert.equal(applyLogOptions(entries, { ...opts, tailLines: 0 }).toString(), '');
  assert.equal(applyLogOptions(entries, { ...opts, sinceSeconds: 3 }, now).toString(), 'l8\nl9\nl10\n');
  assert.equal(applyLogOptions(entries, { ...opts, sinceSeconds: 3, tailLines: 1 }, now).toString(), 'l10\n');
  assert.equal(applyLogOptions(entries, { ...opts, limitBytes: 5 }).toString(), 'l1\nl2');
  assert.equal(
    applyLogOptions(entries, { ...opts, tailLines: 1, timestamps: true }).toString(),
    '2026-01-01T00:00:09.000000000Z l10\n',
  );
});
