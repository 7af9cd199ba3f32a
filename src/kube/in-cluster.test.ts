/**
 * In-cluster configuration: what a pod's service-account mount and the kubelet's
 * KUBERNETES_SERVICE_* variables give the client, and the token file re-read after the kubelet
 * rotates it.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ConfigError } from '../errors.ts';
import { Credentials } from './credentials.ts';
import { loadKubeConfig } from './kubeconfig.ts';

/** A service-account directory as the kubelet projects it: token, ca.crt, namespace. */
function serviceAccountDir(files: Partial<Record<'token' | 'ca.crt' | 'namespace', string>>): string {
  const dir = mkdtempSync(join(tmpdir(), 'vk-in-cluster-'));
  for (const [name, content] of Object.entries(files)) writeFileSync(join(dir, name), content);
  return dir;
}

/** An environment with no kubeconfig anywhere (HOME has no .kube/config). */
function podEnv(extra: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  return { HOME: mkdtempSync(join(tmpdir(), 'vk-home-')), ...extra };
}

test('in a pod: the API server from KUBERNETES_SERVICE_HOST/PORT, the token file, the CA and the namespace', () => {
  const dir = serviceAccountDir({ token: 'tok-1\n', 'ca.crt': 'CA PEM', namespace: 'virtual-kubelet\n' });
  const connection = loadKubeConfig({
    env: podEnv({ KUBERNETES_SERVICE_HOST: '10.96.0.1', KUBERNETES_SERVICE_PORT: '443' }),
    serviceAccountDir: dir,
  });
  assert.equal(connection.server, 'https://10.96.0.1:443');
  assert.equal(connection.tokenFile, join(dir, 'token'));
  assert.equal(connection.token, undefined, 'the token is read per request, not once');
  assert.equal(connection.caData?.toString(), 'CA PEM');
  assert.equal(connection.namespace, 'virtual-kubelet');
  assert.equal(connection.source, 'in-cluster');
});

test('an IPv6 service host is bracketed', () => {
  const dir = serviceAccountDir({ token: 't' });
  const connection = loadKubeConfig({
    env: podEnv({ KUBERNETES_SERVICE_HOST: 'fd00:10:96::1', KUBERNETES_SERVICE_PORT: '6443' }),
    serviceAccountDir: dir,
  });
  assert.equal(connection.server, 'https://[fd00:10:96::1]:6443');
  assert.equal(connection.caData, undefined, 'without ca.crt the system roots verify the server');
});

test('a kubeconfig, when there is one, wins over the service account', () => {
  const dir = serviceAccountDir({ token: 't' });
  const kubeconfig = join(dir, 'kubeconfig');
  writeFileSync(
    kubeconfig,
    JSON.stringify({
      'current-context': 'c',
      contexts: [{ name: 'c', context: { cluster: 'c', user: 'u' } }],
      clusters: [{ name: 'c', cluster: { server: 'https://elsewhere:6443' } }],
      users: [{ name: 'u', user: { token: 'other' } }],
    }),
  );
  const connection = loadKubeConfig({
    env: podEnv({ KUBECONFIG: kubeconfig, KUBERNETES_SERVICE_HOST: '10.96.0.1', KUBERNETES_SERVICE_PORT: '443' }),
    serviceAccountDir: dir,
  });
  assert.equal(connection.server, 'https://elsewhere:6443');
});

test('in-cluster mistakes are ConfigErrors that say what is missing', () => {
  const withToken = serviceAccountDir({ token: 't' });
  const load =
    (env: NodeJS.ProcessEnv, dir = withToken) =>
    () =>
      loadKubeConfig({ env: podEnv(env), serviceAccountDir: dir });
  const configError = (pattern: RegExp) => (error: unknown) =>
    error instanceof ConfigError && pattern.test(error.message);
  assert.throws(
    load({ KUBERNETES_SERVICE_HOST: '10.96.0.1' }),
    configError(/KUBERNETES_SERVICE_PORT is not: both must be set/),
  );
  assert.throws(
    load({ KUBERNETES_SERVICE_HOST: '10.96.0.1', KUBERNETES_SERVICE_PORT: 'https' }),
    configError(/KUBERNETES_SERVICE_PORT is "https", not a port number/),
  );
  const empty = serviceAccountDir({});
  assert.throws(
    load({ KUBERNETES_SERVICE_HOST: '10.96.0.1', KUBERNETES_SERVICE_PORT: '443' }, empty),
    configError(new RegExp(`${join(empty, 'token')} does not exist: mount a service-account token`)),
  );
  assert.throws(load({}), configError(/no Kubernetes credentials found/));
});

test('the token file is read again a minute after the last read, and at once after a 401', async (t) => {
  const dir = serviceAccountDir({ token: 'first\n' });
  const credentials = new Credentials({ server: 'https://10.96.0.1:443', tokenFile: join(dir, 'token'), source: 'x' });
  t.mock.timers.enable({ apis: ['Date'], now: 1_000_000 });
  assert.equal(await credentials.authorization(), 'Bearer first');

  // The kubelet rotates the projected token (an atomic swap of the file).
  writeFileSync(join(dir, 'token'), 'second\n');
  t.mock.timers.tick(30_000);
  assert.equal(await credentials.authorization(), 'Bearer first', 'cached within the minute');
  t.mock.timers.tick(31_000);
  assert.equal(await credentials.authorization(), 'Bearer second', 're-read after the minute');

  writeFileSync(join(dir, 'token'), 'third\n');
  credentials.invalidate(); // what the client does on a 401
  assert.equal(await credentials.authorization(), 'Bearer third');

  // Mid-swap the file may be missing for a moment: the last token is kept rather than failing.
  rmSync(join(dir, 'token'));
  t.mock.timers.tick(61_000);
  assert.equal(await credentials.authorization(), 'Bearer third');
});

test('a token file that cannot be read at the first request is a ConfigError naming it', async () => {
  const dir = serviceAccountDir({});
  const credentials = new Credentials({ server: 'https://x:1', tokenFile: join(dir, 'token'), source: 'x' });
  await assert.rejects(credentials.authorization(), (error: unknown) => {
    assert.ok(error instanceof ConfigError);
    assert.match(error.message, /cannot read token file .*token/);
    return true;
  });
});
