import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { EnvVar, Pod, Service, ServicePort } from 'kubernetes-types/core/v1.js';
import { hasClusterIP, podServiceEnvironment, serviceLinkVariables, servicesVisibleToPod } from './service-links.ts';

function service(namespace: string, name: string, clusterIP: string | undefined, ports: ServicePort[] = []): Service {
  return {
    metadata: { namespace, name },
    spec: { ...(clusterIP === undefined ? {} : { clusterIP }), ports },
  };
}

function asRecord(variables: readonly EnvVar[]): Record<string, string | undefined> {
  return Object.fromEntries(variables.map((variable) => [variable.name, variable.value]));
}

const kubernetes = service('default', 'kubernetes', '10.0.0.1', [{ name: 'https', port: 443, protocol: 'TCP' }]);

test('variables of a service with several ports, in the kubelet order', () => {
  const redis = service('shop', 'redis-primary', '10.0.0.11', [
    { port: 6379 }, // the first port may be unnamed; protocol defaults to TCP
    { name: 'metrics', port: 9121, protocol: 'TCP' },
    { name: 'dns-udp', port: 53, protocol: 'UDP' },
  ]);
  assert.deepEqual(serviceLinkVariables(redis), [
    { name: 'REDIS_PRIMARY_SERVICE_HOST', value: '10.0.0.11' },
    { name: 'REDIS_PRIMARY_SERVICE_PORT', value: '6379' },
    { name: 'REDIS_PRIMARY_SERVICE_PORT_METRICS', value: '9121' },
    { name: 'REDIS_PRIMARY_SERVICE_PORT_DNS_UDP', value: '53' },
    { name: 'REDIS_PRIMARY_PORT', value: 'tcp://10.0.0.11:6379' },
    { name: 'REDIS_PRIMARY_PORT_6379_TCP', value: 'tcp://10.0.0.11:6379' },
    { name: 'REDIS_PRIMARY_PORT_6379_TCP_PROTO', value: 'tcp' },
    { name: 'REDIS_PRIMARY_PORT_6379_TCP_PORT', value: '6379' },
    { name: 'REDIS_PRIMARY_PORT_6379_TCP_ADDR', value: '10.0.0.11' },
    { name: 'REDIS_PRIMARY_PORT_9121_TCP', value: 'tcp://10.0.0.11:9121' },
    { name: 'REDIS_PRIMARY_PORT_9121_TCP_PROTO', value: 'tcp' },
    { name: 'REDIS_PRIMARY_PORT_9121_TCP_PORT', value: '9121' },
    { name: 'REDIS_PRIMARY_PORT_9121_TCP_ADDR', value: '10.0.0.11' },
    { name: 'REDIS_PRIMARY_PORT_53_UDP', value: 'udp://10.0.0.11:53' },
    { name: 'REDIS_PRIMARY_PORT_53_UDP_PROTO', value: 'udp' },
    { name: 'REDIS_PRIMARY_PORT_53_UDP_PORT', value: '53' },
    { name: 'REDIS_PRIMARY_PORT_53_UDP_ADDR', value: '10.0.0.11' },
  ]);
});

test('the kubernetes service gives the in-cluster client variables', () => {
  assert.deepEqual(asRecord(serviceLinkVariables(kubernetes)), {
    KUBERNETES_SERVICE_HOST: '10.0.0.1',
    KUBERNETES_SERVICE_PORT: '443',
    KUBERNETES_SERVICE_PORT_HTTPS: '443',
    KUBERNETES_PORT: 'tcp://10.0.0.1:443',
    KUBERNETES_PORT_443_TCP: 'tcp://10.0.0.1:443',
    KUBERNETES_PORT_443_TCP_PROTO: 'tcp',
    KUBERNETES_PORT_443_TCP_PORT: '443',
    KUBERNETES_PORT_443_TCP_ADDR: '10.0.0.1',
  });
});

test('IPv6 cluster IPs are bracketed in URLs only', () => {
  const variables = asRecord(serviceLinkVariables(service('ns', 'api', 'fd00::10', [{ port: 80, protocol: 'SCTP' }])));
  assert.equal(variables.API_SERVICE_HOST, 'fd00::10');
  assert.equal(variables.API_PORT, 'sctp://[fd00::10]:80');
  assert.equal(variables.API_PORT_80_SCTP, 'sctp://[fd00::10]:80');
  assert.equal(variables.API_PORT_80_SCTP_ADDR, 'fd00::10');
});

test('services without a cluster IP have no variables', () => {
  for (const clusterIP of [undefined, '', 'None']) {
    const headless = service('ns', 'headless', clusterIP, [{ port: 80 }]);
    assert.equal(hasClusterIP(headless), false);
    assert.deepEqual(serviceLinkVariables(headless), []);
  }
  assert.equal(hasClusterIP(kubernetes), true);
});

test('variables are computed once per Service object, as frozen EnvVars', () => {
  const first = serviceLinkVariables(kubernetes);
  assert.equal(serviceLinkVariables(kubernetes), first);
  assert.equal(
    first.every((variable) => Object.isFrozen(variable)),
    true,
  );
  // A changed service is a new object (informer caches replace, never mutate), so it is recomputed.
  const changed = { ...kubernetes, spec: { ...kubernetes.spec, clusterIP: '10.0.0.2' } };
  assert.equal(asRecord(serviceLinkVariables(changed)).KUBERNETES_SERVICE_HOST, '10.0.0.2');
});

const byNamespace: Record<string, Service[]> = {
  default: [
    service('default', 'web', '10.0.1.1', [{ port: 80 }]),
    kubernetes,
    service('default', 'headless', 'None', [{ port: 80 }]),
  ],
  shop: [
    service('shop', 'cart', '10.0.2.2', [{ port: 8080 }]),
    service('shop', 'api', '10.0.2.1', [{ port: 80 }]),
    service('shop', 'pending', '', [{ port: 80 }]),
  ],
};
const listServices = (namespace: string): Service[] => byNamespace[namespace] ?? [];
const names = (services: Service[]): string[] => services.map((s) => `${s.metadata?.namespace}/${s.metadata?.name}`);

test('a pod sees default/kubernetes always and its namespace when links are on, sorted by name', () => {
  assert.deepEqual(names(servicesVisibleToPod('shop', true, listServices)), [
    'shop/api',
    'shop/cart',
    'default/kubernetes',
  ]);
  assert.deepEqual(names(servicesVisibleToPod('shop', false, listServices)), ['default/kubernetes']);
  assert.deepEqual(names(servicesVisibleToPod('default', true, listServices)), ['default/kubernetes', 'default/web']);
  assert.deepEqual(names(servicesVisibleToPod('default', false, listServices)), ['default/kubernetes']);
  assert.deepEqual(names(servicesVisibleToPod('empty', true, listServices)), ['default/kubernetes']);
});

test("a namespace's own kubernetes service hides the default one when links are on", () => {
  const own = service('team', 'kubernetes', '10.9.9.9', [{ port: 6443 }]);
  const list = (namespace: string): Service[] => (namespace === 'team' ? [own] : listServices(namespace));
  assert.deepEqual(names(servicesVisibleToPod('team', true, list)), ['team/kubernetes']);
  assert.deepEqual(names(servicesVisibleToPod('team', false, list)), ['default/kubernetes']);
});

test('only the namespaces needed are listed', () => {
  const asked: string[] = [];
  const spy = (namespace: string): Service[] => {
    asked.push(namespace);
    return listServices(namespace);
  };
  servicesVisibleToPod('shop', false, spy);
  servicesVisibleToPod('default', true, spy);
  servicesVisibleToPod('shop', true, spy);
  assert.deepEqual(asked, ['default', 'default', 'default', 'shop']);
});

test('podServiceEnvironment honours enableServiceLinks and indexes by name', () => {
  const pod = (enableServiceLinks?: boolean): Pod => ({
    metadata: { namespace: 'shop', name: 'p' },
    spec: { containers: [], ...(enableServiceLinks === undefined ? {} : { enableServiceLinks }) },
  });
  const on = podServiceEnvironment(pod(), listServices);
  assert.deepEqual(
    on.variables.map((variable) => variable.name).filter((name) => name.endsWith('_SERVICE_HOST')),
    ['API_SERVICE_HOST', 'CART_SERVICE_HOST', 'KUBERNETES_SERVICE_HOST'],
  );
  assert.equal(on.byName.get('CART_SERVICE_PORT')?.value, '8080');
  assert.equal(on.byName.size, on.variables.length);
  assert.deepEqual(podServiceEnvironment(pod(true), listServices).variables, on.variables);

  const off = podServiceEnvironment(pod(false), listServices);
  assert.deepEqual(off.variables, serviceLinkVariables(kubernetes));
  assert.equal(off.byName.get('KUBERNETES_SERVICE_HOST')?.value, '10.0.0.1');

  const none = podServiceEnvironment(pod(false), () => []);
  assert.deepEqual(none.variables, []);
  assert.equal(none.byName.size, 0);
});

test('pods of a namespace share one environment until a Service object changes', () => {
  const pod: Pod = { metadata: { namespace: 'cache-test', name: 'p' }, spec: { containers: [] } };
  const api = service('cache-test', 'api', '10.7.0.1', [{ port: 80 }]);
  let listing: Service[] = [api];
  const list = (namespace: string): Service[] => (namespace === 'cache-test' ? [...listing] : listServices(namespace));
  const first = podServiceEnvironment(pod, list);
  assert.equal(podServiceEnvironment(pod, list), first); // a fresh but identical listing hits the cache
  listing = [{ ...api, spec: { ...api.spec, clusterIP: '10.7.0.2' } }];
  const changed = podServiceEnvironment(pod, list);
  assert.notEqual(changed, first);
  assert.equal(changed.byName.get('API_SERVICE_HOST')?.value, '10.7.0.2');
  listing = [];
  assert.deepEqual(
    podServiceEnvironment(pod, list).variables.map((variable) => variable.name),
    serviceLinkVariables(kubernetes).map((variable) => variable.name),
  );
});
