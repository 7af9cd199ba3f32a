import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ConfigMap, EnvVar, Pod, Secret, Service } from 'kubernetes-types/core/v1.js';
import { expandVariables } from '../../kubelet/env/expansion.ts';
import { type OriginEnvironmentContext, withOriginEnvironment } from './remote-env.ts';

const services: Record<string, Service[]> = {
  default: [
    {
      metadata: { name: 'kubernetes', namespace: 'default' },
      spec: { clusterIP: '10.0.0.1', ports: [{ name: 'https', port: 443, protocol: 'TCP' }] },
    },
  ],
  shop: [{ metadata: { name: 'db', namespace: 'shop' }, spec: { clusterIP: '10.0.0.5', ports: [{ port: 5432 }] } }],
};
const configMaps: Record<string, ConfigMap> = {
  settings: { metadata: { name: 'settings', namespace: 'shop' }, data: { DB_SERVICE_HOST: 'override', mode: 'fast' } },
};
const secrets: Record<string, Secret> = {
  creds: { metadata: { name: 'creds', namespace: 'shop' }, data: { password: 'czNjcjN0' } },
};

const context: OriginEnvironmentContext = {
  sources: {
    getConfigMap: (namespace, name) => (namespace === 'shop' ? configMaps[name] : undefined),
    getSecret: (namespace, name) => (namespace === 'shop' ? secrets[name] : undefined),
    listServices: (namespace) => services[namespace] ?? [],
  },
  nodeName: 'vk-remote',
  hostIPs: ['192.0.2.7'],
};

function pod(env: EnvVar[], spec: Partial<NonNullable<Pod['spec']>> = {}): Pod {
  return {
    metadata: {
      name: 'web-1',
      namespace: 'shop',
      uid: 'uid-1',
      labels: { app: 'web', price: '$(HOME)' },
      annotations: { note: 'a$$b' },
    },
    spec: { nodeName: 'vk-remote', serviceAccountName: 'shopper', containers: [{ name: 'app', env }], ...spec },
  };
}

function envOf(translated: Pod, container = 0): EnvVar[] {
  return translated.spec?.containers[container]?.env ?? [];
}

function byName(env: EnvVar[], name: string): EnvVar | undefined {
  return env.find((variable) => variable.name === name);
}

test('ConfigMap and Secret references and envFrom stay references, with optional kept: no value in the spec', () => {
  const env: EnvVar[] = [
    { name: 'PASSWORD', valueFrom: { secretKeyRef: { name: 'creds', key: 'password' } } },
    { name: 'MAYBE', valueFrom: { secretKeyRef: { name: 'absent', key: 'k', optional: true } } },
    { name: 'MODE', valueFrom: { configMapKeyRef: { name: 'settings', key: 'mode', optional: false } } },
  ];
  const envFrom = [
    { secretRef: { name: 'creds' } },
    { configMapRef: { name: 'settings', optional: true }, prefix: 'S_' },
  ];
  const translated = withOriginEnvironment(pod(env, { containers: [{ name: 'app', env, envFrom }] }), context);
  const container = translated.spec?.containers[0];
  assert.deepEqual(container?.envFrom, envFrom);
  for (const reference of env) assert.deepEqual(byName(envOf(translated), reference.name), reference);
  const spec = JSON.stringify(translated.spec);
  assert.doesNotMatch(spec, /s3cr3t|czNjcjN0/);
  assert.doesNotMatch(spec, /"fast"/);
});

test('downward API fields are the origin pod’s, except the pod IPs the remote kubelet knows; resourceFieldRef stays', () => {
  const field = (name: string, fieldPath: string): EnvVar => ({ name, valueFrom: { fieldRef: { fieldPath } } });
  const limit: EnvVar = { name: 'CPU', valueFrom: { resourceFieldRef: { resource: 'limits.cpu' } } };
  const env = [
    field('NAME', 'metadata.name'),
    field('NAMESPACE', 'metadata.namespace'),
    field('UID', 'metadata.uid'),
    field('APP', "metadata.labels['app']"),
    field('LABELS', 'metadata.labels'),
    field('NOTE', "metadata.annotations['note']"),
    field('NODE', 'spec.nodeName'),
    field('ACCOUNT', 'spec.serviceAccountName'),
    field('HOST_IP', 'status.hostIP'),
    field('POD_IP', 'status.podIP'),
    field('POD_IPS', 'status.podIPs'),
    limit,
  ];
  const translated = envOf(withOriginEnvironment(pod(env), context));
  const value = (name: string) => byName(translated, name)?.value;
  assert.equal(value('NAME'), 'web-1');
  assert.equal(value('NAMESPACE'), 'shop');
  assert.equal(value('UID'), 'uid-1');
  assert.equal(value('APP'), 'web');
  assert.equal(value('NODE'), 'vk-remote');
  assert.equal(value('ACCOUNT'), 'shopper');
  assert.equal(value('HOST_IP'), '192.0.2.7');
  assert.deepEqual(byName(translated, 'POD_IP'), field('POD_IP', 'status.podIP'));
  assert.deepEqual(byName(translated, 'POD_IPS'), field('POD_IPS', 'status.podIPs'));
  assert.deepEqual(byName(translated, 'CPU'), limit);
  // The remote kubelet expands `$(VAR)` in values: what we wrote expands back to the origin's value.
  const expanded = (name: string) => expandVariables(value(name) ?? '', () => 'WRONG');
  assert.equal(expanded('LABELS'), 'app="web"\nprice="$(HOME)"');
  assert.equal(expanded('NOTE'), 'a$$b');
});

test('the origin’s service links come first, less the names envFrom defines; env entries follow and may read them', () => {
  const env: EnvVar[] = [{ name: 'DB', value: '$(DB_SERVICE_HOST):$(DB_SERVICE_PORT)' }];
  const translated = withOriginEnvironment(
    pod(env, { containers: [{ name: 'app', env, envFrom: [{ configMapRef: { name: 'settings' } }] }] }),
    context,
  );
  const names = envOf(translated).map((variable) => variable.name);
  assert.equal(names.at(-1), 'DB');
  assert.ok(names.indexOf('KUBERNETES_SERVICE_HOST') < names.indexOf('DB'));
  assert.equal(byName(envOf(translated), 'KUBERNETES_SERVICE_HOST')?.value, '10.0.0.1');
  assert.equal(byName(envOf(translated), 'DB_SERVICE_PORT')?.value, '5432');
  // The ConfigMap defines DB_SERVICE_HOST: envFrom wins over a service link, as in the kubelet.
  assert.equal(byName(envOf(translated), 'DB_SERVICE_HOST'), undefined);
  assert.deepEqual(byName(envOf(translated), 'DB'), env[0]);
});

test('without service links only the origin’s kubernetes service is there; init and ephemeral containers are translated too', () => {
  const env: EnvVar[] = [{ name: 'NS', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } }];
  const translated = withOriginEnvironment(
    pod(env, {
      enableServiceLinks: false,
      initContainers: [{ name: 'init', env }],
      ephemeralContainers: [{ name: 'debug', env }],
    }),
    context,
  );
  for (const container of [
    translated.spec?.containers[0],
    translated.spec?.initContainers?.[0],
    translated.spec?.ephemeralContainers?.[0],
  ]) {
    const names = (container?.env ?? []).map((variable) => variable.name);
    assert.ok(names.includes('KUBERNETES_SERVICE_HOST'));
    assert.ok(!names.some((name) => name.startsWith('DB_')), names.join(','));
    assert.equal(byName(container?.env ?? [], 'NS')?.value, 'shop');
  }
});

test('a field path the kubelet rejects is left for the remote kubelet to report', () => {
  const bad: EnvVar = { name: 'PHASE', valueFrom: { fieldRef: { fieldPath: 'status.phase' } } };
  assert.deepEqual(byName(envOf(withOriginEnvironment(pod([bad]), context)), 'PHASE'), bad);
});
