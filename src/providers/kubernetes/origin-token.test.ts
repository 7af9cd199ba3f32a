import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Pod } from 'kubernetes-types/core/v1.js';
import { tokenSecretData, tokenSecretName, tokenSecretVolume, tokenVolumePlans } from './origin-token.ts';
import { remotePodFromPod } from './remote-pod.ts';

const pod: Pod = {
  metadata: { name: 'web-1', namespace: 'shop', uid: 'uid-1' },
  spec: {
    serviceAccountName: 'builder',
    containers: [
      {
        name: 'app',
        volumeMounts: [{ name: 'kube-api-access-x', mountPath: '/var/run/secrets/kubernetes.io/serviceaccount' }],
      },
    ],
    volumes: [
      {
        name: 'kube-api-access-x',
        projected: {
          defaultMode: 420,
          sources: [
            { serviceAccountToken: { path: 'token', expirationSeconds: 3607 } },
            { configMap: { name: 'kube-root-ca.crt', items: [{ key: 'ca.crt', path: 'ca.crt' }] } },
            {
              downwardAPI: {
                items: [{ path: 'namespace', fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.namespace' } }],
              },
            },
          ],
        },
      },
      { name: 'data', emptyDir: {} },
    ],
  },
};

test('the admission plugin’s token volume becomes a Secret with the same files', () => {
  const [plan, ...others] = tokenVolumePlans(pod);
  assert.ok(plan);
  assert.equal(others.length, 0);
  assert.equal(plan.secretName, tokenSecretName('uid-1', 'kube-api-access-x'));
  assert.match(plan.secretName, /^vk-token-[0-9a-f]{20}$/);
  assert.equal(plan.expirationSeconds, 3607);
  assert.deepEqual(tokenSecretVolume(plan), {
    name: 'kube-api-access-x',
    secret: {
      secretName: plan.secretName,
      items: [
        { key: 'file-0', path: 'token' },
        { key: 'file-1', path: 'ca.crt' },
        { key: 'file-2', path: 'namespace' },
      ],
      defaultMode: 420,
    },
  });
  const data = tokenSecretData(plan, 'the-token', pod, (name, key) =>
    name === 'kube-root-ca.crt' && key === 'ca.crt' ? 'CA PEM' : undefined,
  );
  const text = Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v, 'base64').toString()]));
  assert.deepEqual(text, { 'file-0': 'the-token', 'file-1': 'CA PEM', 'file-2': 'shop' });
});

test('the remote pod mounts the replacement and keeps the mount; without one the volume is dropped', () => {
  const [plan] = tokenVolumePlans(pod);
  assert.ok(plan);
  const context = {
    originCluster: 'hub',
    nodeName: 'vk',
    remoteNamespace: 'hub-shop',
    nodeLabels: {},
    labels: {},
    annotations: {},
  };
  const replaced = remotePodFromPod(pod, {
    ...context,
    replacedVolumes: { [plan.volumeName]: tokenSecretVolume(plan) },
  });
  assert.equal(replaced.spec?.volumes?.[0]?.secret?.secretName, plan.secretName);
  assert.equal(replaced.spec?.containers[0]?.volumeMounts?.length, 1);
  assert.equal(replaced.spec?.automountServiceAccountToken, false);
  const dropped = remotePodFromPod(pod, context);
  assert.deepEqual(
    dropped.spec?.volumes?.map((v) => v.name),
    ['data'],
  );
  assert.deepEqual(dropped.spec?.containers[0]?.volumeMounts, []);
});

test('short token lifetimes are raised to the API’s minimum; other volumes have no plan', () => {
  const plans = tokenVolumePlans({
    metadata: { uid: 'u' },
    spec: {
      containers: [],
      volumes: [
        {
          name: 'vault',
          projected: { sources: [{ serviceAccountToken: { path: 't', audience: 'vault', expirationSeconds: 60 } }] },
        },
        { name: 'cfg', configMap: { name: 'x' } },
      ],
    },
  });
  assert.equal(plans.length, 1);
  assert.equal(plans[0]?.expirationSeconds, 600);
  assert.equal(plans[0]?.audience, 'vault');
});
