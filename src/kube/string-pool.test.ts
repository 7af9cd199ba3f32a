import assert from 'node:assert/strict';
import { test } from 'node:test';
import { StringPool } from './string-pool.ts';

test('internAll keeps every value and shape of the object it pools', () => {
  const pool = new StringPool();
  const text = JSON.stringify({
    metadata: { name: 'a', labels: { app: 'x' } },
    spec: { containers: [{ image: 'registry.invalid/app:1', args: ['--flag', 'IfNotPresent'] }], priority: 0 },
    status: { conditions: [{ type: 'Ready', status: 'True', lastProbeTime: null }] },
    long: 'x'.repeat(100),
  });
  const object = JSON.parse(text);
  pool.internAll(object);
  assert.equal(JSON.stringify(object), text);
});

test('equal short strings enter the pool once; long ones never', () => {
  const pool = new StringPool({ maxLength: 8 });
  pool.internAll(JSON.parse('[{"a":"same","b":"same"},["same","other"],"a much longer string"]'));
  assert.equal(pool.size, 2, 'same and other');
});

test('a full pool starts over instead of growing', () => {
  const pool = new StringPool({ maxEntries: 3 });
  for (const value of ['a', 'b', 'c', 'd', 'e']) pool.intern(value);
  assert.ok(pool.size <= 3);
  assert.equal(pool.intern('e'), 'e');
});
