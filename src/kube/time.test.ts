import assert from 'node:assert/strict';
import { test } from 'node:test';
import { kubeTime, microTime } from './time.ts';

test('MicroTime has exactly six fractional digits; Time has none', () => {
  const date = new Date(Date.UTC(2026, 10, 25, 18, 33, 22, 7));
  assert.equal(microTime(date), '2026-11-25T18:33:22.007000Z');
  assert.equal(kubeTime(date), '2026-11-25T18:33:22Z');
  assert.match(microTime(), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
});
