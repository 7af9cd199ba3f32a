/**
 * Our Kubernetes client against the real API server, where its behaviour depends on what the
 * server does: writes that ask for a metadata-only answer.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { Pod } from 'kubernetes-types/core/v1.js';
import { Pods } from '../../src/kube/resources.ts';
import { type TestCluster, testCluster } from '../../tools/kube/testing.ts';

let cluster: TestCluster;
let namespace: string;

before(async () => {
  cluster = await testCluster();
  namespace = await cluster.createNamespace('kube-client');
});

after(async () => {
  await cluster?.deleteNamespace(namespace);
});

test("a status patch and a delete asking for metadata get PartialObjectMetadata with the write's resourceVersion", async () => {
  const created = await cluster.client.create(Pods, {
    metadata: { name: 'p', namespace },
    spec: { nodeName: 'nowhere', containers: [{ name: 'app', image: 'registry.local/app:1' }] },
  });

  const patched = await cluster.client.patch(
    Pods,
    { namespace, name: 'p', subresource: 'status' },
    { status: { message: 'hello' } },
    'strategic',
    { answer: 'metadata' },
  );
  assert.equal(patched.kind, 'PartialObjectMetadata');
  assert.equal(patched.metadata?.uid, created.metadata?.uid);
  assert.equal((patched as Pod).spec, undefined, 'no spec in the answer');
  const stored = await cluster.client.get<Pod>(Pods, { namespace, name: 'p' });
  assert.equal(stored.status?.message, 'hello');
  assert.equal(patched.metadata?.resourceVersion, stored.metadata?.resourceVersion);

  const deleted = await cluster.client.delete(
    Pods,
    { namespace, name: 'p' },
    { gracePeriodSeconds: 0, preconditions: { uid: created.metadata?.uid ?? '' }, answer: 'metadata' },
  );
  assert.equal(deleted.kind, 'PartialObjectMetadata');
  await assert.rejects(cluster.client.get(Pods, { namespace, name: 'p' }), /not found/i);
});
