import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseLdd } from './rootfs.ts';

const LDD = `	linux-vdso.so.1 (0x00007ffd4a5f2000)
	libdl.so.2 => /lib/x86_64-linux-gnu/libdl.so.2 (0x00007f287124c000)
	libstdc++.so.6 => /lib/x86_64-linux-gnu/libstdc++.so.6 (0x00007f2871000000)
	libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f2870d3e000)
	/lib64/ld-linux-x86-64.so.2 (0x00007f2871264000)
`;

test('ldd output gives every library by path, the loader included, the vDSO left out', () => {
  assert.deepEqual(parseLdd(LDD, 'node'), [
    '/lib/x86_64-linux-gnu/libdl.so.2',
    '/lib/x86_64-linux-gnu/libstdc++.so.6',
    '/lib/x86_64-linux-gnu/libc.so.6',
    '/lib64/ld-linux-x86-64.so.2',
  ]);
});

test('a library the host lacks is an error naming it', () => {
  assert.throws(
    () => parseLdd('\tlibatomic.so.1 => not found\n', '/x/node'),
    /\/x\/node needs a library this host lacks: libatomic\.so\.1 => not found/,
  );
});
