/**
 * User mistakes on the command line: exit code 2 and one clear line, no stack trace.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { type AddressInfo, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { builtinProviders } from '../../src/providers/index.ts';
import { assertUsageError, runCli as run } from './support/cli-run.ts';

/** The built-in providers, as `providers` lists them and a wrong --provider names them. */
const BUILTIN_NAMES = Object.keys(builtinProviders).sort();

const dir = mkdtempSync(join(tmpdir(), 'vk-cli-'));
const kubeconfig = join(dir, 'kubeconfig');
writeFileSync(
  kubeconfig,
  JSON.stringify({
    'current-context': 'c',
    contexts: [{ name: 'c', context: { cluster: 'c', user: 'u' } }],
    clusters: [{ name: 'c', cluster: { server: 'https://127.0.0.1:1' } }],
    users: [{ name: 'u', user: { token: 't' } }],
  }),
);

function config(content: string): string {
  const path = join(dir, `config-${Math.random().toString(16).slice(2)}.json`);
  writeFileSync(path, content);
  return path;
}

test('bad flags exit 2 with one line naming the problem', async () => {
  assertUsageError(
    await run(['--provider', 'mock', '--pod-sync-workers', 'many']),
    /--pod-sync-workers must be an integer/,
  );
  assertUsageError(await run(['--provider', 'mock', '--bogus']), /unknown flag '--bogus'/);
  assertUsageError(await run([]), /--provider is required/);
  assertUsageError(await run(['--provider', 'mock', '--os', 'plan9']), /--os must be linux or windows/);
  assertUsageError(
    await run(['--provider', 'mock', '--full-resync-period', '5 minutes']),
    /--full-resync-period: invalid duration/,
  );
  assertUsageError(await run(['--provider', 'mock', '--log-level', 'loud']), /--log-level must be one of/);
  assertUsageError(
    await run(['--provider', 'mock'], { VKUBELET_TAINT_EFFECT: 'Sometimes' }),
    /VKUBELET_TAINT_EFFECT must be one of/,
  );
  assertUsageError(await run(['--provider', 'mock'], { KUBELET_PORT: '99999' }), /KUBELET_PORT must be a port number/);
  assertUsageError(
    await run(['--provider', 'mock', '--healthz-port', '99999']),
    /--healthz-port must be a port number \(0-65535\), got "99999"/,
  );
  assertUsageError(
    await run(['--provider', 'no-such-provider', '--kubeconfig', kubeconfig]),
    new RegExp(`unknown provider "no-such-provider": not a built-in \\(${BUILTIN_NAMES.join(', ')}\\)`),
  );
  assertUsageError(
    await run(['--provider', 'mock', '--kubeconfig', join(dir, 'absent')]),
    /kubeconfig .*absent does not exist/,
  );
  assertUsageError(
    await run(['--provider', 'mock', '--serving-certificate-duration', '5m']),
    /--serving-certificate-duration must be at least 10m/,
  );
  const elect = ['--provider', 'mock', '--leader-elect'];
  assertUsageError(
    await run([...elect, '--leader-elect-lease-duration', '8s']),
    /--leader-elect-lease-duration must be longer than --leader-elect-renew-deadline/,
  );
  assertUsageError(
    await run([...elect, '--leader-elect-renew-deadline', '2s']),
    /--leader-elect-renew-deadline must be longer than 1.2 × --leader-elect-retry-period/,
  );
  assertUsageError(
    await run([...elect, '--leader-elect-lease-duration', '15500ms']),
    /--leader-elect-lease-duration must be a whole number of seconds/,
  );
  assertUsageError(
    await run([...elect, '--leader-elect-resource-namespace', 'Kube_System']),
    /--leader-elect-resource-namespace must be a namespace name, got "Kube_System"/,
  );
});

test('a malformed provider config exits 2 with one line naming the file and the problem', async () => {
  const base = ['--provider', 'mock', '--kubeconfig', kubeconfig, '--nodename', 'vk-x', '--metrics-addr', ''];
  assertUsageError(await run([...base, '--provider-config', config('{"vk-x": {"cpu": ')]), /is not valid JSON/);
  assertUsageError(
    await run([...base, '--provider-config', config('{"vk-x": {"memory": "lots"}}')]),
    /"memory" is not a valid quantity: "lots"/,
  );
  assertUsageError(await run([...base, '--provider-config', config('{"other": {}}')]), /has no entry for node "vk-x"/);
  assertUsageError(
    await run([...base, '--provider-config', config('[1, 2]')]),
    /must be a JSON object keyed by node name/,
  );
  assertUsageError(await run([...base, '--provider-config', join(dir, 'missing.json')]), /cannot be read/);
  const podman = ['--provider', 'podman', '--kubeconfig', kubeconfig, '--nodename', 'vk-x', '--metrics-addr', ''];
  assertUsageError(
    await run([...podman, '--provider-config', config('url: ftp://nowhere\n')]),
    /"url" must be a URL such as unix:\/\/\/path\/podman.sock or tcp:\/\/host:port, got "ftp:\/\/nowhere"/,
  );
  assertUsageError(
    await run([...podman, '--provider-config', config('capacity: {memory: lots}\n')]),
    /"capacity.memory" is not a valid quantity/,
  );
  assertUsageError(await run([...podman, '--provider-config', config('runtme: runc\n')]), /unknown field "runtme"/);
});

test('a health port already taken exits 2 naming the flag', async () => {
  const taken = createServer().listen(0, '127.0.0.1');
  await once(taken, 'listening');
  const port = (taken.address() as AddressInfo).port;
  try {
    // No kubelet API: its self-signed-certificate warning would be a second line.
    const args = ['--provider', 'mock', '--kubeconfig', kubeconfig, '--nodename', 'vk-x', '--disable-kubelet-api'];
    assertUsageError(
      await run([...args, '--metrics-addr', '', '--healthz-port', String(port)]),
      new RegExp(`--healthz-port 127\\.0\\.0\\.1:${port}: address already in use`),
    );
  } finally {
    taken.close();
  }
});

test('--help, --version and the providers list', async () => {
  const help = await run(['--help']);
  assert.equal(help.code, 0);
  for (const flag of [
    '--nodename',
    '--provider-config',
    '--pod-sync-workers',
    '--kube-api-qps',
    '--metrics-addr',
    '--healthz-port',
    'KUBELET_PORT',
  ]) {
    assert.ok(help.stdout.includes(flag), flag);
  }
  const version = await run(['--version']);
  assert.equal(version.code, 0);
  assert.match(version.stdout, /^virtual-kubelet \d+\.\d+\.\d+/);
  const providers = await run(['providers']);
  assert.equal(providers.stdout.trim(), BUILTIN_NAMES.join('\n'));
});
