import assert from 'node:assert/strict';
import { test } from 'node:test';
import { podDependencies, remoteCopy } from './reflected-objects.ts';
import { LABEL_ORIGIN_CLUSTER, LABEL_ORIGIN_NODE } from './remote-pod.ts';

test('a pod depends on the ConfigMaps and Secrets of its volumes, projections and pull secrets, once each', () => {
  const dependencies = podDependencies({
    spec: {
      containers: [{ name: 'app' }],
      imagePullSecrets: [{ name: 'registry' }],
      volumes: [
        { name: 'a', configMap: { name: 'settings' } },
        { name: 'b', secret: { secretName: 'tls' } },
        {
          name: 'c',
          projected: {
            sources: [
              { configMap: { name: 'settings' } },
              { secret: { name: 'extra' } },
              { serviceAccountToken: { path: 't' } },
            ],
          },
        },
        { name: 'd', emptyDir: {} },
      ],
    },
  });
  assert.deepEqual(dependencies, [
    { kind: 'ConfigMap', name: 'settings' },
    { kind: 'Secret', name: 'tls' },
    { kind: 'Secret', name: 'extra' },
    { kind: 'Secret', name: 'registry' },
  ]);
});

test('a pod depends on what its containers’ env and envFrom name, init and ephemeral ones included', () => {
  const dependencies = podDependencies({
    spec: {
      initContainers: [{ name: 'init', envFrom: [{ configMapRef: { name: 'boot' } }] }],
      containers: [
        {
          name: 'app',
          envFrom: [{ secretRef: { name: 'bulk', optional: true } }],
          env: [
            { name: 'A', valueFrom: { configMapKeyRef: { name: 'settings', key: 'a' } } },
            { name: 'B', valueFrom: { secretKeyRef: { name: 'creds', key: 'b' } } },
            { name: 'C', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
            { name: 'D', value: 'plain' },
          ],
        },
      ],
      ephemeralContainers: [
        { name: 'debug', env: [{ name: 'E', valueFrom: { secretKeyRef: { name: 'creds', key: 'e' } } }] },
      ],
    },
  });
  assert.deepEqual(dependencies, [
    { kind: 'ConfigMap', name: 'boot' },
    { kind: 'Secret', name: 'bulk' },
    { kind: 'ConfigMap', name: 'settings' },
    { kind: 'Secret', name: 'creds' },
  ]);
});

test('the remote copy has the data and type, our stamps, and none of the origin’s metadata', () => {
  const copy = remoteCopy(
    'Secret',
    {
      metadata: {
        name: 'tls',
        namespace: 'shop',
        uid: 'u',
        resourceVersion: '7',
        ownerReferences: [],
        labels: { a: 'b' },
      },
      type: 'kubernetes.io/tls',
      data: { 'tls.crt': 'Y2VydA==' },
      immutable: true,
    },
    'hub-shop',
    { originCluster: 'hub', nodeName: 'vk-1' },
    { labels: { team: 'burst' }, annotations: {} },
  );
  assert.deepEqual(copy, {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: {
      name: 'tls',
      namespace: 'hub-shop',
      labels: {
        team: 'burst',
        'app.kubernetes.io/managed-by': 'virtual-kubelet',
        [LABEL_ORIGIN_CLUSTER]: 'hub',
        [LABEL_ORIGIN_NODE]: 'vk-1',
        'virtual-kubelet.io/origin-namespace': 'shop',
      },
    },
    data: { 'tls.crt': 'Y2VydA==' },
    type: 'kubernetes.io/tls',
    immutable: true,
  });
  const configMap = remoteCopy(
    'ConfigMap',
    { metadata: { name: 'settings', namespace: 'shop' }, data: { a: '1' }, binaryData: { b: 'AA==' } },
    'hub-shop',
    { originCluster: 'hub', nodeName: 'vk-1' },
    { labels: {}, annotations: { contact: 'ops' } },
  );
  assert.deepEqual((configMap as { binaryData?: unknown }).binaryData, { b: 'AA==' });
  assert.deepEqual(configMap.metadata?.annotations, { contact: 'ops' });
});
