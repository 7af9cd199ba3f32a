/**
 * Builds (or finds) the `helm` the chart tests run: helm.sh/helm/v3 at the version pinned in
 * tools/helm/go.mod, from the Go module proxy.
 *
 * The build is cached outside the repository (`<cache>/helm/<version>/bin/helm`), so only the first
 * one costs minutes. `VK_HELM_BINARY=/path/to/helm` uses a binary that is already there.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { cacheDir, checkGo, goEnv, HarnessError, runLogged } from '../kube/binaries.ts';
import { withLock } from '../kube/lock.ts';

const execFileAsync = promisify(execFile);

/** The directory of the pinned Go module. */
export const HELM_MODULE_DIR = dirname(fileURLToPath(import.meta.url));

export interface HelmBinary {
  /** e.g. `v3.21.4`. */
  version: string;
  path: string;
}

/** The Helm release pinned in tools/helm/go.mod. */
export function pinnedHelm(): string {
  const goMod = readFileSync(join(HELM_MODULE_DIR, 'go.mod'), 'utf8');
  const version = /^\s*(?:require\s+)?helm\.sh\/helm\/v3 (v\S+)/m.exec(goMod)?.[1];
  if (!version) throw new HarnessError(`${HELM_MODULE_DIR}/go.mod does not pin helm.sh/helm/v3`);
  return version;
}

/** Returns the helm binary, building it first when the cache does not have it. */
export async function ensureHelm(log: (line: string) => void = () => {}): Promise<HelmBinary> {
  const given = process.env.VK_HELM_BINARY;
  if (given) {
    if (!existsSync(given)) throw new HarnessError(`VK_HELM_BINARY=${given} does not exist`);
    const { stdout } = await execFileAsync(given, ['version', '--template', '{{.Version}}']);
    return { version: stdout.trim(), path: given };
  }
  const version = pinnedHelm();
  const root = join(cacheDir(), 'helm', version);
  const path = join(root, 'bin', 'helm');
  const stampPath = join(root, 'complete.json');
  const cached = () => existsSync(stampPath) && existsSync(path);
  if (cached()) return { version, path };
  mkdirSync(root, { recursive: true });
  return withLock(join(root, 'build.lock'), log, async () => {
    if (cached()) return { version, path };
    const started = Date.now();
    const goVersion = await checkGo('the helm the chart tests run is built from its Go module', 'set VK_HELM_BINARY');
    log(`building Helm ${version} from its Go module with ${goVersion} (the first build takes a few minutes)`);
    const moduleDir = join(root, 'module');
    mkdirSync(moduleDir, { recursive: true });
    for (const file of ['go.mod', 'go.sum'])
      writeFileSync(join(moduleDir, file), readFileSync(join(HELM_MODULE_DIR, file)));
    // The module needs a package that imports helm's command so `go mod` keeps its requirements.
    writeFileSync(
      join(moduleDir, 'tools.go'),
      '//go:build tools\n\npackage tools\n\nimport _ "helm.sh/helm/v3/cmd/helm"\n',
    );
    const logPath = join(root, 'build.log');
    rmSync(logPath, { force: true });
    // Without the stamp `helm version` says only "v3.21".
    const ldflags = `-s -w -X helm.sh/helm/v3/internal/version.version=${version}`;
    await runLogged(
      'nice',
      ['-n', '10', 'go', 'build', '-trimpath', '-ldflags', ldflags, '-o', path, 'helm.sh/helm/v3/cmd/helm'],
      moduleDir,
      goEnv(),
      logPath,
    );
    writeFileSync(stampPath, `${JSON.stringify({ version, goVersion, builtAt: new Date().toISOString() })}\n`);
    log(`built Helm ${version} in ${Math.round((Date.now() - started) / 1000)} s into ${path}`);
    return { version, path };
  });
}
