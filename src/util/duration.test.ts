import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatDuration, parseDuration } from './duration.ts';

test('Go durations parse to milliseconds', () => {
  assert.equal(parseDuration('1m'), 60_000);
  assert.equal(parseDuration('1m0s'), 60_000);
  assert.equal(parseDuration('1h30m'), 5_400_000);
  assert.equal(parseDuration('500ms'), 500);
  assert.equal(parseDuration('1.5s'), 1500);
  assert.equal(parseDuration('0'), 0);
  assert.equal(parseDuration('2562047h'), 2562047 * 3_600_000);
  // Past Go's 2^63 ns: Go refuses them; a JavaScript number would become Infinity.
  for (const bad of ['', '1', 'm', '1x', '1m junk', '-1s', '10 s', '2562048h', `1${'0'.repeat(400)}h`]) {
    assert.throws(() => parseDuration(bad), /invalid duration/, bad);
  }
});

test('durations format as Go prints them', () => {
  assert.equal(formatDuration(60_000), '1m0s');
  assert.equal(formatDuration(4 * 3_600_000), '4h0m0s');
  assert.equal(formatDuration(30_000), '30s');
  assert.equal(formatDuration(250), '250ms');
});
