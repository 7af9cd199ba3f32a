import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TokenBucket } from './token-bucket.ts';

test('a burst is served at once, then the rate applies', async () => {
  const bucket = new TokenBucket(100, 5);
  for (let i = 0; i < 5; i++) assert.equal(bucket.tryTake(), true);
  assert.equal(bucket.tryTake(), false);
  const started = performance.now();
  await Promise.all(Array.from({ length: 10 }, () => bucket.take()));
  const elapsed = performance.now() - started;
  // Ten tokens at 100/s take about 100 ms; allow generous scheduling slack, but not "instant".
  assert.ok(elapsed >= 80, `took ${elapsed} ms`);
  assert.ok(elapsed < 5000, `took ${elapsed} ms`);
});

test('waiters are served in order, and an aborted waiter is rejected at once without using a token', async () => {
  const bucket = new TokenBucket(50, 1);
  assert.equal(bucket.tryTake(), true);
  const order: number[] = [];
  const controller = new AbortController();
  const first = bucket.take().then(() => order.push(1));
  const aborted = bucket.take(controller.signal).then(
    () => order.push(99),
    () => order.push(-1),
  );
  const third = bucket.take().then(() => order.push(3));
  assert.equal(bucket.waiting, 3);
  controller.abort();
  await aborted;
  assert.equal(bucket.waiting, 2, 'one gave up: the gauge no longer counts it');
  await Promise.all([first, third]);
  assert.deepEqual(order, [-1, 1, 3]);
  assert.equal(bucket.waiting, 0);
});

test('qps 0 means no limit; reserve() reports the wait it booked', () => {
  const unlimited = new TokenBucket(0, 1);
  for (let i = 0; i < 10_000; i++) assert.equal(unlimited.tryTake(), true);
  assert.equal(unlimited.reserve(), 0);
  const bucket = new TokenBucket(10, 2);
  assert.equal(bucket.reserve(), 0);
  assert.equal(bucket.reserve(), 0);
  const wait = bucket.reserve();
  assert.ok(wait > 90 && wait <= 100, `wait ${wait}`);
});

test('setRate: a lower rate spends what was saved and slows the waiters already queued; a higher one speeds them up', async () => {
  const bucket = new TokenBucket(1000, 100);
  bucket.setRate(500);
  assert.equal(bucket.qps, 500);
  // The 100 saved tokens are gone: the next take waits for a refill.
  assert.equal(bucket.tryTake(), false);
  // A waiter queued at 0.01/s (100 s a token) is served soon once the rate is raised.
  const slow = new TokenBucket(0.01, 1);
  assert.equal(slow.tryTake(), true);
  const waiting = slow.take();
  assert.equal(slow.waiting, 1);
  slow.setRate(1000);
  await waiting;
  assert.equal(slow.waiting, 0);
  // An unlimited bucket stays unlimited.
  const unlimited = new TokenBucket(0, 1);
  unlimited.setRate(10);
  assert.equal(unlimited.unlimited, true);
});

test('waiters that gave up are not counted while they wait to be skipped, and do not hold up the rest', async () => {
  const bucket = new TokenBucket(20, 1);
  assert.equal(bucket.tryTake(), true);
  const controller = new AbortController();
  const gaveUp = Array.from({ length: 100 }, () => bucket.take(controller.signal).catch(() => 'aborted'));
  controller.abort();
  assert.deepEqual(new Set(await Promise.all(gaveUp)), new Set(['aborted']));
  assert.equal(bucket.waiting, 0);
  const started = performance.now();
  await bucket.take();
  // One token at 20/s: about 50 ms, not 100 tokens' worth (5 s).
  assert.ok(performance.now() - started < 1000, `took ${performance.now() - started} ms`);
  assert.equal(bucket.waiting, 0);
});
