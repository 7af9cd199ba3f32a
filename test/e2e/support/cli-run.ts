/**
 * Runs the CLI as a user would, for tests of what it says on a mistake: exit code 2 and one
 * clear line on stderr, no stack trace.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { CLI } from './virtual-kubelet.ts';

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

export function runCli(args: string[], env: NodeJS.ProcessEnv = {}, timeoutMs = 20_000): Promise<CliRun> {
  // Runs that get as far as listening must not race each other (or a kubelet) for the default health port 10248.
  const health = args.some((arg) => arg.startsWith('--healthz-port')) ? [] : ['--healthz-port', '0'];
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [CLI, ...args, ...health],
      { env: { ...process.env, ...env }, timeout: timeoutMs },
      (error, stdout, stderr) => {
        resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr });
      },
    );
  });
}

export function assertUsageError(result: { code: number; stderr: string }, pattern: RegExp): void {
  assert.equal(result.code, 2, result.stderr);
  const lines = result.stderr.trim().split('\n');
  assert.equal(lines.length, 1, `one line expected:\n${result.stderr}`);
  assert.match(lines[0] ?? '', pattern);
  assert.doesNotMatch(result.stderr, /\n\s+at /, 'no stack trace');
}
