import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isInvalidInput } from '../../errors.ts';
import { describeTaskSize, FARGATE_SIZES, smallestFargateSize } from './fargate-sizes.ts';

test('the table has the documented Fargate combinations', () => {
  const count = FARGATE_SIZES.reduce((n, s) => n + s.memory.length, 0);
  // 3 + 4 + 7 + 13 + 23 + 12 + 12
  assert.equal(count, 74);
  assert.deepEqual(FARGATE_SIZES[0], { cpu: 256, memory: [512, 1024, 2048] });
  assert.deepEqual(FARGATE_SIZES.at(-1)?.memory.slice(0, 2), [32768, 40960]);
  assert.equal(FARGATE_SIZES.find((s) => s.cpu === 4096)?.memory.at(-1), 30720);
  assert.equal(FARGATE_SIZES.find((s) => s.cpu === 8192)?.memory.at(-1), 61440);
});

test('nothing requested gets the smallest task', () => {
  assert.deepEqual(smallestFargateSize(0, 0), { cpu: 256, memoryMiB: 512 });
});

test('the smallest combination that holds both', () => {
  assert.deepEqual(smallestFargateSize(100, 600), { cpu: 256, memoryMiB: 1024 });
  assert.deepEqual(smallestFargateSize(256, 2048), { cpu: 256, memoryMiB: 2048 });
  // more memory than 0.25 vCPU allows: 0.5 vCPU, not a bigger CPU
  assert.deepEqual(smallestFargateSize(256, 3000), { cpu: 512, memoryMiB: 3072 });
  // 1 vCPU starts at 2 GiB
  assert.deepEqual(smallestFargateSize(1000, 512), { cpu: 1024, memoryMiB: 2048 });
  assert.deepEqual(smallestFargateSize(1025, 0), { cpu: 2048, memoryMiB: 4096 });
  // past 30 GiB, 4 vCPU is not enough: 8 vCPU in 4 GiB steps
  assert.deepEqual(smallestFargateSize(4096, 31 * 1024), { cpu: 8192, memoryMiB: 32 * 1024 });
  assert.deepEqual(smallestFargateSize(16384, 100 * 1024), { cpu: 16384, memoryMiB: 104 * 1024 });
});

test('every choice is a valid pair and at least what was asked', () => {
  for (const cpu of [1, 256, 300, 512, 1024, 1500, 2048, 4000, 8192, 12000, 16384]) {
    for (const memory of [1, 512, 1500, 4096, 9000, 30720, 40000, 61440, 90000, 122880]) {
      const size = smallestFargateSize(cpu, memory);
      assert.ok(size.cpu >= cpu && size.memoryMiB >= memory);
      assert.ok(FARGATE_SIZES.find((s) => s.cpu === size.cpu)?.memory.includes(size.memoryMiB));
    }
  }
});

test('a pod too big for Fargate is refused with the sizes', () => {
  assert.throws(
    () => smallestFargateSize(20 * 1024, 1024),
    (error: Error) =>
      isInvalidInput(error) && /20 vCPU/.test(error.message) && /16 vCPU with 120 GiB/.test(error.message),
  );
  assert.throws(() => smallestFargateSize(256, 121 * 1024), /121 GiB/);
  assert.equal(describeTaskSize({ cpu: 256, memoryMiB: 512 }), '0.25 vCPU / 0.5 GiB');
});
