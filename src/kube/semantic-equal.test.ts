import assert from 'node:assert/strict';
import { test } from 'node:test';
import { semanticallyEqual } from './semantic-equal.ts';

test('a container status as sent equals the one the API returns', () => {
  const sent = {
    name: 'c',
    image: 'x',
    imageID: '',
    ready: true,
    restartCount: 0,
    state: { running: { startedAt: 't' } },
  };
  const returned = {
    image: 'x',
    imageID: '',
    lastState: {},
    name: 'c',
    ready: true,
    restartCount: 0,
    state: { running: { startedAt: 't' } },
  };
  assert.ok(semanticallyEqual([sent], [returned]));
});

test('empty values of every kind mean "not set"', () => {
  for (const empty of [undefined, null, false, 0, '', [], {}, { a: {} }, { a: [null] }.a.slice(1)]) {
    assert.ok(semanticallyEqual({ x: empty }, {}), `${JSON.stringify(empty)} is empty`);
    assert.ok(semanticallyEqual({}, { x: empty }), `${JSON.stringify(empty)} is empty`);
  }
});

test('an object whose fields are zero values is set: a container that ended with exit code 0 is not "running: {}"', () => {
  assert.ok(!semanticallyEqual({ state: { running: {} } }, { state: { terminated: { exitCode: 0 } } }));
  assert.ok(!semanticallyEqual({ state: { waiting: {} } }, { state: { terminated: { exitCode: 0 } } }));
  assert.ok(semanticallyEqual({ state: { terminated: { exitCode: 0 } } }, { state: { terminated: { exitCode: 0 } } }));
});

test('real differences are seen', () => {
  assert.ok(!semanticallyEqual({ ready: true }, { ready: false }));
  assert.ok(!semanticallyEqual({ ready: true }, {}));
  assert.ok(!semanticallyEqual({}, { restartCount: 1 }));
  assert.ok(
    !semanticallyEqual([{ name: 'a' }, { name: 'b' }], [{ name: 'b' }, { name: 'a' }]),
    'order of a list counts',
  );
  assert.ok(!semanticallyEqual([{ name: 'a' }], [{ name: 'a' }, { name: 'b' }]));
  assert.ok(!semanticallyEqual({ state: { running: {} } }, { state: { waiting: { reason: 'X' } } }));
  assert.ok(!semanticallyEqual('1', 1));
  assert.ok(!semanticallyEqual({ a: [1] }, { a: { 0: 1 } }), 'a list is not an object');
});
