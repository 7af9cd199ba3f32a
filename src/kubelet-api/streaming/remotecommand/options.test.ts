import assert from 'node:assert/strict';
import { test } from 'node:test';
import { InvalidInputError } from '../../../errors.ts';
import { parseRemoteCommandQuery } from './options.ts';

const parse = (query: string) => parseRemoteCommandQuery(new URLSearchParams(query));

test('the kubelet’s parameters: input, output, error, tty as "1", command repeated', () => {
  assert.deepEqual(parse('command=sh&command=-c&command=echo+hi&error=1&input=1&output=1'), {
    stdin: true,
    stdout: true,
    stderr: true,
    tty: false,
    command: ['sh', '-c', 'echo hi'],
  });
  assert.deepEqual(parse('output=1'), { stdin: false, stdout: true, stderr: false, tty: false, command: [] });
});

test('with a TTY stderr is dropped, not refused', () => {
  assert.deepEqual(parse('input=1&output=1&error=1&tty=1&command=bash'), {
    stdin: true,
    stdout: true,
    stderr: false,
    tty: true,
    command: ['bash'],
  });
});

test('only "1" turns a flag on, as req.FormValue(...) == "1" in the kubelet', () => {
  assert.deepEqual(parse('input=true&output=1&tty=yes'), {
    stdin: false,
    stdout: true,
    stderr: false,
    tty: false,
    command: [],
  });
});

test('at least one of stdin, stdout, stderr', () => {
  assert.throws(() => parse('command=ls'), InvalidInputError);
  assert.throws(() => parse('tty=1&error=1'), InvalidInputError, 'stderr dropped by the TTY leaves nothing');
  assert.throws(() => parse('stdin=1&stdout=1'), InvalidInputError, 'the API server’s names are not the kubelet’s');
});
