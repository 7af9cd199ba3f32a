/**
 * The task sizes Fargate accepts (Linux, x86_64 and ARM64): CPU units (1024 = 1 vCPU) and the
 * memory (MiB) each CPU size allows. A task definition with any other pair is refused by ECS,
 * so a pod's requests and limits are rounded up to the smallest pair that holds them.
 *
 * From the ECS Developer Guide, "Task CPU and memory" (Fargate): 0.25 vCPU with 0.5, 1 or 2 GB;
 * 0.5 vCPU with 1–4 GB and 1 vCPU with 2–8 GB in 1 GB steps; 2 vCPU with 4–16 GB and 4 vCPU with
 * 8–30 GB in 1 GB steps; 8 vCPU with 16–60 GB in 4 GB steps and 16 vCPU with 32–120 GB in 8 GB
 * steps (those two need platform version 1.4.0 or later).
 */
import { InvalidInputError } from '../../errors.ts';

/** One CPU size and the memory sizes that go with it. */
export interface FargateCpuSize {
  /** CPU units: 1024 per vCPU. */
  cpu: number;
  /** Valid memory sizes in MiB, ascending. */
  memory: readonly number[];
}

function steps(fromGiB: number, toGiB: number, stepGiB: number): number[] {
  const sizes: number[] = [];
  for (let gib = fromGiB; gib <= toGiB; gib += stepGiB) sizes.push(gib * 1024);
  return sizes;
}

/** Every valid Fargate CPU/memory combination, CPU ascending. */
export const FARGATE_SIZES: readonly FargateCpuSize[] = [
  { cpu: 256, memory: [512, 1024, 2048] },
  { cpu: 512, memory: steps(1, 4, 1) },
  { cpu: 1024, memory: steps(2, 8, 1) },
  { cpu: 2048, memory: steps(4, 16, 1) },
  { cpu: 4096, memory: steps(8, 30, 1) },
  { cpu: 8192, memory: steps(16, 60, 4) },
  { cpu: 16384, memory: steps(32, 120, 8) },
];

/** A task size as the task definition takes it. */
export interface TaskSize {
  cpu: number;
  memoryMiB: number;
}

/** `0.25 vCPU / 0.5 GiB`, for messages. */
export function describeTaskSize(size: TaskSize): string {
  return `${size.cpu / 1024} vCPU / ${size.memoryMiB / 1024} GiB`;
}

/**
 * The smallest valid Fargate size with at least `cpu` units and `memoryMiB`: the lowest CPU size
 * that offers enough memory, with its smallest sufficient memory. Lower CPU sizes are cheaper
 * and a higher CPU size never offers a smaller sufficient memory, so this is also the cheapest.
 * Throws InvalidInputError, naming the largest sizes, when nothing fits.
 */
export function smallestFargateSize(cpu: number, memoryMiB: number): TaskSize {
  for (const size of FARGATE_SIZES) {
    if (size.cpu < cpu) continue;
    const memory = size.memory.find((m) => m >= memoryMiB);
    if (memory !== undefined) return { cpu: size.cpu, memoryMiB: memory };
  }
  throw new InvalidInputError(
    `the pod needs ${cpu / 1024} vCPU and ${Math.round((memoryMiB / 1024) * 100) / 100} GiB, more than any Fargate task ` +
      `(at most 16 vCPU with 120 GiB, 8 vCPU with 60 GiB, 4 vCPU with 30 GiB)`,
  );
}
