import assert from 'node:assert/strict';
import { PassThrough, Readable } from 'node:stream';
import { test } from 'node:test';
import type { AttachIO, TerminalSize } from '../../provider/index.ts';
import { type MockFiles, runCommand, splitWords } from './commands.ts';
import { writeTar } from './tar.ts';

function session(stdin?: string | Buffer, tty = false) {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  stdout.on('data', (c: Buffer) => out.push(c));
  stderr.on('data', (c: Buffer) => err.push(c));
  const listeners: ((size: TerminalSize) => void)[] = [];
  const io: AttachIO = {
    stdin: stdin === undefined ? undefined : Readable.from([Buffer.from(stdin)]),
    stdout,
    stderr: tty ? undefined : stderr,
    tty,
    onResize: (listener) => listeners.push(listener),
  };
  return { io, out: () => Buffer.concat(out).toString(), err: () => Buffer.concat(err).toString(), listeners };
}

const signal = new AbortController().signal;

test('words split like a shell: quotes and escapes', () => {
  assert.deepEqual(splitWords(`echo 'a b' "c \\"d\\"" e\\ f`), ['echo', 'a b', 'c "d"', 'e f']);
  assert.deepEqual(splitWords('  exit   3 '), ['exit', '3']);
});

test('echo, stderr, exit, cat and sh -c', async () => {
  const files: MockFiles = new Map();
  const s = session('piped input');
  assert.equal(await runCommand(['echo', 'hello', 'world'], { io: s.io, files, signal }), 0);
  assert.equal(await runCommand(['stderr', 'oops'], { io: s.io, files, signal }), 0);
  assert.equal(await runCommand(['cat'], { io: s.io, files, signal }), 0);
  assert.equal(s.out(), 'hello world\npiped input');
  assert.equal(s.err(), 'oops\n');
  assert.equal(await runCommand(['sh', '-c', 'exit 3'], { io: s.io, files, signal }), 3);
  assert.equal(await runCommand(['nope'], { io: s.io, files, signal }), 127);
  assert.match(s.err(), /nope: command not found/);
});

test('tar in and out, as kubectl cp runs them', async () => {
  const files: MockFiles = new Map();
  const payload = Buffer.alloc(100_000, 3);
  const upload = writeTar([{ name: 'remote.bin', data: payload, mode: 0o644, mtime: new Date(0), type: '0' }]);
  assert.equal(await runCommand(['test', '-d', '/tmp/remote.bin'], { io: session().io, files, signal }), 1);
  assert.equal(await runCommand(['tar', '-xmf', '-', '-C', '/tmp'], { io: session(upload).io, files, signal }), 0);
  assert.ok(files.get('/tmp/remote.bin')?.data.equals(payload));
  assert.equal(await runCommand(['test', '-d', '/tmp'], { io: session().io, files, signal }), 0);
  const download = session();
  assert.equal(await runCommand(['tar', 'cf', '-', '/tmp/remote.bin'], { io: download.io, files, signal }), 0);
  const missing = session();
  assert.equal(await runCommand(['tar', 'cf', '-', '/tmp/absent'], { io: missing.io, files, signal }), 2);
  assert.match(missing.err(), /Cannot stat/);
});

test('winsize prints each terminal size until stdin ends', async () => {
  const stdin = new PassThrough();
  const s = session();
  s.io.stdin = stdin;
  const running = runCommand(['winsize'], { io: s.io, files: new Map(), signal });
  await new Promise((resolve) => setImmediate(resolve));
  for (const listener of s.listeners) listener({ width: 80, height: 24 });
  for (const listener of s.listeners) listener({ width: 120, height: 40 });
  stdin.end();
  assert.equal(await running, 0);
  assert.equal(s.out(), '80x24\r\n120x40\r\n');
});
