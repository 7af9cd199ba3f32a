import assert from 'node:assert/strict';
import { test } from 'node:test';
import { answeredResourceVersion } from './client.ts';

test("a write's resourceVersion is read from the metadata the API server sends first", () => {
  const answer = JSON.stringify({
    kind: 'PartialObjectMetadata',
    apiVersion: 'meta.k8s.io/v1',
    metadata: {
      name: 'web-0',
      namespace: 'default',
      uid: 'd4db9cae-64c0-463a-98ed-f23c27e8ba78',
      resourceVersion: '48213',
      creationTimestamp: '2026-12-04T21:43:31Z',
      annotations: { note: '"resourceVersion":"1"' },
      managedFields: [{ manager: 'vk', fieldsV1: { 'f:metadata': { 'f:resourceVersion': {} } } }],
    },
  });
  assert.equal(answeredResourceVersion(answer), '48213');
});

test('an answer in another order or form is decoded in full', () => {
  const reordered = JSON.stringify({ spec: { resourceVersion: 'not this' }, metadata: { resourceVersion: '7' } });
  assert.equal(answeredResourceVersion(reordered), '7');
  assert.equal(answeredResourceVersion('{"metadata": {"resourceVersion": "9"}}'), '9');
  assert.equal(answeredResourceVersion('{"kind":"Status","status":"Success"}'), undefined);
  assert.equal(answeredResourceVersion(''), undefined);
});
