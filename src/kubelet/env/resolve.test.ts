import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ConfigMap, Container, EnvVar, Pod, Secret, Service } from 'kubernetes-types/core/v1.js';
import {
  type EnvironmentContext,
  type EnvironmentResolution,
  type EnvironmentSources,
  resolvePodEnvironment,
} from './index.ts';

// ---- fixtures -----------------------------------------------------------------------------------

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}

const base64 = (text: string): string => Buffer.from(text, 'utf8').toString('base64');

function configMap(name: string, data: Record<string, string>, binaryData?: Record<string, string>): ConfigMap {
  return { metadata: { namespace: 'shop', name }, data, ...(binaryData ? { binaryData } : {}) };
}

function secret(name: string, plain: Record<string, string>): Secret {
  const data = Object.fromEntries(Object.entries(plain).map(([key, value]) => [key, base64(value)]));
  return { metadata: { namespace: 'shop', name }, data };
}

function service(namespace: string, name: string, clusterIP: string, port: number): Service {
  return { metadata: { namespace, name }, spec: { clusterIP, ports: [{ name: 'main', port, protocol: 'TCP' }] } };
}

interface World {
  configMaps?: ConfigMap[];
  secrets?: Secret[];
  services?: Service[];
}

/** Sources over fixed objects, counting lookups; everything is deep-frozen to catch mutation. */
function sources(world: World = {}): EnvironmentSources & { lookups: string[] } {
  const configMaps = deepFreeze(world.configMaps ?? []);
  const secrets = deepFreeze(world.secrets ?? []);
  const services = deepFreeze(world.services ?? [service('default', 'kubernetes', '10.0.0.1', 443)]);
  const lookups: string[] = [];
  return {
    lookups,
    getConfigMap(namespace, name) {
      lookups.push(`ConfigMap/${namespace}/${name}`);
      return configMaps.find((c) => c.metadata?.namespace === namespace && c.metadata?.name === name);
    },
    getSecret(namespace, name) {
      lookups.push(`Secret/${namespace}/${name}`);
      return secrets.find((s) => s.metadata?.namespace === namespace && s.metadata?.name === name);
    },
    listServices(namespace) {
      return services.filter((s) => s.metadata?.namespace === namespace);
    },
  };
}

const context: EnvironmentContext = deepFreeze({
  nodeName: 'vk-node',
  hostIPs: ['192.168.1.10'],
  nodeAllocatable: { cpu: '4', memory: '16Gi', 'ephemeral-storage': '50Gi' },
});

const KUBERNETES_VARIABLES: EnvVar[] = [
  { name: 'KUBERNETES_SERVICE_HOST', value: '10.0.0.1' },
  { name: 'KUBERNETES_SERVICE_PORT', value: '443' },
  { name: 'KUBERNETES_SERVICE_PORT_MAIN', value: '443' },
  { name: 'KUBERNETES_PORT', value: 'tcp://10.0.0.1:443' },
  { name: 'KUBERNETES_PORT_443_TCP', value: 'tcp://10.0.0.1:443' },
  { name: 'KUBERNETES_PORT_443_TCP_PROTO', value: 'tcp' },
  { name: 'KUBERNETES_PORT_443_TCP_PORT', value: '443' },
  { name: 'KUBERNETES_PORT_443_TCP_ADDR', value: '10.0.0.1' },
];

function podWith(containers: Container[], extra: Partial<Pod['spec']> = {}): Pod {
  return deepFreeze({
    metadata: { namespace: 'shop', name: 'cart', uid: 'uid-1', labels: { app: 'cart' } },
    spec: { nodeName: 'vk-node', serviceAccountName: 'cart-sa', containers, ...extra },
  } as Pod);
}

function resolve(pod: Pod, world: World = {}, ctx: EnvironmentContext = context): EnvironmentResolution {
  return resolvePodEnvironment(pod, sources(world), ctx);
}

/** A container's final environment without the service-link variables, as a list of [name, value]. */
function own(resolution: EnvironmentResolution, name: string): [string, string | undefined][] {
  const spec = resolution.pod.spec;
  const container = [
    ...(spec?.initContainers ?? []),
    ...(spec?.containers ?? []),
    ...(spec?.ephemeralContainers ?? []),
  ].find((c) => c.name === name);
  assert.ok(container, `container ${name}`);
  return (container.env ?? [])
    .filter((variable) => !variable.name.startsWith('KUBERNETES_'))
    .map((variable) => [variable.name, variable.value]);
}

// ---- ordering, overriding, expansion ------------------------------------------------------------

test('envFrom in order, then env in order; later definitions override; expansion sees what is defined so far', () => {
  const pod = podWith([
    {
      name: 'app',
      envFrom: [{ configMapRef: { name: 'first' } }, { configMapRef: { name: 'second' } }],
      env: [
        { name: 'C', value: 'from-env' },
        { name: 'JOINED', value: '$(A)-$(B)-$(C)-$(LATER)' },
        { name: 'LATER', value: 'late' },
        { name: 'A', value: 'redefined' },
        { name: 'AFTER', value: '$(A)' },
        { name: 'HOST', value: '$(KUBERNETES_SERVICE_HOST):$(KUBERNETES_SERVICE_PORT)' },
      ],
    },
  ]);
  const world = {
    configMaps: [configMap('first', { A: 'a1', B: 'b1' }), configMap('second', { B: 'b2', C: 'c2' })],
  };
  const resolution = resolve(pod, world);
  assert.equal(resolution.error, undefined);
  assert.deepEqual(own(resolution, 'app'), [
    ['A', 'redefined'], // keeps its first position, takes the last value
    ['B', 'b2'],
    ['C', 'from-env'],
    ['JOINED', 'a1-b2-from-env-$(LATER)'], // LATER is not defined yet: left verbatim
    ['LATER', 'late'],
    ['AFTER', 'redefined'],
    ['HOST', '10.0.0.1:443'], // service variables are visible to expansion
  ]);
  // Service variables come last, after the container's own.
  const env = resolution.pod.spec?.containers[0]?.env ?? [];
  assert.deepEqual(env.slice(-KUBERNETES_VARIABLES.length), KUBERNETES_VARIABLES);
  assert.equal(resolution.pod.spec?.containers[0]?.envFrom, undefined);
  assert.equal('envFrom' in (resolution.pod.spec?.containers[0] ?? {}), false);
});

test('$(VAR) edge cases inside env values', () => {
  const pod = podWith([
    {
      name: 'app',
      env: [
        { name: 'X', value: 'x' },
        { name: 'ESCAPED', value: '$$(X)' },
        { name: 'UNDEFINED', value: '$(NOPE)' },
        { name: 'OPEN', value: 'a$(' },
        { name: 'NESTED', value: '$(X$(X))' },
        { name: 'DOLLARS', value: '$$$(X)$' },
        { name: 'EMPTY_REF', value: '[$(EMPTY)]' },
        { name: 'EMPTY', value: '' },
        { name: 'EMPTY_REF_AFTER', value: '[$(EMPTY)]' },
        { name: 'NO_VALUE' },
      ],
    },
  ]);
  assert.deepEqual(own(resolve(pod), 'app'), [
    ['X', 'x'],
    ['ESCAPED', '$(X)'],
    ['UNDEFINED', '$(NOPE)'],
    ['OPEN', 'a$('],
    ['NESTED', '$(X$(X))'],
    ['DOLLARS', '$x$'],
    ['EMPTY_REF', '[$(EMPTY)]'],
    ['EMPTY', ''],
    ['EMPTY_REF_AFTER', '[]'],
    ['NO_VALUE', ''],
  ]);
});

test('a service variable redefined by the container keeps the container value, once', () => {
  const pod = podWith([{ name: 'app', env: [{ name: 'KUBERNETES_SERVICE_HOST', value: 'override' }] }]);
  const env = resolve(pod).pod.spec?.containers[0]?.env ?? [];
  assert.deepEqual(
    env.filter((variable) => variable.name === 'KUBERNETES_SERVICE_HOST'),
    [{ name: 'KUBERNETES_SERVICE_HOST', value: 'override' }],
  );
  assert.equal(env[0]?.name, 'KUBERNETES_SERVICE_HOST');
  assert.equal(env.length, KUBERNETES_VARIABLES.length);
});

test('a non-empty value wins over valueFrom (kubelet precedence); output entries have name and value only', () => {
  const pod = podWith([
    { name: 'app', env: [{ name: 'BOTH', value: 'literal', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } }] },
  ]);
  const env = resolve(pod).pod.spec?.containers[0]?.env ?? [];
  for (const variable of env) assert.deepEqual(Object.keys(variable).sort(), ['name', 'value']);
  assert.deepEqual(env[0], { name: 'BOTH', value: 'literal' });
});

// ---- envFrom prefix and names -------------------------------------------------------------------

test('envFrom prefix; invalid names skipped with one InvalidEnvironmentVariableNames event per source', () => {
  const pod = podWith([
    {
      name: 'app',
      envFrom: [
        { prefix: 'CFG_', configMapRef: { name: 'settings' } },
        { configMapRef: { name: 'odd-keys' } },
        { prefix: 'S_', secretRef: { name: 'creds' } },
        { prefix: 'BAD=', configMapRef: { name: 'settings' } },
      ],
    },
    { name: 'second', envFrom: [{ configMapRef: { name: 'odd-keys' } }] },
  ]);
  const world = {
    configMaps: [
      configMap('settings', { mode: 'fast', level: '3' }),
      configMap('odd-keys', { GOOD: '1', '1ST': 'digit first is fine since 1.34', 'a=b': 'x', ключ: 'y' }),
    ],
    secrets: [secret('creds', { user: 'admin' })],
  };
  const resolution = resolve(pod, world);
  assert.equal(resolution.error, undefined);
  assert.deepEqual(own(resolution, 'app'), [
    ['CFG_mode', 'fast'],
    ['CFG_level', '3'],
    ['GOOD', '1'],
    ['1ST', 'digit first is fine since 1.34'],
    ['S_user', 'admin'],
  ]);
  // The same invalid source in two containers is reported once.
  assert.deepEqual(resolution.events, [
    {
      type: 'Warning',
      reason: 'InvalidEnvironmentVariableNames',
      message:
        'keys [a=b, ключ] from configmap shop/odd-keys were skipped since they are invalid as environment variable names',
    },
    {
      type: 'Warning',
      reason: 'InvalidEnvironmentVariableNames',
      message:
        'keys [BAD=level, BAD=mode] from configmap shop/settings were skipped since they are invalid as environment variable names',
    },
  ]);
});

// ---- ConfigMaps and Secrets -----------------------------------------------------------------------

test('secret values are base64-decoded to UTF-8; stringData (hand-built objects) wins; configMap binaryData is ignored', () => {
  const pod = podWith([
    {
      name: 'app',
      env: [
        { name: 'PASSWORD', valueFrom: { secretKeyRef: { name: 'creds', key: 'password' } } },
        { name: 'TOKEN', valueFrom: { secretKeyRef: { name: 'hand-built', key: 'token' } } },
        { name: 'PLAIN', valueFrom: { configMapKeyRef: { name: 'settings', key: 'mode' } } },
        { name: 'BLOB', valueFrom: { configMapKeyRef: { name: 'settings', key: 'blob', optional: true } } },
      ],
      envFrom: [{ prefix: 'HB_', secretRef: { name: 'hand-built' } }],
    },
  ]);
  const world = {
    configMaps: [configMap('settings', { mode: 'fast' }, { blob: base64('binary') })],
    secrets: [
      secret('creds', { password: 'pässwörd ✓' }),
      {
        metadata: { namespace: 'shop', name: 'hand-built' },
        data: { token: base64('old'), other: base64('kept') },
        stringData: { token: 'new' },
      },
    ],
  };
  const resolution = resolve(pod, world);
  assert.equal(resolution.error, undefined);
  assert.deepEqual(own(resolution, 'app'), [
    ['HB_other', 'kept'],
    ['HB_token', 'new'],
    ['PASSWORD', 'pässwörd ✓'],
    ['TOKEN', 'new'],
    ['PLAIN', 'fast'],
  ]);
  assert.deepEqual(resolution.events, [
    {
      type: 'Warning',
      reason: 'OptionalConfigMapKeyNotFound',
      message: 'skipping optional envvar "BLOB": key "blob" does not exist in configmap "settings"',
    },
  ]);
});

test('missing optional objects and keys are skipped with events; earlier definitions survive', () => {
  const pod = podWith([
    {
      name: 'app',
      envFrom: [
        { configMapRef: { name: 'absent-cm', optional: true } },
        { secretRef: { name: 'absent-secret', optional: true } },
        { configMapRef: { name: 'settings' } },
      ],
      env: [
        { name: 'mode', valueFrom: { configMapKeyRef: { name: 'settings', key: 'nope', optional: true } } },
        { name: 'B', valueFrom: { configMapKeyRef: { name: 'absent-cm', key: 'k', optional: true } } },
        { name: 'C', valueFrom: { secretKeyRef: { name: 'absent-secret', key: 'k', optional: true } } },
        { name: 'D', valueFrom: { secretKeyRef: { name: 'creds', key: 'nope', optional: true } } },
      ],
    },
  ]);
  const world = { configMaps: [configMap('settings', { mode: 'fast' })], secrets: [secret('creds', { user: 'u' })] };
  const resolution = resolve(pod, world);
  assert.equal(resolution.error, undefined);
  assert.deepEqual(own(resolution, 'app'), [['mode', 'fast']]); // the optional miss did not erase it
  assert.deepEqual(
    resolution.events.map((event) => [event.type, event.reason, event.message]),
    [
      ['Warning', 'OptionalConfigMapNotFound', 'configmap "absent-cm" not found'],
      ['Warning', 'OptionalSecretNotFound', 'secret "absent-secret" not found'],
      [
        'Warning',
        'OptionalConfigMapKeyNotFound',
        'skipping optional envvar "mode": key "nope" does not exist in configmap "settings"',
      ],
      ['Warning', 'OptionalConfigMapNotFound', 'skipping optional envvar "B": configmap "absent-cm" not found'],
      ['Warning', 'OptionalSecretNotFound', 'skipping optional envvar "C": secret "absent-secret" not found'],
      [
        'Warning',
        'OptionalSecretKeyNotFound',
        'skipping optional envvar "D": key "nope" does not exist in secret "creds"',
      ],
    ],
  );
  assert.equal(resolution.needsPodIP, false);
});

test('missing mandatory objects and keys: Mandatory* events and a CreateContainerConfigError', () => {
  const cases: [Container, World, string, string, string][] = [
    [
      { name: 'app', envFrom: [{ configMapRef: { name: 'gone' } }] },
      {},
      'MandatoryConfigMapNotFound',
      'configmap "gone" not found',
      'configmap "gone" not found',
    ],
    [
      { name: 'app', envFrom: [{ secretRef: { name: 'gone', optional: false } }] },
      {},
      'MandatorySecretNotFound',
      'secret "gone" not found',
      'secret "gone" not found',
    ],
    [
      { name: 'app', env: [{ name: 'V', valueFrom: { configMapKeyRef: { name: 'gone', key: 'k' } } }] },
      {},
      'MandatoryConfigMapNotFound',
      'configmap "gone" not found',
      'configmap "gone" not found',
    ],
    [
      { name: 'app', env: [{ name: 'V', valueFrom: { secretKeyRef: { name: 'gone', key: 'k' } } }] },
      {},
      'MandatorySecretNotFound',
      'secret "gone" not found',
      'secret "gone" not found',
    ],
    [
      { name: 'app', env: [{ name: 'V', valueFrom: { configMapKeyRef: { name: 'settings', key: 'k' } } }] },
      { configMaps: [configMap('settings', { other: '1' }, { k: base64('binary only') })] },
      'MandatoryConfigMapKeyNotFound',
      'key "k" does not exist in configmap "settings"',
      "couldn't find key k in ConfigMap shop/settings",
    ],
    [
      { name: 'app', env: [{ name: 'V', valueFrom: { secretKeyRef: { name: 'creds', key: 'k', optional: false } } }] },
      { secrets: [secret('creds', { other: '1' })] },
      'MandatorySecretKeyNotFound',
      'key "k" does not exist in secret "creds"',
      "couldn't find key k in Secret shop/creds",
    ],
  ];
  for (const [container, world, reason, eventMessage, errorMessage] of cases) {
    const resolution = resolve(podWith([container]), world);
    assert.deepEqual(resolution.events, [{ type: 'Warning', reason, message: eventMessage }], reason);
    assert.deepEqual(
      resolution.error,
      { reason: 'CreateContainerConfigError', message: errorMessage, container: 'app' },
      reason,
    );
  }
});

test('the first error (init containers first) is reported, but every container is still visited', () => {
  const pod = podWith(
    [
      { name: 'app', envFrom: [{ configMapRef: { name: 'missing-for-app' } }] },
      { name: 'sidecar', env: [{ name: 'S', valueFrom: { secretKeyRef: { name: 'missing-secret', key: 'k' } } }] },
    ],
    {
      initContainers: [{ name: 'setup', env: [{ name: 'F', valueFrom: { fieldRef: { fieldPath: 'status.phase' } } }] }],
    },
  );
  const resolution = resolve(pod);
  assert.deepEqual(resolution.error, {
    reason: 'CreateContainerConfigError',
    message: 'unsupported fieldPath: status.phase',
    container: 'setup',
  });
  assert.deepEqual(
    resolution.events.map((event) => event.reason),
    ['MandatoryConfigMapNotFound', 'MandatorySecretNotFound'],
  );
  assert.deepEqual(resolution.dependencies, [
    { kind: 'ConfigMap', namespace: 'shop', name: 'missing-for-app' },
    { kind: 'Secret', namespace: 'shop', name: 'missing-secret' },
  ]);
});

test('dependencies: every ConfigMap and Secret read, found or not, once, in first-reference order', () => {
  const pod = podWith(
    [
      {
        name: 'app',
        envFrom: [{ secretRef: { name: 'creds' } }, { configMapRef: { name: 'settings' } }],
        env: [
          { name: 'A', valueFrom: { configMapKeyRef: { name: 'settings', key: 'mode' } } },
          { name: 'B', valueFrom: { configMapKeyRef: { name: 'later', key: 'k', optional: true } } },
        ],
      },
      { name: 'second', envFrom: [{ configMapRef: { name: 'settings' } }] },
    ],
    {
      initContainers: [
        { name: 'init', env: [{ name: 'I', valueFrom: { secretKeyRef: { name: 'init-secret', key: 'k' } } }] },
      ],
    },
  );
  const world = {
    configMaps: [configMap('settings', { mode: 'fast' })],
    secrets: [secret('creds', { user: 'u' }), secret('init-secret', { k: 'v' })],
  };
  const lookupSources = sources(world);
  const resolution = resolvePodEnvironment(pod, lookupSources, context);
  assert.deepEqual(resolution.dependencies, [
    { kind: 'Secret', namespace: 'shop', name: 'init-secret' },
    { kind: 'Secret', namespace: 'shop', name: 'creds' },
    { kind: 'ConfigMap', namespace: 'shop', name: 'settings' },
    { kind: 'ConfigMap', namespace: 'shop', name: 'later' },
  ]);
  // Each object is looked up once per resolution.
  assert.deepEqual(lookupSources.lookups, [
    'Secret/shop/init-secret',
    'Secret/shop/creds',
    'ConfigMap/shop/settings',
    'ConfigMap/shop/later',
  ]);
});

// ---- downward API ------------------------------------------------------------------------------------

const downwardContainer: Container = {
  name: 'app',
  env: [
    { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
    { name: 'POD_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace', apiVersion: 'v1' } } },
    { name: 'POD_UID', valueFrom: { fieldRef: { fieldPath: 'metadata.uid' } } },
    { name: 'APP', valueFrom: { fieldRef: { fieldPath: "metadata.labels['app']" } } },
    { name: 'LABELS', valueFrom: { fieldRef: { fieldPath: 'metadata.labels' } } },
    { name: 'NODE', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } },
    { name: 'SA', valueFrom: { fieldRef: { fieldPath: 'spec.serviceAccountName' } } },
    { name: 'HOST_IP', valueFrom: { fieldRef: { fieldPath: 'status.hostIP' } } },
    { name: 'HOST_IPS', valueFrom: { fieldRef: { fieldPath: 'status.hostIPs' } } },
    { name: 'POD_IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } },
    { name: 'POD_IPS', valueFrom: { fieldRef: { fieldPath: 'status.podIPs' } } },
    { name: 'URL', value: 'http://$(POD_IP):8080' },
  ],
};

test('fieldRef: metadata, spec, host IPs and known pod IPs', () => {
  const ctx = { ...context, hostIPs: ['192.168.1.10', 'fd00::10'], podIPs: ['fd00::1:2', '10.1.2.3'] };
  const resolution = resolve(podWith([downwardContainer]), {}, ctx);
  assert.equal(resolution.error, undefined);
  assert.equal(resolution.needsPodIP, false);
  assert.deepEqual(own(resolution, 'app'), [
    ['POD_NAME', 'cart'],
    ['POD_NAMESPACE', 'shop'],
    ['POD_UID', 'uid-1'],
    ['APP', 'cart'],
    ['LABELS', 'app="cart"'],
    ['NODE', 'vk-node'],
    ['SA', 'cart-sa'],
    ['HOST_IP', '192.168.1.10'],
    ['HOST_IPS', '192.168.1.10,fd00::10'],
    ['POD_IP', '10.1.2.3'], // the node's family first
    ['POD_IPS', '10.1.2.3,fd00::1:2'],
    ['URL', 'http://10.1.2.3:8080'],
  ]);
});

test('fieldRef: an unknown pod IP is empty and flags needsPodIP; host-network pods use the node IPs', () => {
  const waiting = resolve(podWith([downwardContainer]));
  assert.equal(waiting.error, undefined);
  assert.equal(waiting.needsPodIP, true);
  const env = Object.fromEntries(own(waiting, 'app'));
  assert.equal(env.POD_IP, '');
  assert.equal(env.POD_IPS, '');
  assert.equal(env.URL, 'http://:8080');

  const hostNetwork = resolve(podWith([downwardContainer], { hostNetwork: true }));
  assert.equal(hostNetwork.needsPodIP, false);
  assert.equal(Object.fromEntries(own(hostNetwork, 'app')).POD_IP, '192.168.1.10');

  // Only containers that read the pod IP make the pod wait for it.
  const noPodIP = resolve(
    podWith([{ name: 'app', env: [{ name: 'H', valueFrom: { fieldRef: { fieldPath: 'status.hostIP' } } }] }]),
  );
  assert.equal(noPodIP.needsPodIP, false);
});

test('fieldRef: unknown paths and a node without IPs are errors', () => {
  const unknown = resolve(
    podWith([{ name: 'app', env: [{ name: 'X', valueFrom: { fieldRef: { fieldPath: 'spec.containers' } } }] }]),
  );
  assert.deepEqual(unknown.error, {
    reason: 'CreateContainerConfigError',
    message: 'field label not supported: spec.containers',
    container: 'app',
  });
  const noHostIP = resolve(podWith([downwardContainer]), {}, { ...context, hostIPs: [] });
  assert.equal(noHostIP.error?.message, 'cannot resolve status.hostIP: the node has no IP address');
});

test('resourceFieldRef: divisors, node-allocatable defaults and containerName', () => {
  const pod = podWith([
    {
      name: 'app',
      resources: { limits: { cpu: '250m', memory: '1Gi' }, requests: { cpu: '100m' } },
      env: [
        { name: 'CPU_LIMIT', valueFrom: { resourceFieldRef: { resource: 'limits.cpu' } } },
        { name: 'CPU_LIMIT_M', valueFrom: { resourceFieldRef: { resource: 'limits.cpu', divisor: '1m' } } },
        { name: 'CPU_REQUEST_M', valueFrom: { resourceFieldRef: { resource: 'requests.cpu', divisor: '1m' } } },
        { name: 'MEM_MI', valueFrom: { resourceFieldRef: { resource: 'limits.memory', divisor: '1Mi' } } },
        { name: 'MEM_REQUEST', valueFrom: { resourceFieldRef: { resource: 'requests.memory' } } }, // from the limit
        { name: 'DISK_GI', valueFrom: { resourceFieldRef: { resource: 'limits.ephemeral-storage', divisor: '1Gi' } } },
        {
          name: 'SIDECAR_CPU',
          valueFrom: { resourceFieldRef: { resource: 'limits.cpu', divisor: '1m', containerName: 'sidecar' } },
        },
      ],
    },
    { name: 'sidecar' },
  ]);
  const resolution = resolve(pod);
  assert.equal(resolution.error, undefined);
  assert.deepEqual(own(resolution, 'app'), [
    ['CPU_LIMIT', '1'],
    ['CPU_LIMIT_M', '250'],
    ['CPU_REQUEST_M', '100'],
    ['MEM_MI', '1024'],
    ['MEM_REQUEST', String(1024 ** 3)],
    ['DISK_GI', '50'], // no limit: node allocatable
    ['SIDECAR_CPU', '4000'], // no limit: node allocatable
  ]);

  const bad = resolve(
    podWith([
      { name: 'app', env: [{ name: 'G', valueFrom: { resourceFieldRef: { resource: 'limits.nvidia.com/gpu' } } }] },
    ]),
  );
  assert.equal(bad.error?.message, 'unsupported container resource: limits.nvidia.com/gpu');
});

test('an unknown valueFrom source is an error rather than a silent empty value', () => {
  const pod = podWith([
    {
      name: 'app',
      env: [
        {
          name: 'FROM_FILE',
          valueFrom: { fileKeyRef: { volumeName: 'v', path: 'p', key: 'k' } } as unknown as EnvVar['valueFrom'],
        },
      ],
    },
  ]);
  assert.deepEqual(resolve(pod).error, {
    reason: 'CreateContainerConfigError',
    message: 'environment variable "FROM_FILE" has an unsupported source (fileKeyRef)',
    container: 'app',
  });
});

// ---- service links ----------------------------------------------------------------------------------

test('service links: same-namespace services unless disabled; default/kubernetes always', () => {
  const world = {
    services: [
      service('default', 'kubernetes', '10.0.0.1', 443),
      service('default', 'web', '10.0.0.80', 80),
      service('shop', 'cart-api', '10.0.5.5', 8080),
      service('shop', 'headless', 'None', 80),
      service('other', 'elsewhere', '10.0.9.9', 80),
    ],
  };
  const names = (resolution: EnvironmentResolution): string[] =>
    (resolution.pod.spec?.containers[0]?.env ?? [])
      .map((variable) => variable.name)
      .filter((n) => n.endsWith('_SERVICE_HOST'));

  const enabled = resolve(podWith([{ name: 'app' }]), world);
  assert.deepEqual(names(enabled), ['CART_API_SERVICE_HOST', 'KUBERNETES_SERVICE_HOST']);
  const explicit = resolve(podWith([{ name: 'app' }], { enableServiceLinks: true }), world);
  assert.deepEqual(names(explicit), ['CART_API_SERVICE_HOST', 'KUBERNETES_SERVICE_HOST']);
  const disabled = resolve(podWith([{ name: 'app' }], { enableServiceLinks: false }), world);
  assert.deepEqual(disabled.pod.spec?.containers[0]?.env, KUBERNETES_VARIABLES);
  const none = resolve(podWith([{ name: 'app' }]), { services: [] });
  assert.deepEqual(none.pod.spec?.containers[0]?.env ?? [], []);
});

// ---- all container kinds, immutability, sharing ---------------------------------------------------------

test('init, regular and ephemeral containers are all resolved', () => {
  const pod = podWith(
    [{ name: 'app', env: [{ name: 'WHO', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } }] }],
    {
      initContainers: [{ name: 'init', envFrom: [{ configMapRef: { name: 'settings' } }] }],
      ephemeralContainers: [{ name: 'debug', env: [{ name: 'DEBUG', value: '$(KUBERNETES_SERVICE_PORT)' }] }],
    },
  );
  const resolution = resolve(pod, { configMaps: [configMap('settings', { mode: 'fast' })] });
  assert.deepEqual(own(resolution, 'init'), [['mode', 'fast']]);
  assert.deepEqual(own(resolution, 'app'), [['WHO', 'cart']]);
  assert.deepEqual(own(resolution, 'debug'), [['DEBUG', '443']]);
  for (const container of [
    ...(resolution.pod.spec?.initContainers ?? []),
    ...(resolution.pod.spec?.containers ?? []),
    ...(resolution.pod.spec?.ephemeralContainers ?? []),
  ]) {
    assert.equal('envFrom' in container, false, container.name);
    assert.equal(
      container.env?.some((variable) => variable.valueFrom !== undefined),
      false,
      container.name,
    );
  }
});

test('the input pod is never mutated, and unchanged parts are shared, not copied', () => {
  const pod = podWith(
    [
      {
        name: 'app',
        image: 'shop/cart:1',
        resources: { limits: { cpu: '1' } },
        envFrom: [{ configMapRef: { name: 'settings' } }],
        env: [
          { name: 'PLAIN', value: 'as-is' },
          { name: 'EXPANDED', value: '$(mode)' },
        ],
        volumeMounts: [{ name: 'data', mountPath: '/data' }],
      },
      { name: 'quiet', image: 'busybox' },
    ],
    { volumes: [{ name: 'data', emptyDir: {} }], initContainers: [{ name: 'init' }] },
  );
  const before = structuredClone(pod);
  const resolution = resolve(pod, { configMaps: [configMap('settings', { mode: 'fast' })] }); // pod is deep-frozen
  assert.deepEqual(pod, before);

  const out = resolution.pod;
  assert.notEqual(out, pod);
  assert.notEqual(out.spec, pod.spec);
  assert.equal(out.metadata, pod.metadata);
  assert.equal(out.status, pod.status);
  assert.equal(out.spec?.volumes, pod.spec?.volumes);
  const [app, quiet] = out.spec?.containers ?? [];
  const [inputApp] = pod.spec?.containers ?? [];
  assert.equal(app?.resources, inputApp?.resources);
  assert.equal(app?.volumeMounts, inputApp?.volumeMounts);
  assert.equal(app?.image, 'shop/cart:1');
  // An unchanged env entry is the input object itself.
  assert.equal(
    app?.env?.find((v) => v.name === 'PLAIN'),
    inputApp?.env?.[0],
  );
  assert.deepEqual(
    app?.env?.find((v) => v.name === 'EXPANDED'),
    { name: 'EXPANDED', value: 'fast' },
  );
  // Containers with nothing of their own get the service variables: their own array, shared frozen entries.
  assert.deepEqual(quiet?.env, KUBERNETES_VARIABLES);
  const initEnv = out.spec?.initContainers?.[0]?.env;
  assert.notEqual(quiet?.env, initEnv);
  assert.equal(quiet?.env?.[0], initEnv?.[0]);
  assert.equal(Object.isFrozen(quiet?.env?.[0]), true);
  assert.throws(() => {
    (quiet?.env?.[0] as EnvVar).value = 'changed';
  }, TypeError);
});

test('a pod with nothing to resolve comes back as the same object', () => {
  const pod = podWith(
    [
      {
        name: 'app',
        env: [
          { name: 'A', value: 'plain' },
          { name: 'B', value: '' },
        ],
      },
      { name: 'bare', image: 'busybox' },
    ],
    { enableServiceLinks: false, initContainers: [{ name: 'init', env: [] }] },
  );
  const resolution = resolve(pod, { services: [] });
  assert.equal(resolution.pod, pod);
  assert.deepEqual(resolution.events, []);
  assert.deepEqual(resolution.dependencies, []);
  assert.equal(resolution.error, undefined);
  assert.equal(resolution.needsPodIP, false);
  // Only a changed container is replaced; its siblings are shared.
  const oneChanged = podWith(
    [
      { name: 'app', env: [{ name: 'WHO', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } }] },
      { name: 'bare' },
    ],
    { initContainers: [{ name: 'init' }] },
  );
  const changed = resolve(oneChanged, { services: [] });
  assert.notEqual(changed.pod.spec?.containers[0], oneChanged.spec?.containers[0]);
  assert.equal(changed.pod.spec?.containers[1], oneChanged.spec?.containers[1]);
  assert.equal(changed.pod.spec?.initContainers, oneChanged.spec?.initContainers);
  const withService = resolve(pod);
  assert.notEqual(withService.pod, pod);
  assert.notEqual(withService.pod.spec?.containers, pod.spec?.containers);
});

test('resolution is deterministic: the same inputs give equal results', () => {
  const pod = podWith([
    { name: 'app', envFrom: [{ configMapRef: { name: 'settings' } }], env: [{ name: 'X', value: '$(mode)' }] },
  ]);
  const world = { configMaps: [configMap('settings', { mode: 'fast', zeta: 'z', alpha: 'a' })] };
  assert.deepEqual(resolve(pod, world), resolve(pod, world));
});

test('a pod without a spec resolves to itself', () => {
  const pod = deepFreeze({ metadata: { namespace: 'shop', name: 'odd' } } as Pod);
  const resolution = resolve(pod);
  assert.equal(resolution.pod, pod);
  assert.equal(resolution.error, undefined);
});
