import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ConfigError } from '../../errors.ts';
import { kubeconfigDocument } from '../../kube/kubeconfig.ts';
import { loadKubernetesConfig } from './config.ts';

const dir = mkdtempSync(join(tmpdir(), 'vk-kubernetes-config-'));
writeFileSync(join(dir, 'ca.crt'), 'not parsed until a connection is made');
writeFileSync(
  join(dir, 'remote.kubeconfig'),
  kubeconfigDocument({ name: 'edge', server: 'https://127.0.0.1:6443', caFile: join(dir, 'ca.crt'), token: 't' }),
);

function load(content: Record<string, unknown>) {
  const path = join(dir, `config-${Math.random().toString(16).slice(2)}.json`);
  writeFileSync(path, JSON.stringify(content));
  return loadKubernetesConfig(path);
}

function refused(content: Record<string, unknown>, pattern: RegExp): void {
  assert.throws(
    () => load(content),
    (error: unknown) => error instanceof ConfigError && pattern.test(error.message) && !error.message.includes('\n'),
  );
}

test('a kubeconfig relative to the config file, and the defaults', () => {
  const config = load({ kubeconfig: 'remote.kubeconfig' });
  assert.equal(config.remote.server, 'https://127.0.0.1:6443');
  assert.equal(config.kubeconfigPath, join(dir, 'remote.kubeconfig'));
  assert.equal(config.originCluster, 'origin');
  assert.deepEqual(config.namespaces, { map: {}, prefix: '', create: true });
  assert.deepEqual(config.capacity, {});
});

test('every field read and checked', () => {
  const config = load({
    kubeconfig: join(dir, 'remote.kubeconfig'),
    originCluster: 'hub',
    namespaces: { prefix: 'hub', map: { default: 'team-a' }, create: false },
    labels: { 'example.com/team': 'burst' },
    annotations: { contact: 'ops@example.com' },
    capacity: { cpu: '8', pods: 200 },
    nodeLabels: { 'topology.kubernetes.io/region': 'eu' },
  });
  assert.equal(config.originCluster, 'hub');
  assert.deepEqual(config.namespaces, { map: { default: 'team-a' }, prefix: 'hub', create: false });
  assert.deepEqual(config.capacity, { cpu: '8', pods: '200' });
  assert.deepEqual(config.labels, { 'example.com/team': 'burst' });
});

test('mistakes are one-line ConfigErrors naming the field', () => {
  assert.throws(() => loadKubernetesConfig(undefined), /needs --provider-config/);
  refused({}, /"kubeconfig" is required/);
  refused({ kubeconfig: 'missing.kubeconfig' }, /the remote cluster: kubeconfig .*missing.kubeconfig does not exist/);
  refused({ kubeconfig: 'remote.kubeconfig', context: 'nope' }, /the remote cluster: .*nope/);
  refused({ kubeconfig: 'remote.kubeconfig', kubeConfig: 'x' }, /unknown field "kubeConfig"/);
  refused({ kubeconfig: 'remote.kubeconfig', originCluster: 'a b' }, /"originCluster" must be a valid label value/);
  refused(
    { kubeconfig: 'remote.kubeconfig', namespaces: { prefix: 'Hub_' } },
    /"namespaces.prefix" must be a DNS label/,
  );
  refused(
    { kubeconfig: 'remote.kubeconfig', namespaces: { map: { a: 'B!' } } },
    /"namespaces.map.a" must name a valid namespace/,
  );
  refused({ kubeconfig: 'remote.kubeconfig', labels: { 'bad key!': 'x' } }, /"labels.bad key!" is not a valid label/);
  refused({ kubeconfig: 'remote.kubeconfig', labels: { team: 'not valid' } }, /not a valid label value/);
  refused({ kubeconfig: 'remote.kubeconfig', capacity: { gpu: '1' } }, /"capacity.gpu" is not a resource/);
  refused({ kubeconfig: 'remote.kubeconfig', capacity: { cpu: 'lots' } }, /not a valid quantity/);
});
