import assert from 'node:assert/strict';
import { test } from 'node:test';
import { kubeTime, microTime } from './time.ts';

test('MicroTime has exactly six fractional digits; Time has none', () => {
  const date = new Date(Date.UTC(2026, 10, 25, 18, 33, 22, 7));
  assert.equal(microTime(date), '2026-11-25T18:33:22.007000Z');
  assert.equal(kubeTime(date), '2026-11-25T18:33:22Z');
  assert.match(microTime(), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
});

test('Time: each second its own text, before and after the epoch, whatever order the dates come in', () => {
  const at = (ms: number) => kubeTime(new Date(ms));
  const base = Date.UTC(2026, 11, 4, 4, 30, 0);
  assert.equal(at(base + 999), '2026-12-04T04:30:00Z');
  assert.equal(at(base + 1000), '2026-12-04T04:30:01Z');
  assert.equal(at(base + 1), '2026-12-04T04:30:00Z');
  assert.equal(at(-1), '1969-12-31T23:59:59Z');
  assert.equal(at(0), '1970-01-01T00:00:00Z');
  assert.throws(() => kubeTime(new Date(Number.NaN)), RangeError);
  assert.throws(() => kubeTime(new Date(Number.NaN)), RangeError, 'an invalid date is never cached');
});
