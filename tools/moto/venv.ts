/**
 * Builds (or finds) the Python virtual environment that runs moto's server, from the pinned
 * tools/moto/requirements.txt. The venv lives outside the repository, under
 * `<cache>/moto/<moto version>-<digest of requirements.txt>/`, so a change of any pin builds a
 * new one and a cached one is reused across runs and worktrees (the build takes about 20 s).
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { cacheDir, HarnessError } from '../kube/binaries.ts';
import { withLock } from '../kube/lock.ts';

const execFileAsync = promisify(execFile);

export const REQUIREMENTS = join(dirname(fileURLToPath(import.meta.url)), 'requirements.txt');

export interface MotoVenv {
  /** The pinned moto version, e.g. `5.2.5`. */
  version: string;
  dir: string;
  /** The `moto_server` executable. */
  motoServer: string;
  /** Seconds the build took (0 when it came from the cache). */
  buildSeconds: number;
}

/** The moto version requirements.txt pins. */
export function pinnedMotoVersion(): string {
  const match = /^moto\[server\]==(\S+)$/m.exec(readFileSync(REQUIREMENTS, 'utf8'));
  if (!match?.[1]) throw new HarnessError(`${REQUIREMENTS} does not pin moto[server]==VERSION`);
  return match[1];
}

/** The Python that builds the venv: `$VK_PYTHON`, else `python3` on PATH. */
function python(): string {
  return process.env.VK_PYTHON || 'python3';
}

/** Returns the venv, building it first when the cache does not have it. */
export async function ensureMotoVenv(log: (line: string) => void = () => {}): Promise<MotoVenv> {
  const version = pinnedMotoVersion();
  const digest = createHash('sha256').update(readFileSync(REQUIREMENTS)).digest('hex').slice(0, 12);
  const dir = join(cacheDir(), 'moto', `${version}-${digest}`);
  const motoServer = join(dir, 'bin', 'moto_server');
  const stamp = join(dir, 'complete.json');
  if (existsSync(stamp) && existsSync(motoServer)) return { version, dir, motoServer, buildSeconds: 0 };
  mkdirSync(dirname(dir), { recursive: true });
  return withLock(`${dir}.lock`, log, async () => {
    if (existsSync(stamp) && existsSync(motoServer)) return { version, dir, motoServer, buildSeconds: 0 };
    const started = Date.now();
    log(`building a Python venv for moto ${version} in ${dir}`);
    rmSync(dir, { recursive: true, force: true });
    try {
      await execFileAsync(python(), ['-m', 'venv', dir], { timeout: 120_000 });
    } catch (error) {
      rmSync(dir, { recursive: true, force: true });
      throw new HarnessError(
        `"${python()} -m venv" failed (on Debian: apt-get install python3-venv; or set VK_PYTHON): ${stderrOf(error)}`,
        { cause: error },
      );
    }
    try {
      await execFileAsync(
        join(dir, 'bin', 'pip'),
        ['install', '--quiet', '--disable-pip-version-check', '--no-input', '-r', REQUIREMENTS],
        { timeout: 600_000, maxBuffer: 16 * 1024 * 1024 },
      );
    } catch (error) {
      rmSync(dir, { recursive: true, force: true });
      throw new HarnessError(`pip could not install ${REQUIREMENTS} (is PyPI reachable?): ${stderrOf(error)}`, {
        cause: error,
      });
    }
    const buildSeconds = (Date.now() - started) / 1000;
    writeFileSync(stamp, JSON.stringify({ version, digest, buildSeconds, builtAt: new Date().toISOString() }));
    log(`moto ${version} venv built in ${buildSeconds.toFixed(1)} s`);
    return { version, dir, motoServer, buildSeconds };
  });
}

function stderrOf(error: unknown): string {
  const stderr = (error as { stderr?: string }).stderr?.trim();
  const text = stderr || (error as Error).message;
  return text.split('\n').slice(-8).join('\n');
}
