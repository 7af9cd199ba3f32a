import assert from 'node:assert/strict';
import { test } from 'node:test';
import { until } from '../../test/support/wait.ts';
import { WorkQueue } from './work-queue.ts';

/** Resolves when `predicate` holds, checking after every macrotask. */
test('a key added many times is processed once, and never by two workers at once', async () => {
  const queue = new WorkQueue({ name: 't' });
  const controller = new AbortController();
  const active = new Set<string>();
  let concurrentSameKey = 0;
  const processed: string[] = [];
  let release: (() => void) | undefined;
  const firstRunBlocked = new Promise<void>((resolve) => {
    release = resolve;
  });
  // Queued before any worker runs: three adds, one key.
  queue.add('b');
  queue.add('b');
  queue.add('b');
  const running = queue.run({
    workers: 4,
    signal: controller.signal,
    handler: async (key) => {
      if (active.has(key)) concurrentSameKey++;
      active.add(key);
      processed.push(key);
      if (key === 'a' && processed.filter((k) => k === 'a').length === 1) await firstRunBlocked;
      active.delete(key);
    },
  });
  queue.add('a');
  await until(() => processed.includes('a'), 'a to start');
  // While 'a' is being processed, adds mark it dirty: it runs once more afterwards, not concurrently.
  queue.add('a');
  queue.add('a');
  release?.();
  await until(() => processed.length === 3, 'a again');
  controller.abort();
  await running;
  assert.equal(concurrentSameKey, 0);
  assert.deepEqual(processed.sort(), ['a', 'a', 'b']);
});

test('failures back off exponentially per key; success forgets them', async () => {
  const queue = new WorkQueue({ name: 't', baseDelayMs: 10, maxDelayMs: 1000, retryQps: 0 });
  const controller = new AbortController();
  const attempts: number[] = [];
  const running = queue.run({
    workers: 1,
    signal: controller.signal,
    handler: async () => {
      attempts.push(performance.now());
      if (attempts.length < 4) throw new Error('not yet');
    },
  });
  queue.add('k');
  await until(() => attempts.length === 4, '4 attempts');
  await until(() => queue.failures('k') === 0, 'the success to reset failures');
  controller.abort();
  await running;
  const gaps = attempts.slice(1).map((t, i) => t - (attempts[i] as number));
  // Backoff 10, 20, 40 ms: each gap at least its delay.
  assert.ok((gaps[0] ?? 0) >= 9, `gaps ${gaps}`);
  assert.ok((gaps[1] ?? 0) >= 19, `gaps ${gaps}`);
  assert.ok((gaps[2] ?? 0) >= 39, `gaps ${gaps}`);
});

test('addAfter keeps the earliest time, and add() overrides a pending delay', async () => {
  const queue = new WorkQueue({ name: 't' });
  const controller = new AbortController();
  const seen: string[] = [];
  const running = queue.run({
    workers: 2,
    signal: controller.signal,
    handler: async (key) => {
      seen.push(key);
    },
  });
  queue.addAfter('late', 60_000);
  queue.addAfter('late', 20);
  queue.addAfter('later', 60_000);
  queue.add('later');
  await until(() => seen.length === 2, 'both keys');
  assert.deepEqual(seen.sort(), ['late', 'later']);
  assert.equal(queue.delayed, 0);
  controller.abort();
  await running;
});

test('a handler can ask to be requeued; shutdown ends the workers', async () => {
  const queue = new WorkQueue({ name: 't' });
  const controller = new AbortController();
  let runs = 0;
  const running = queue.run({
    workers: 1,
    signal: controller.signal,
    handler: async () => {
      runs++;
      return runs < 3 ? { requeueAfterMs: 1 } : undefined;
    },
  });
  queue.add('poll');
  await until(() => runs === 3, 'three runs');
  controller.abort();
  await running;
  queue.add('ignored after shutdown');
  assert.equal(queue.length, 0);
});

test('ten thousand keys go through with bounded bookkeeping', async () => {
  const queue = new WorkQueue({ name: 't' });
  const controller = new AbortController();
  let done = 0;
  const running = queue.run({
    workers: 8,
    signal: controller.signal,
    handler: async () => {
      done++;
    },
  });
  for (let i = 0; i < 10_000; i++) queue.add(`ns/pod-${i}`);
  await until(() => done === 10_000, 'all keys');
  assert.equal(queue.length, 0);
  assert.equal(queue.processing, 0);
  controller.abort();
  await running;
});

test('a run whose signal aborted before it began returns at once', async () => {
  const queue = new WorkQueue({ name: 't' });
  const run = queue.run({ workers: 2, signal: AbortSignal.abort(), handler: async () => undefined });
  const outcome = await Promise.race([
    run.then(() => 'returned'),
    new Promise((resolve) => setTimeout(() => resolve('still running'), 1000)),
  ]);
  assert.equal(outcome, 'returned');
});
