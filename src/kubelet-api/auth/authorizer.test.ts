import assert from 'node:assert/strict';
import { test } from 'node:test';
import { nodeRequestAttributes } from './authorizer.ts';

test('requests map to node subresources as the kubelet maps them', () => {
  assert.deepEqual(nodeRequestAttributes('GET', '/stats/summary'), { verb: 'get', subresources: ['stats'] });
  assert.deepEqual(nodeRequestAttributes('GET', '/metrics/resource'), { verb: 'get', subresources: ['metrics'] });
  assert.deepEqual(nodeRequestAttributes('GET', '/logs/syslog'), { verb: 'get', subresources: ['log'] });
  // exec, attach, portForward and containerLogs are all nodes/proxy; POST is create.
  assert.deepEqual(nodeRequestAttributes('POST', '/exec/ns/pod/c'), { verb: 'create', subresources: ['proxy'] });
  assert.deepEqual(nodeRequestAttributes('GET', '/exec/ns/pod/c'), { verb: 'get', subresources: ['proxy'] });
  assert.deepEqual(nodeRequestAttributes('GET', '/containerLogs/ns/pod/c'), { verb: 'get', subresources: ['proxy'] });
  assert.deepEqual(nodeRequestAttributes('GET', '/portForward/ns/pod'), { verb: 'get', subresources: ['proxy'] });
  // Fine-grained subresources first, proxy as the fallback.
  assert.deepEqual(nodeRequestAttributes('GET', '/pods'), { verb: 'get', subresources: ['pods', 'proxy'] });
  assert.deepEqual(nodeRequestAttributes('GET', '/healthz'), { verb: 'get', subresources: ['healthz', 'proxy'] });
});
