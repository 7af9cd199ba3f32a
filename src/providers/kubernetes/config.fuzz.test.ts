/**
 * The Kubernetes provider's config loader under generated files: a config whose every value is
 * usable, or one ConfigError line naming the file — never a TypeError and its stack trace.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { stringify } from 'yaml';
import { ConfigError } from '../../errors.ts';
import { kubeconfigDocument } from '../../kube/kubeconfig.ts';
import { parseQuantity } from '../../kube/quantity.ts';
import { anyString, fc, fuzz, parsesOrRefuses, scratchDir } from '../../util/fuzz-support.test.ts';
import { isLabelValue, loadKubernetesConfig } from './config.ts';
import { remoteNamespaceName } from './remote-pod.ts';

const FIELDS = [
  'kubeconfig',
  'context',
  'originCluster',
  'namespaces',
  'labels',
  'annotations',
  'capacity',
  'nodeLabels',
];

const value = fc.oneof(
  fc.jsonValue({ maxDepth: 2 }),
  fc.constantFrom('remote.kubeconfig', 'edge', 'hub', 'Hub', 'a b', '', '8', '16Gi', 'lots', 'x'.repeat(70)),
  fc.dictionary(
    fc.oneof(
      fc.constantFrom('prefix', 'map', 'create', 'cpu', 'memory', 'pods', 'gpu', 'example.com/team'),
      anyString(6),
    ),
    fc.oneof(value0(), fc.dictionary(anyString(4), value0(), { maxKeys: 2 })),
    { maxKeys: 3 },
  ),
);

function value0() {
  return fc.oneof(fc.jsonValue({ maxDepth: 1 }), fc.constantFrom('hub', 'team-a', 'B!', '8', 'not valid', ''));
}

test('fuzz: the Kubernetes config is usable or one ConfigError line', (t) => {
  const dir = scratchDir(t, 'kubernetes-config-fuzz');
  writeFileSync(join(dir, 'ca.crt'), 'x');
  writeFileSync(
    join(dir, 'remote.kubeconfig'),
    kubeconfigDocument({ name: 'edge', server: 'https://127.0.0.1:6443', caFile: join(dir, 'ca.crt'), token: 't' }),
  );
  const path = join(dir, 'kubernetes.yaml');
  const file = fc
    .dictionary(fc.oneof(fc.constantFrom(...FIELDS), fc.string({ maxLength: 5 })), value, { maxKeys: 5 })
    .map((fields) => stringify({ kubeconfig: 'remote.kubeconfig', ...fields }));
  fuzz(
    t,
    'kubernetes provider config',
    file,
    (text) => {
      writeFileSync(path, text);
      const result = parsesOrRefuses(() => loadKubernetesConfig(path), ConfigError);
      if ('error' in result) {
        assert.ok(result.error.message.startsWith(`provider config ${path}`), result.error.message);
        assert.doesNotMatch(result.error.message, /\n/);
        return;
      }
      const config = result.value;
      assert.ok(config.remote.server.startsWith('https://'));
      assert.ok(isLabelValue(config.originCluster) && config.originCluster !== '');
      for (const quantity of Object.values(config.capacity)) parseQuantity(quantity);
      for (const labelValue of [...Object.values(config.labels), ...Object.values(config.nodeLabels)]) {
        assert.ok(isLabelValue(labelValue), labelValue);
      }
      // Every namespace maps to a valid name, or the pod gets the reason.
      try {
        assert.match(remoteNamespaceName('shop', config.namespaces), /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/);
      } catch (error) {
        assert.match(String(error), /longer than 63/);
      }
    },
    { runs: 5_000 },
  );
});
