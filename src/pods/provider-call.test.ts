import assert from 'node:assert/strict';
import { test } from 'node:test';
import { callProvider } from './provider-call.ts';

/** A provider call that never settles and ignores its signal. */
const deaf = () => new Promise<never>(() => {});

test('a provider that ignores its signal is not waited for past a stop', async () => {
  const stop = new AbortController();
  const calling = callProvider(stop.signal, 60_000, deaf);
  stop.abort(new Error('stopping'));
  await assert.rejects(calling, /stopping/);
});

test('nor past the call timeout', async () => {
  const started = Date.now();
  await assert.rejects(callProvider(new AbortController().signal, 50, deaf), /timed out after 50 ms/);
  assert.ok(Date.now() - started < 1000);
});

test('a call made after the stop gets an aborted signal at once', async () => {
  let seen: AbortSignal | undefined;
  await assert.rejects(
    callProvider(AbortSignal.abort(new Error('stopped')), 60_000, async (options) => {
      seen = options.signal;
      return deaf();
    }),
    /stopped/,
  );
  assert.equal(seen?.aborted, true);
});

test('a result or a failure of the provider passes through, a synchronous throw too', async () => {
  const signal = new AbortController().signal;
  assert.equal(await callProvider(signal, 1000, async () => 7), 7);
  await assert.rejects(
    callProvider(signal, 1000, async () => Promise.reject(new Error('backend said no'))),
    /backend said no/,
  );
  await assert.rejects(
    callProvider(signal, 1000, () => {
      throw new Error('sync');
    }),
    /sync/,
  );
});
