import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Pod } from 'kubernetes-types/core/v1.js';
import { InvalidInputError } from '../../errors.ts';
import { type DownwardValues, formatMap, orderPodIPs, resolveFieldRef } from './field-ref.ts';
import { quoteGoString } from './go-quote.ts';

const pod: Pod = {
  metadata: {
    namespace: 'shop',
    name: 'cart-7d9f',
    uid: '0b7c0f2e-5b0e-4d7a-9a57-1f2e3d4c5b6a',
    labels: { app: 'cart', 'app.kubernetes.io/part-of': 'shop', tier: 'backend' },
    annotations: { 'example.com/Owner': 'team "a"', note: 'line1\nline2' },
  },
  spec: { nodeName: 'vk-node', serviceAccountName: 'cart-sa', containers: [{ name: 'app' }] },
};
const values: DownwardValues = {
  nodeName: 'vk-node',
  hostIPs: ['192.168.1.10', 'fd00::10'],
  podIPs: ['10.1.2.3', 'fd00::1:2:3'],
};
const field = (fieldPath: string, apiVersion?: string): string =>
  resolveFieldRef({ fieldPath, ...(apiVersion === undefined ? {} : { apiVersion }) }, pod, values);

test('metadata and spec fields', () => {
  assert.equal(field('metadata.name'), 'cart-7d9f');
  assert.equal(field('metadata.namespace'), 'shop');
  assert.equal(field('metadata.uid'), '0b7c0f2e-5b0e-4d7a-9a57-1f2e3d4c5b6a');
  assert.equal(field('spec.nodeName'), 'vk-node');
  assert.equal(field('spec.host'), 'vk-node'); // the old v1 spelling
  assert.equal(field('spec.serviceAccountName'), 'cart-sa');
  assert.equal(field('metadata.name', 'v1'), 'cart-7d9f');
  assert.equal(field('metadata.name', ''), 'cart-7d9f'); // apiVersion defaults to v1
});

test('spec.nodeName falls back to the node name; missing metadata is empty', () => {
  const bare: Pod = { spec: { containers: [] } };
  assert.equal(resolveFieldRef({ fieldPath: 'spec.nodeName' }, bare, values), 'vk-node');
  assert.equal(resolveFieldRef({ fieldPath: 'metadata.name' }, bare, values), '');
  assert.equal(resolveFieldRef({ fieldPath: 'metadata.labels' }, bare, values), '');
  assert.equal(resolveFieldRef({ fieldPath: "metadata.labels['app']" }, bare, values), '');
  assert.equal(resolveFieldRef({ fieldPath: 'spec.serviceAccountName' }, bare, values), '');
});

test('label and annotation subscripts', () => {
  assert.equal(field("metadata.labels['app']"), 'cart');
  assert.equal(field("metadata.labels['app.kubernetes.io/part-of']"), 'shop');
  assert.equal(field("metadata.labels['missing']"), '');
  assert.equal(field("metadata.labels['constructor']"), ''); // no prototype leaks
  assert.equal(field("metadata.annotations['example.com/Owner']"), 'team "a"');
  // The annotation key is validated lower-cased but looked up as written.
  assert.equal(field("metadata.annotations['Example.com/Owner']"), '');
});

test('whole label and annotation maps: sorted, Go-quoted key="value" lines', () => {
  assert.equal(field('metadata.labels'), 'app="cart"\napp.kubernetes.io/part-of="shop"\ntier="backend"');
  assert.equal(field('metadata.annotations'), 'example.com/Owner="team \\"a\\""\nnote="line1\\nline2"');
  assert.equal(formatMap({}), '');
  assert.equal(formatMap(undefined), '');
});

test('host and pod IPs', () => {
  assert.equal(field('status.hostIP'), '192.168.1.10');
  assert.equal(field('status.hostIPs'), '192.168.1.10,fd00::10');
  assert.equal(field('status.podIP'), '10.1.2.3');
  assert.equal(field('status.podIPs'), '10.1.2.3,fd00::1:2:3');
  const unknown: DownwardValues = { nodeName: 'n', hostIPs: ['192.168.1.10'], podIPs: [] };
  assert.equal(resolveFieldRef({ fieldPath: 'status.podIP' }, pod, unknown), '');
  assert.equal(resolveFieldRef({ fieldPath: 'status.podIPs' }, pod, unknown), '');
  const noNodeIP: DownwardValues = { nodeName: 'n', hostIPs: [], podIPs: [] };
  for (const fieldPath of ['status.hostIP', 'status.hostIPs']) {
    assert.throws(() => resolveFieldRef({ fieldPath }, pod, noNodeIP), {
      name: 'InvalidInputError',
      message: `cannot resolve ${fieldPath}: the node has no IP address`,
    });
  }
});

test('unknown paths, versions and subscripts are clear errors with the kubelet wording', () => {
  const cases: [string, string | undefined, string][] = [
    ['metadata.generateName', undefined, 'field label not supported: metadata.generateName'],
    ['spec.containers', undefined, 'field label not supported: spec.containers'],
    ['', undefined, 'field label not supported: '],
    ['metadata.name', 'v2', 'unsupported pod version: v2'],
    ["metadata.name['x']", undefined, "field label does not support subscript: metadata.name['x']"],
    // Known to the API, but the kubelet does not resolve these for env.
    ['status.phase', undefined, 'unsupported fieldPath: status.phase'],
    ['spec.restartPolicy', undefined, 'unsupported fieldPath: spec.restartPolicy'],
    ['spec.schedulerName', undefined, 'unsupported fieldPath: spec.schedulerName'],
  ];
  for (const [fieldPath, apiVersion, message] of cases) {
    assert.throws(() => field(fieldPath, apiVersion), { name: 'InvalidInputError', message }, fieldPath);
  }
  const badKeys = [
    "metadata.labels['']",
    "metadata.labels['-starts-with-dash']",
    "metadata.labels['has space']",
    "metadata.labels['a/b/c']",
    "metadata.labels['/name']",
    "metadata.labels['UPPER.example.com/name']",
    `metadata.labels['${'x'.repeat(64)}']`,
    "metadata.annotations['ends-with-dot.']",
  ];
  for (const fieldPath of badKeys) {
    assert.throws(
      () => field(fieldPath),
      (error: unknown) =>
        error instanceof InvalidInputError && error.message.startsWith(`invalid key subscript in ${fieldPath}: `),
      fieldPath,
    );
  }
});

test('pod IPs are ordered by the node family: first of the primary family, then the other', () => {
  assert.deepEqual(orderPodIPs(['fd00::1', '10.0.0.1'], ['192.168.1.1']), ['10.0.0.1', 'fd00::1']);
  assert.deepEqual(orderPodIPs(['10.0.0.1', 'fd00::1'], ['fd00::aa', '192.168.1.1']), ['fd00::1', '10.0.0.1']);
  assert.deepEqual(orderPodIPs(['10.0.0.1', '10.0.0.2'], []), ['10.0.0.1']);
  assert.deepEqual(orderPodIPs(['', 'not-an-ip', 'fd00::1'], ['10.0.0.9']), ['fd00::1']);
  assert.deepEqual(orderPodIPs([], ['10.0.0.9']), []);
});

test("quoteGoString matches Go's %q", () => {
  const cases: [string, string][] = [
    ['plain', '"plain"'],
    ['', '""'],
    ['say "hi"', '"say \\"hi\\""'],
    ['back\\slash', '"back\\\\slash"'],
    ['tab\there', '"tab\\there"'],
    ['\u0007\b\f\n\r\v', '"\\a\\b\\f\\n\\r\\v"'],
    ['\u0000\u001f\u007f', '"\\x00\\x1f\\x7f"'],
    ['héllo wörld ✓ 日本', '"héllo wörld ✓ 日本"'],
    ['\u0085\u00a0\u2028', '"\\u0085\\u00a0\\u2028"'], // not printable in Go
    ['\u{1F600}', '"\u{1F600}"'],
    ['\u{E0001}', '"\\U000e0001"'], // a format character
    ['\ud800', '"\ufffd"'], // a lone surrogate cannot be UTF-8
  ];
  for (const [input, expected] of cases) assert.equal(quoteGoString(input), expected, JSON.stringify(input));
});
