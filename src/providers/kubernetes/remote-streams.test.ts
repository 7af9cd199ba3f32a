import assert from 'node:assert/strict';
import { test } from 'node:test';
import { exitCodeFromStatus, logQuery } from './remote-streams.ts';

test('the exit code from the remote’s final Status', () => {
  assert.equal(exitCodeFromStatus('{"metadata":{},"status":"Success"}'), 0);
  assert.equal(
    exitCodeFromStatus(
      JSON.stringify({
        status: 'Failure',
        reason: 'NonZeroExitCode',
        message: 'command terminated with non-zero exit code: exit status 7',
        details: { causes: [{ reason: 'ExitCode', message: '7' }] },
      }),
    ),
    7,
  );
  assert.throws(
    () =>
      exitCodeFromStatus(JSON.stringify({ status: 'Failure', reason: 'InternalError', message: 'no such container' })),
    /no such container/,
  );
});

test('every kubectl logs option reaches the remote', () => {
  const query = logQuery('app', {
    follow: true,
    previous: true,
    timestamps: true,
    tailLines: 5,
    limitBytes: 100,
    sinceTime: new Date('2026-01-02T03:04:05.678Z'),
  });
  assert.equal(
    query.toString(),
    'container=app&follow=true&previous=true&timestamps=true&tailLines=5&limitBytes=100&sinceTime=2026-01-02T03%3A04%3A05Z',
  );
  assert.equal(
    logQuery('app', { follow: false, previous: false, timestamps: false, sinceSeconds: 30 }).toString(),
    'container=app&sinceSeconds=30',
  );
});
