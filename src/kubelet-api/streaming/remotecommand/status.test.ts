import assert from 'node:assert/strict';
import { test } from 'node:test';
import { encodeStatus, exitCodeStatus, internalErrorStatus, successStatus } from './status.ts';

test('JSON statuses have the fields in metav1.Status order', () => {
  assert.equal(encodeStatus(successStatus(), 'json')?.toString(), '{"metadata":{},"status":"Success"}');
  assert.equal(encodeStatus(exitCodeStatus(0), 'json')?.toString(), '{"metadata":{},"status":"Success"}');
  assert.equal(
    encodeStatus(exitCodeStatus(255), 'json')?.toString(),
    '{"metadata":{},"status":"Failure","message":"command terminated with non-zero exit code: exit status 255",' +
      '"reason":"NonZeroExitCode","details":{"causes":[{"reason":"ExitCode","message":"255"}]}}',
  );
  assert.equal(
    encodeStatus(internalErrorStatus('boom'), 'json')?.toString(),
    '{"metadata":{},"status":"Failure","message":"Internal error occurred: boom","reason":"InternalError","code":500}',
  );
});

test('text statuses are the message alone, and nothing on success', () => {
  assert.equal(encodeStatus(successStatus(), 'text'), undefined);
  assert.equal(
    encodeStatus(exitCodeStatus(2), 'text')?.toString(),
    'command terminated with non-zero exit code: exit status 2',
  );
});
