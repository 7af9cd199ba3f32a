/**
 * Builds (or finds) the OpenTelemetry Collector the tracing tests send spans to: main.go beside
 * this file (the OTLP receiver and the file exporter only) with the collector modules pinned in
 * tools/otelcol/go.mod, from the Go module proxy.
 *
 * The build is cached outside the repository (`<cache>/otelcol/<version>/bin/otelcol`), so only the
 * first one costs minutes. `VK_OTELCOL_BINARY=/path/to/otelcol` uses a collector that is already
 * there (it must have the otlp receiver and the file exporter).
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cacheDir, checkGo, goEnv, HarnessError, runLogged } from '../kube/binaries.ts';
import { withLock } from '../kube/lock.ts';

/** The directory of the pinned Go module. */
export const OTELCOL_MODULE_DIR = dirname(fileURLToPath(import.meta.url));
const MODULE_FILES = ['go.mod', 'go.sum', 'main.go'];

/** The collector release pinned in tools/otelcol/go.mod. */
export function pinnedCollector(): string {
  const goMod = readFileSync(join(OTELCOL_MODULE_DIR, 'go.mod'), 'utf8');
  const version = /^\s*go\.opentelemetry\.io\/collector\/otelcol (v\S+)/m.exec(goMod)?.[1];
  if (!version)
    throw new HarnessError(`${OTELCOL_MODULE_DIR}/go.mod does not pin go.opentelemetry.io/collector/otelcol`);
  return version;
}

/** Returns the collector binary, building it first when the cache does not have it. */
export async function ensureCollector(log: (line: string) => void = () => {}): Promise<string> {
  const given = process.env.VK_OTELCOL_BINARY;
  if (given) {
    if (!existsSync(given)) throw new HarnessError(`VK_OTELCOL_BINARY=${given} does not exist`);
    return given;
  }
  // Keyed by the module's files too: a changed main.go is a different collector.
  const digest = createHash('sha256');
  for (const file of MODULE_FILES) digest.update(readFileSync(join(OTELCOL_MODULE_DIR, file)));
  const root = join(cacheDir(), 'otelcol', `${pinnedCollector()}-${digest.digest('hex').slice(0, 12)}`);
  const path = join(root, 'bin', 'otelcol');
  const stampPath = join(root, 'complete.json');
  const cached = () => existsSync(stampPath) && existsSync(path);
  if (cached()) return path;
  mkdirSync(root, { recursive: true });
  return withLock(join(root, 'build.lock'), log, async () => {
    if (cached()) return path;
    const started = Date.now();
    const goVersion = await checkGo(
      'the OpenTelemetry Collector the tracing tests run is built from its Go modules',
      'set VK_OTELCOL_BINARY',
    );
    log(`building the OpenTelemetry Collector ${pinnedCollector()} with ${goVersion} (the first build takes minutes)`);
    const moduleDir = join(root, 'module');
    mkdirSync(moduleDir, { recursive: true });
    for (const file of MODULE_FILES) writeFileSync(join(moduleDir, file), readFileSync(join(OTELCOL_MODULE_DIR, file)));
    const logPath = join(root, 'build.log');
    rmSync(logPath, { force: true });
    await runLogged(
      'nice',
      ['-n', '10', 'go', 'build', '-trimpath', '-ldflags', '-s -w', '-o', path, '.'],
      moduleDir,
      goEnv(),
      logPath,
    );
    writeFileSync(stampPath, `${JSON.stringify({ goVersion, builtAt: new Date().toISOString() })}\n`);
    log(`built the collector in ${Math.round((Date.now() - started) / 1000)} s into ${path}`);
    return path;
  });
}
