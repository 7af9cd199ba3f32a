/**
 * The built-in providers' config loaders (`--provider-config`) under generated files: a config
 * whose every value is usable, or one ConfigError line naming the file — what the CLI turns into
 * exit 2 — never a TypeError and its stack trace.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { stringify } from 'yaml';
import { ConfigError } from '../errors.ts';
import { parseQuantity } from '../kube/quantity.ts';
import { anyString, fc, fuzz, parsesOrRefuses, scratchDir } from '../util/fuzz-support.test.ts';
import { loadFargateConfig } from './fargate/config.ts';
import { loadMockConfig } from './mock/config.ts';
import { loadPodmanConfig } from './podman/config.ts';

/** Values a user might put in a field: every JSON type, and strings that look almost right. */
const value = fc.oneof(
  fc.jsonValue({ maxDepth: 2 }),
  fc.constantFrom('20', '100Gi', '500m', '1.5', '-1', '', ' ', 'lots', '1e3', '0x10', '1Ki', 'unix:///x.sock', 'runc'),
  fc.integer(),
  fc.double(),
);

function checkError(error: Error, path: string): void {
  assert.ok(error instanceof ConfigError);
  assert.ok(error.message.startsWith(`provider config ${path}`), error.message);
  assert.doesNotMatch(error.message, /\n/, 'a ConfigError spans lines');
}

test('fuzz: the mock config is usable or one ConfigError line', (t) => {
  const path = join(scratchDir(t, 'mock-config-fuzz'), 'mock.json');
  const fields = ['cpu', 'memory', 'pods', 'others', 'providerID', 'stateFile', 'callLog', 'pingErrorFile'];
  const entry = fc.dictionary(
    fc.oneof(fc.constantFrom(...fields), anyString(5)),
    fc.oneof(value, fc.dictionary(anyString(6), value, { maxKeys: 3 })),
    { maxKeys: 6 },
  );
  const nodeName = fc.oneof(fc.constantFrom('vk-1', '__proto__', 'constructor', 'toString'), anyString(6));
  const file = fc.oneof(
    fc.tuple(nodeName, entry).map(([node, e]) => ({ node, text: JSON.stringify({ [node]: e }) })),
    fc.tuple(nodeName, fc.jsonValue({ maxDepth: 3 })).map(([node, v]) => ({ node, text: JSON.stringify(v) })),
    fc.tuple(nodeName, anyString(40)).map(([node, text]) => ({ node, text })),
  );
  fuzz(t, 'mock provider config', file, ({ node, text }) => {
    writeFileSync(path, text);
    const result = parsesOrRefuses(() => loadMockConfig(path, node), ConfigError);
    if ('error' in result) {
      checkError(result.error, path);
      return;
    }
    const config = result.value;
    // The node's capacity is built from these: each must be a quantity the API server takes.
    for (const quantity of [config.cpu, config.memory, config.pods, ...Object.values(config.others)]) {
      parseQuantity(quantity);
    }
    for (const field of ['providerID', 'stateFile', 'callLog', 'pingErrorFile'] as const) {
      if (config[field] !== undefined) assert.equal(typeof config[field], 'string');
    }
    // A config for this node exists in the file, as its own entry.
    assert.ok(Object.hasOwn(JSON.parse(text), node), `no entry for ${JSON.stringify(node)} yet a config`);
  });
});

const PODMAN_FIELDS = [
  'url',
  'runtime',
  'network',
  'defaultPullPolicy',
  'insecureRegistries',
  'capacity',
  'reserved',
  'ulimits',
  'stateDir',
  'logs',
];

/** Well-formed YAML (no syntax errors, no aliases) with the Podman provider's fields given any values. */
const podmanFields = fc
  .dictionary(
    // Printable names: a newline in an unknown field's name is one of the known failures below.
    fc.oneof(fc.constantFrom(...PODMAN_FIELDS), fc.string({ maxLength: 5 })),
    fc.oneof(
      value,
      fc.constantFrom('Always', 'IfNotPresent', 'Never', 'tcp://127.0.0.1:8080', '/var/lib/x', 'relative/dir'),
      fc.dictionary(fc.constantFrom('cpu', 'memory', 'nofile', 'nproc', 'maxBytes', 'x'), value, { maxKeys: 3 }),
    ),
    { maxKeys: 5 },
  )
  .map((fields) => stringify(fields));

function checkPodman(t: import('node:test').TestContext, name: string, text: fc.Arbitrary<string>): void {
  const path = join(scratchDir(t, 'podman-config-fuzz'), 'podman.yaml');
  // YAML parsing is most of the cost: 10 000 inputs.
  fuzz(
    t,
    name,
    text,
    (content) => {
      writeFileSync(path, content);
      const result = parsesOrRefuses(() => loadPodmanConfig(path), ConfigError);
      if ('error' in result) {
        checkError(result.error, path);
        return;
      }
      const config = result.value;
      assert.match(config.url, /^(unix|tcp|http|https):\/\//);
      assert.ok(config.runtime.length > 0);
      assert.ok(['Always', 'IfNotPresent', 'Never'].includes(config.defaultPullPolicy));
      for (const quantity of [...Object.values(config.capacity), ...Object.values(config.reserved)])
        parseQuantity(quantity);
      for (const limit of [config.ulimits.nofile, config.ulimits.nproc])
        assert.ok(Number.isInteger(limit) && limit >= 1);
      assert.ok(config.stateDir.startsWith('/'));
      if (config.logMaxBytes !== undefined) assert.ok(Number.isFinite(config.logMaxBytes));
    },
    { runs: 10_000 },
  );
}

test('fuzz: the Podman config, well-formed YAML with any values, is usable or one ConfigError line', (t) => {
  checkPodman(t, 'podman provider config (well-formed YAML)', podmanFields);
});

test('fuzz: the Podman config, any text, is usable or one ConfigError line', (t) => {
  const tricky = fc.constantFrom('{', 'a: [1, 2', 'url: &a [*a]', 'network: &a {b: *a}', '"\\n": 1');
  checkPodman(t, 'podman provider config (any text)', fc.oneof(anyString(40), tricky, podmanFields));
});

test('fuzz: the Fargate config is usable or one ConfigError line', (t) => {
  const path = join(scratchDir(t, 'fargate-config-fuzz'), 'fargate.yaml');
  const fields = [
    'region',
    'cluster',
    'subnets',
    'securityGroups',
    'tags',
    'capacity',
    'statusPollInterval',
    'logGroup',
  ];
  const fieldValue = fc.oneof(
    value,
    fc.constantFrom('eu-west-1', 'my-cluster', 'LATEST', '5s', 'arn:aws:iam::123456789012:role/x'),
    fc.array(fc.oneof(fc.constantFrom('subnet-1', 'sg-1'), anyString(8)), { maxLength: 3 }),
    fc.dictionary(anyString(6), value, { maxKeys: 3 }),
  );
  const text = fc.oneof(
    fc
      .dictionary(fc.oneof(fc.constantFrom(...fields), anyString(4)), fieldValue, { maxKeys: 5 })
      .map((m) => stringify({ cluster: 'c', subnets: ['subnet-1'], ...m })),
    anyString(40),
  );
  fuzz(
    t,
    'fargate provider config',
    text,
    (content) => {
      writeFileSync(path, content);
      const result = parsesOrRefuses(() => loadFargateConfig(path), ConfigError);
      if ('error' in result) {
        checkError(result.error, path);
        return;
      }
      const config = result.value;
      assert.ok(config.cluster.length > 0);
      assert.ok(config.subnets.length > 0 && config.subnets.every((s) => s.startsWith('subnet-')));
      for (const quantity of Object.values(config.capacity)) parseQuantity(quantity);
      assert.ok(Number.isFinite(config.statusPollIntervalMs) && config.statusPollIntervalMs >= 1000);
      assert.ok(Number.isFinite(config.logPollIntervalMs));
    },
    { runs: 10_000 },
  );
});
