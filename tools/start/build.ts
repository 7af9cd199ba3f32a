/**
 * Step 1 of `npm start`: the package build (`tsc -p tsconfig.build.json`), skipped when dist/ is
 * already newer than every source file and the compiler settings — as after `npm run build`, or
 * inside `npm test`, where other test processes are running dist/ and must not see it rewritten.
 */
import { spawn } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { HarnessError } from '../kube/binaries.ts';

/** The sources tsconfig.build.json compiles: src/**\/*.ts without the tests. */
function sources(dir: string): string[] {
  const found: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) found.push(...sources(path));
    else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.test.ts') && !entry.name.endsWith('.d.ts'))
      found.push(path);
  }
  return found;
}

function mtime(path: string): number | undefined {
  try {
    return statSync(path).mtimeMs;
  } catch {
    return undefined;
  }
}

/** Why dist/ must be built again (the first stale or missing output), or undefined when it is current. */
export function staleOutput(repo: string): string | undefined {
  const settings = Math.max(
    ...['tsconfig.json', 'tsconfig.build.json'].map((file) => mtime(join(repo, file)) ?? Number.POSITIVE_INFINITY),
  );
  for (const source of sources(join(repo, 'src'))) {
    const output = join(repo, 'dist', relative(join(repo, 'src'), source).replace(/\.ts$/, '.js'));
    const built = mtime(output);
    if (built === undefined) return `${relative(repo, output)} is missing`;
    if (built < (mtime(source) ?? 0) || built < settings)
      return `${relative(repo, source)} changed since the last build`;
  }
  return undefined;
}

/** Builds the package unless dist/ is current; says which. */
export async function buildPackage(repo: string, detail: (line: string) => void): Promise<void> {
  const reason = staleOutput(repo);
  if (!reason) {
    detail('dist/ is up to date');
    return;
  }
  detail(`${reason}: tsc -p tsconfig.build.json`);
  const tsc = join(repo, 'node_modules', 'typescript', 'bin', 'tsc');
  await new Promise<void>((resolveRun, reject) => {
    const child = spawn(process.execPath, [tsc, '-p', 'tsconfig.build.json'], {
      cwd: repo,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.on('error', (error) => reject(new HarnessError(`could not run tsc: ${error.message}`)));
    child.on('close', (code, signal) => {
      if (code === 0) resolveRun();
      else
        reject(
          new HarnessError(`tsc -p tsconfig.build.json failed (${signal ?? `exit ${code}`}):\n${output.trimEnd()}`),
        );
    });
  });
}
