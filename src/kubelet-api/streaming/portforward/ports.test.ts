import assert from 'node:assert/strict';
import { test } from 'node:test';
import { InvalidInputError } from '../../../errors.ts';
import { parsePort, parsePortForwardPorts } from './ports.ts';

const ports = (query: string) => parsePortForwardPorts(new URLSearchParams(query));

test('ports come from repeated parameters and comma lists, in order', () => {
  assert.deepEqual(ports('port=80&port=443'), [80, 443]);
  assert.deepEqual(ports('port=8080,9090&port=1'), [8080, 9090, 1]);
  assert.deepEqual(ports('port=65535&port=80,80'), [65535, 80, 80]);
  assert.deepEqual(ports('other=1'), [], 'no port parameter: SPDY port-forward needs none');
});

test('anything but 1..65535 in decimal digits is invalid input', () => {
  for (const query of [
    'port=',
    'port=0',
    'port=65536',
    'port=-1',
    'port=%2B80',
    'port=80,',
    'port=8o',
    'port=%2080',
    'port=1e3',
  ]) {
    assert.throws(() => ports(query), InvalidInputError, query);
  }
  assert.equal(parsePort('0080'), 80, 'leading zeros are fine, as for strconv.ParseUint');
  assert.equal(parsePort(''), undefined);
});
