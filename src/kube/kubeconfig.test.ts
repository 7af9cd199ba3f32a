import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ConfigError } from '../errors.ts';
import { loadKubeConfig } from './kubeconfig.ts';

function scratch(): string {
  return mkdtempSync(join(tmpdir(), 'vk-kubeconfig-'));
}

const YAML_CONFIG = `
apiVersion: v1
kind: Config
current-context: dev
clusters:
- name: c1
  cluster:
    server: https://10.1.2.3:6443/
    certificate-authority: certs/ca.crt
users:
- name: u1
  user:
    client-certificate-data: ${Buffer.from('CERT').toString('base64')}
    client-key-data: ${Buffer.from('KEY').toString('base64')}
- name: u2
  user:
    tokenFile: token
contexts:
- name: dev
  context: {cluster: c1, user: u1, namespace: team-a}
- name: other
  context: {cluster: c1, user: u2}
`;

test('reads a YAML kubeconfig, resolving files relative to it', () => {
  const dir = scratch();
  mkdirSync(join(dir, 'certs'));
  writeFileSync(join(dir, 'certs', 'ca.crt'), 'CA');
  writeFileSync(join(dir, 'config'), YAML_CONFIG);
  const connection = loadKubeConfig({ path: join(dir, 'config') });
  assert.equal(connection.server, 'https://10.1.2.3:6443');
  assert.equal(connection.caData?.toString(), 'CA');
  assert.equal(connection.clientCertificateData?.toString(), 'CERT');
  assert.equal(connection.clientKeyData?.toString(), 'KEY');
  assert.equal(connection.namespace, 'team-a');

  const other = loadKubeConfig({ path: join(dir, 'config'), context: 'other' });
  assert.equal(other.tokenFile, join(dir, 'token'));
  assert.equal(other.clientCertificateData, undefined);
});

test('KUBECONFIG lists several files; the first that defines a name wins', () => {
  const dir = scratch();
  writeFileSync(
    join(dir, 'a'),
    JSON.stringify({ 'current-context': 'x', contexts: [{ name: 'x', context: { cluster: 'c', user: 'u' } }] }),
  );
  writeFileSync(
    join(dir, 'b'),
    JSON.stringify({
      'current-context': 'ignored',
      clusters: [{ name: 'c', cluster: { server: 'https://b:1' } }],
      users: [{ name: 'u', user: { token: 'tok' } }],
    }),
  );
  const connection = loadKubeConfig({
    env: { KUBECONFIG: `${join(dir, 'missing')}:${join(dir, 'a')}:${join(dir, 'b')}` },
  });
  assert.equal(connection.server, 'https://b:1');
  assert.equal(connection.token, 'tok');
});

test('mistakes are ConfigErrors that name the file and what is missing', () => {
  const dir = scratch();
  const path = join(dir, 'config');
  writeFileSync(path, 'current-context: nope\n');
  assert.throws(
    () => loadKubeConfig({ path }),
    (error: unknown) => {
      assert.ok(error instanceof ConfigError);
      assert.match(error.message, /has no context named "nope"/);
      assert.ok(error.message.includes(path));
      return true;
    },
  );
  writeFileSync(path, ': : :\n\t- [');
  assert.throws(() => loadKubeConfig({ path }), /is not valid YAML/);
  assert.throws(() => loadKubeConfig({ path: join(dir, 'absent') }), /does not exist/);
  assert.throws(() => loadKubeConfig({ env: { HOME: dir } }), /no Kubernetes credentials found/);
  writeFileSync(path, YAML_CONFIG.replace('certs/ca.crt', 'nowhere/ca.crt'));
  assert.throws(() => loadKubeConfig({ path }), /cannot read certificate-authority .*nowhere\/ca\.crt/);
});
