/**
 * Builds (or finds) the Nomad agent the tests and benchmarks run: Nomad v1.6.3, the last release
 * under the MPL-2.0, from the Go module proxy through the pinned module in tools/nomad/go.mod.
 *
 * The build is cached outside the repository (`<cache>/nomad/<version>/bin/nomad`), so only the
 * first one costs minutes. `VK_NOMAD_BINARY=/path/to/nomad` uses a binary that is already there.
 * Nomad needs cgo (its exec driver links runc's nsenter), hence a C compiler.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { cacheDir, checkGo, goEnv, HarnessError, runLogged } from '../kube/binaries.ts';
import { withLock } from '../kube/lock.ts';
import { findExecutable } from '../podman/environment.ts';

const execFileAsync = promisify(execFile);

/** The directory of the pinned Go module. */
export const NOMAD_MODULE_DIR = dirname(fileURLToPath(import.meta.url));

export interface NomadBinary {
  /** e.g. `v1.6.3`. */
  version: string;
  path: string;
}

/** The Nomad release pinned in tools/nomad/go.mod, and the commit its api module was cut at. */
export function pinnedNomad(): { version: string; commit: string } {
  const goMod = readFileSync(join(NOMAD_MODULE_DIR, 'go.mod'), 'utf8');
  const version = /^\s*github\.com\/hashicorp\/nomad (v\S+)/m.exec(goMod)?.[1];
  const commit = /^\s*github\.com\/hashicorp\/nomad\/api v0\.0\.0-\d{14}-([0-9a-f]{12})/m.exec(goMod)?.[1];
  if (!version || !commit) throw new HarnessError(`${NOMAD_MODULE_DIR}/go.mod does not pin github.com/hashicorp/nomad`);
  return { version, commit };
}

/** Returns the Nomad binary, building it first when the cache does not have it. */
export async function ensureNomad(log: (line: string) => void = () => {}): Promise<NomadBinary> {
  const given = process.env.VK_NOMAD_BINARY;
  if (given) {
    if (!existsSync(given)) throw new HarnessError(`VK_NOMAD_BINARY=${given} does not exist`);
    const { stdout } = await execFileAsync(given, ['version']);
    return { version: /Nomad (v\S+)/.exec(stdout)?.[1] ?? 'unknown', path: given };
  }
  const { version, commit } = pinnedNomad();
  const root = join(cacheDir(), 'nomad', version);
  const path = join(root, 'bin', 'nomad');
  const stampPath = join(root, 'complete.json');
  const cached = () => existsSync(stampPath) && existsSync(path);
  if (cached()) return { version, path };
  mkdirSync(root, { recursive: true });
  return withLock(join(root, 'build.lock'), log, async () => {
    if (cached()) return { version, path };
    const started = Date.now();
    const goVersion = await checkGo(
      'the Nomad the tests run is built from its Go module',
      'set VK_NOMAD_BINARY to a Nomad v1.6 binary',
    );
    if (!findExecutable('gcc') && !findExecutable('cc')) {
      throw new HarnessError(
        'Nomad is built with cgo (its exec driver links C code) and no C compiler was found: `apt-get install -y gcc libc6-dev`, or set VK_NOMAD_BINARY',
      );
    }
    log(`building Nomad ${version} from its Go module with ${goVersion} (the first build takes several minutes)`);
    const moduleDir = join(root, 'module');
    mkdirSync(moduleDir, { recursive: true });
    for (const file of ['go.mod', 'go.sum'])
      writeFileSync(join(moduleDir, file), readFileSync(join(NOMAD_MODULE_DIR, file)));
    const logPath = join(root, 'build.log');
    rmSync(logPath, { force: true });
    const ldflags = `-s -w -X github.com/hashicorp/nomad/version.GitCommit=${commit}`;
    await runLogged(
      'go',
      ['build', '-trimpath', '-ldflags', ldflags, '-o', path, 'github.com/hashicorp/nomad'],
      moduleDir,
      { ...goEnv(), CGO_ENABLED: '1' },
      logPath,
    );
    writeFileSync(stampPath, `${JSON.stringify({ version, commit, goVersion, builtAt: new Date().toISOString() })}\n`);
    log(`built Nomad ${version} in ${Math.round((Date.now() - started) / 1000)} s into ${path}`);
    return { version, path };
  });
}
