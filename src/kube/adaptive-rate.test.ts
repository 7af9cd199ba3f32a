import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AdaptiveRate } from './adaptive-rate.ts';

test('the rate starts at the cap and a 429 halves it', () => {
  const rate = new AdaptiveRate({ maxQps: 1000 });
  assert.equal(rate.qps, 1000);
  assert.equal(rate.throttled(0, 1000), 500);
});

test('the 429s of one window of requests in flight halve the rate once, not once each', () => {
  const rate = new AdaptiveRate({ maxQps: 1000 });
  rate.throttled(0, 1000);
  for (let at = 1; at < 1000; at += 10) assert.equal(rate.throttled(at, 1000), 500);
  // After the calm window, a new 429 is a new overload.
  assert.equal(rate.throttled(1000, 1000), 250);
});

test("a longer Retry-After is a longer calm: no second decrease and no growth before it's over", () => {
  const rate = new AdaptiveRate({ maxQps: 1000 });
  rate.throttled(0, 5000);
  assert.equal(rate.throttled(3000, 5000), 500);
  assert.equal(rate.accepted(4000), 500);
  assert.equal(rate.throttled(5000, 1000), 250);
});

test('accepted requests grow the rate linearly back to the cap, never above it', () => {
  const rate = new AdaptiveRate({ maxQps: 1000, increasePerSecond: 100 });
  rate.throttled(0, 1000); // 500, calm until 1000
  assert.equal(rate.accepted(1000), 500);
  assert.equal(rate.accepted(2000), 600);
  assert.equal(rate.accepted(2500), 650);
  assert.equal(rate.accepted(10_000), 1000);
  assert.equal(rate.accepted(20_000), 1000);
});

test('the default increase takes the rate from half the cap back to it in about five seconds', () => {
  const rate = new AdaptiveRate({ maxQps: 1000 });
  rate.throttled(0, 1000);
  assert.equal(rate.accepted(3500), 750);
  assert.equal(rate.accepted(6000), 1000);
});

test('repeated overload stops at the floor', () => {
  const rate = new AdaptiveRate({ maxQps: 1000 });
  for (let second = 0; second < 20; second++) rate.throttled(second * 1000, 1000);
  assert.equal(rate.qps, 50); // a twentieth of the cap
  const floored = new AdaptiveRate({ maxQps: 10, minQps: 4 });
  for (let second = 0; second < 5; second++) floored.throttled(second * 1000, 0);
  assert.equal(floored.qps, 4);
});

test('a cap that is not a finite positive rate is refused', () => {
  assert.throws(() => new AdaptiveRate({ maxQps: 0 }), RangeError);
  assert.throws(() => new AdaptiveRate({ maxQps: Number.POSITIVE_INFINITY }), RangeError);
});
