/**
 * Property-based fuzzing for the unit suite, on fast-check: each property gets a number of
 * generated inputs and a time budget, whichever ends first, so the suite's time stays bounded on a
 * loaded machine; the count actually run is printed (`fuzz <name>: N inputs in T s`). Set
 * `VK_FUZZ_SCALE=10` for a deeper run. Named `*.test.ts` so the package build leaves it out; it has
 * no tests of its own.
 *
 * Every parser's contract is the same: any input either parses or is refused with the module's
 * own typed error carrying a message — never a TypeError, a RangeError or a hang.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import fc from 'fast-check';

const SCALE = Number(process.env.VK_FUZZ_SCALE ?? 1) || 1;

export interface FuzzBudget {
  /** Inputs to generate. Default 20 000. */
  runs?: number;
  /**
   * Seconds after which generation stops (the count reached is reported): a safety net for a
   * loaded machine, well above what the runs take on an idle one. Default 10.
   */
  seconds?: number;
}

function parameters(budget: FuzzBudget) {
  return {
    numRuns: Math.round((budget.runs ?? 20_000) * SCALE),
    interruptAfterTimeLimit: (budget.seconds ?? 10) * 1000 * SCALE,
    markInterruptAsFailure: false,
  };
}

function report(t: TestContext, name: string, runs: number, started: number): void {
  const line = `fuzz ${name}: ${runs} inputs in ${((performance.now() - started) / 1000).toFixed(1)} s`;
  t.diagnostic(line);
  if (process.env.VK_FUZZ_REPORT) process.stderr.write(`${line}\n`);
}

/** Checks a synchronous property on generated inputs; returns how many were run. */
export function fuzz<T>(
  t: TestContext,
  name: string,
  arbitrary: fc.Arbitrary<T>,
  check: (value: T) => void,
  budget: FuzzBudget = {},
): number {
  let runs = 0;
  const started = performance.now();
  fc.assert(
    fc.property(arbitrary, (value) => {
      runs++;
      check(value);
    }),
    parameters(budget),
  );
  report(t, name, runs, started);
  assert.ok(runs > 0, `fuzz ${name} ran no input`);
  return runs;
}

/** The same for an asynchronous property; each input must settle within `timeoutMs` (a hang is a failure). */
export async function fuzzAsync<T>(
  t: TestContext,
  name: string,
  arbitrary: fc.Arbitrary<T>,
  check: (value: T) => Promise<void>,
  budget: FuzzBudget & { timeoutMs?: number } = {},
): Promise<number> {
  let runs = 0;
  const started = performance.now();
  const timeoutMs = budget.timeoutMs ?? 2000;
  await fc.assert(
    fc.asyncProperty(arbitrary, async (value) => {
      runs++;
      let timer: NodeJS.Timeout | undefined;
      const hang = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms: a hang`)), timeoutMs);
      });
      try {
        await Promise.race([check(value), hang]);
      } finally {
        clearTimeout(timer);
      }
    }),
    parameters({ runs: 2000, ...budget }),
  );
  report(t, name, runs, started);
  assert.ok(runs > 0, `fuzz ${name} ran no input`);
  return runs;
}

/**
 * Runs `parse`; a throw must be an instance of `expected` (the module's typed error) with a
 * non-empty message, or the failure is re-thrown as the bug it is. Returns `{ value }`, or
 * `{ error }` when the input was refused.
 */
export function parsesOrRefuses<R>(
  parse: () => R,
  expected: abstract new (...args: never[]) => Error,
): { value: R } | { error: Error } {
  try {
    return { value: parse() };
  } catch (error) {
    if (!(error instanceof expected)) {
      throw new Error(`expected a ${expected.name} or a result, got ${describe(error)}`, { cause: error });
    }
    assert.ok(error.message.length > 0, `a ${expected.name} without a message`);
    return { error };
  }
}

function describe(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}

/** Arbitrary bytes, biased towards the short inputs where most edge cases live. */
export const bytes = (maxLength = 256): fc.Arbitrary<Buffer> =>
  fc.uint8Array({ maxLength }).map((array) => Buffer.from(array.buffer, array.byteOffset, array.length));

/** Any string: full Unicode, lone surrogates, control characters. */
export const anyString = (maxLength = 64): fc.Arbitrary<string> => fc.string({ unit: 'binary', maxLength });

/** `whole` cut at arbitrary points, for parsers that take a stream in chunks. */
export const splits = (whole: Buffer): fc.Arbitrary<Buffer[]> =>
  fc.array(fc.nat({ max: Math.max(0, whole.length) }), { maxLength: 12 }).map((cuts) => {
    const points = [...new Set([0, ...cuts, whole.length])].sort((a, b) => a - b);
    const chunks: Buffer[] = [];
    for (let i = 1; i < points.length; i++) chunks.push(whole.subarray(points[i - 1], points[i]));
    return chunks;
  });

/**
 * A directory for the files of file-reading parsers, in memory when the machine has /dev/shm
 * (writing tens of thousands of files to disk would be most of the time); removed after the test.
 */
export function scratchDir(t: TestContext, prefix: string): string {
  const dir = mkdtempSync(join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), `${prefix}-`));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export { fc };
