/**
 * `npm run bench`: measures our virtual kubelet side by side with the Go implementation and a
 * ceiling client, against the real local control plane, and writes bench/results/<date>/.
 *
 * ```
 * npm run bench -- [--scenario burst,scheduled,churn,delete,streaming,soak,fargate,nomad,kubernetes] [--sizes 100,1000,10000]
 *                  [--implementations ours,go,go-tuned,ceiling] [--smoke] [--json FILE] [--out DIR]
 *                  [--duration 30m] [--churn-duration 2m] [--timeout 5m] [--cluster bench|shared]
 *                  [--profile] [--keep-cluster]
 * ```
 * Progress goes to stderr. See bench/README.md.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { loadKubeConfig } from '../src/kube/kubeconfig.ts';
import { parseDuration } from '../src/util/duration.ts';
import type { LocalCluster } from '../tools/kube/cluster.ts';
import { dedicatedCluster, type TestCluster, testCluster } from '../tools/kube/testing.ts';
import { ApiClient } from './api.ts';
import {
  DEFAULT_IMPLEMENTATIONS,
  ensureGoVirtualKubelet,
  IMPLEMENTATIONS,
  type ImplementationName,
  NODE_CAPACITY,
  pinnedGoVersion,
  stopBenchCollector,
} from './baselines.ts';
import { type Conditions, readSummary, recordRun, type Summary, writeOutputs } from './report.ts';
import {
  type RawRun,
  type RunResult,
  runBurst,
  runChurn,
  runFargate,
  runKubernetes,
  runNomad,
  runScheduled,
  runSoak,
  runStreaming,
  SCENARIOS,
  type ScenarioContext,
  type ScenarioName,
  supports,
} from './scenarios/index.ts';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..');

export interface BenchOptions {
  scenarios: ScenarioName[];
  sizes: number[];
  implementations: ImplementationName[];
  smoke: boolean;
  json: string | undefined;
  out: string;
  soakMs: number;
  churnMs: number;
  timeoutMs: number;
  cluster: 'bench' | 'shared';
  profile: boolean;
  keepCluster: boolean;
}

class UsageError extends Error {
  override name = 'UsageError';
}

function list<T extends string>(text: string | undefined, allowed: readonly T[], what: string, fallback: T[]): T[] {
  if (!text) return fallback;
  const items = text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  for (const item of items) {
    if (!allowed.includes(item as T))
      throw new UsageError(`unknown ${what} "${item}"; choose from ${allowed.join(', ')}`);
  }
  return items as T[];
}

/** Parses the command line (exported for tests). */
export function parseOptions(args: string[]): BenchOptions {
  const { values } = parseArgs({
    args,
    options: {
      scenario: { type: 'string' },
      sizes: { type: 'string' },
      implementations: { type: 'string' },
      smoke: { type: 'boolean', default: false },
      json: { type: 'string' },
      out: { type: 'string' },
      duration: { type: 'string' },
      'churn-duration': { type: 'string' },
      timeout: { type: 'string' },
      cluster: { type: 'string' },
      profile: { type: 'boolean', default: false },
      'keep-cluster': { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (values.help) throw new UsageError('');
  const smoke = values.smoke ?? false;
  const sizes = (values.sizes ?? (smoke ? '100' : '100,1000,10000')).split(',').map((s) => {
    const n = Number(s.trim());
    if (!Number.isInteger(n) || n < 1) throw new UsageError(`--sizes takes positive integers, got "${s}"`);
    if (n > Number(NODE_CAPACITY.pods))
      throw new UsageError(`--sizes: ${n} pods is more than the node advertises (${NODE_CAPACITY.pods} pods)`);
    return n;
  });
  const cluster = values.cluster ?? (smoke ? 'shared' : 'bench');
  if (cluster !== 'bench' && cluster !== 'shared')
    throw new UsageError('--cluster is "bench" (a dedicated control plane) or "shared"');
  const duration = (name: string, text: string | undefined, fallback: string) => {
    try {
      return parseDuration(text ?? fallback);
    } catch {
      throw new UsageError(`--${name} takes a duration like 30m or 90s, got "${text}"`);
    }
  };
  const date = new Date().toISOString().slice(0, 10);
  return {
    scenarios: list(values.scenario, SCENARIOS, 'scenario', smoke ? ['burst'] : [...SCENARIOS]),
    sizes,
    implementations: list(
      values.implementations,
      IMPLEMENTATIONS,
      'implementation',
      smoke ? ['ours', 'ceiling'] : [...DEFAULT_IMPLEMENTATIONS],
    ),
    smoke,
    json: values.json,
    // A smoke run must not litter the committed results.
    out: resolve(
      values.out ?? (smoke ? mkdtempSync(join(tmpdir(), 'vk-bench-smoke-')) : join(REPO, 'bench', 'results', date)),
    ),
    soakMs: duration('duration', values.duration, '30m'),
    churnMs: duration('churn-duration', values['churn-duration'], smoke ? '10s' : '2m'),
    timeoutMs: duration('timeout', values.timeout, smoke ? '90s' : '5m'),
    cluster,
    profile: values.profile ?? false,
    keepCluster: values['keep-cluster'] ?? false,
  };
}

function log(line: string): void {
  process.stderr.write(`[${new Date().toISOString().slice(11, 19)}] ${line}\n`);
}

function conditions(options: BenchOptions, test: TestCluster, args: string[]): Conditions {
  let commit = 'unknown';
  try {
    commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: REPO, encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--', 'src'], { cwd: REPO, encoding: 'utf8' }).trim();
    if (dirty) commit += ' + uncommitted changes in src/';
  } catch {
    // Not a git checkout: the version in package.json is all there is.
  }
  const version = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')).version as string;
  return {
    date: `${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC`,
    machine: {
      cpus: cpus().length,
      cpuModel: cpus()[0]?.model.trim() ?? 'unknown',
      memoryGiB: Math.round(totalmem() / 2 ** 30),
      loadAverage: loadavg(),
    },
    node: process.versions.node,
    kubernetes: test.info.kubernetesVersion,
    etcd: test.info.etcdVersion,
    goVirtualKubelet: options.implementations.some((i) => i.startsWith('go')) ? pinnedGoVersion() : 'not run',
    ours: `${version} (${commit})`,
    cluster:
      options.cluster === 'bench'
        ? 'a dedicated cluster for the benchmark'
        : `the shared test cluster "${test.info.name}"`,
    command: `npm run bench -- ${args.join(' ')}`.trim(),
    note: 'The machine is shared: other sessions’ builds and tests may have run at the same time.',
  };
}

/** Runs the selected scenarios; returns the summary (also written to `options.out`). */
export async function runBench(options: BenchOptions, args: string[] = []): Promise<Summary> {
  if (!existsSync(join(REPO, 'dist', 'cli', 'main.js'))) {
    throw new UsageError('the benchmark runs the build in dist/: run `npm run build` first (npm run bench does)');
  }
  if (options.implementations.some((i) => i === 'go' || i === 'go-tuned')) await ensureGoVirtualKubelet(log);
  let dedicated: LocalCluster | undefined;
  let test: TestCluster;
  if (options.cluster === 'bench') {
    log('starting (or reusing) the dedicated control plane "bench"');
    const made = await dedicatedCluster('bench');
    test = made.test;
    dedicated = made.cluster;
  } else {
    test = await testCluster();
  }
  const admin = new ApiClient(loadKubeConfig({ path: test.info.kubeconfig }), { maxSockets: 64 });
  const summary = readSummary(options.out);
  summary.conditions.push(conditions(options, test, args));
  writeOutputs(options.out, summary);
  const context: ScenarioContext = {
    cluster: test,
    admin,
    log,
    timeoutMs: options.timeoutMs,
    soakMs: options.soakMs,
    churnMs: options.churnMs,
    profile: options.profile,
    workBase: options.profile ? join(options.out, 'raw', 'processes') : undefined,
  };
  const record = (entries: { result: RunResult; raw: RawRun }[]) => {
    for (const { result, raw } of entries) recordRun(options.out, summary, result, raw);
  };
  const failures: string[] = [];
  const attempt = async (what: string, fn: () => Promise<{ result: RunResult; raw: RawRun }[]>) => {
    try {
      record(await fn());
    } catch (error) {
      const message = error instanceof Error ? (error.stack ?? error.message) : String(error);
      failures.push(`${what}: ${message.split('\n')[0]}`);
      log(`${what} failed: ${message}`);
    }
  };
  try {
    const selected = new Set(options.scenarios);
    for (const scenario of options.scenarios) {
      for (const implementation of options.implementations) {
        if (!supports(scenario, implementation)) continue;
        switch (scenario) {
          case 'burst':
            for (const size of options.sizes) {
              // The delete scenario reuses the largest burst's pods rather than creating them again.
              const withDelete = selected.has('delete') && size === Math.max(...options.sizes);
              await attempt(`burst ${size} ${implementation}`, () =>
                runBurst(context, implementation, size, { burst: true, delete: withDelete }),
              );
            }
            break;
          case 'delete':
            if (!selected.has('burst')) {
              const size = Math.max(...options.sizes);
              await attempt(`delete ${size} ${implementation}`, () =>
                runBurst(context, implementation, size, { burst: false, delete: true }),
              );
            }
            break;
          case 'scheduled':
            await attempt(`scheduled ${implementation}`, () =>
              runScheduled(context, implementation, options.smoke ? Math.min(100, ...options.sizes) : 1000),
            );
            break;
          case 'churn':
            await attempt(`churn ${implementation}`, () => runChurn(context, implementation, 50));
            break;
          case 'streaming':
            await attempt(`streaming ${implementation}`, () => runStreaming(context, implementation));
            break;
          case 'soak':
            await attempt(`soak ${implementation}`, () => runSoak(context, implementation, Math.max(...options.sizes)));
            break;
          case 'fargate':
            await attempt(`fargate ${implementation}`, () =>
              runFargate(context, implementation, options.smoke ? Math.min(50, ...options.sizes) : 500),
            );
            break;
          case 'nomad':
            // 100 pods: the two Nomad clients share this machine's two cores with everything else.
            await attempt(`nomad ${implementation}`, () =>
              runNomad(context, implementation, Math.min(100, ...options.sizes)),
            );
            break;
          case 'kubernetes':
            // 1 000 pods (the smoke run's size when smaller): a second control plane shares the cores.
            await attempt(`kubernetes ${implementation}`, () =>
              runKubernetes(context, implementation, Math.min(1000, ...options.sizes)),
            );
            break;
        }
      }
    }
  } finally {
    await stopBenchCollector(log);
    admin.close();
    if (dedicated && !options.keepCluster) {
      log('stopping the dedicated control plane "bench"');
      await dedicated.down();
    }
  }
  const last = summary.conditions.at(-1);
  if (last) last.machine.loadAverage = [...last.machine.loadAverage, ...loadavg()].slice(0, 3);
  writeOutputs(options.out, summary);
  if (options.json) writeFileSync(options.json, `${JSON.stringify(summary, null, 2)}\n`);
  log(`results in ${options.out}/results.md`);
  if (failures.length > 0) throw new Error(`${failures.length} run(s) failed:\n${failures.join('\n')}`);
  return summary;
}

if (import.meta.main) {
  const args = process.argv.slice(2);
  let options: BenchOptions;
  try {
    options = parseOptions(args);
  } catch (error) {
    if (error instanceof UsageError || (error as NodeJS.ErrnoException).code?.startsWith('ERR_PARSE_ARGS')) {
      if ((error as Error).message) process.stderr.write(`bench: ${(error as Error).message}\n`);
      process.stderr.write(
        'usage: npm run bench -- [--scenario burst,scheduled,churn,delete,streaming,soak,fargate,nomad,kubernetes] [--sizes 100,1000,10000]\n' +
          '         [--implementations ours,go,go-tuned,ceiling] [--smoke] [--json FILE] [--out DIR] [--duration 30m]\n' +
          '         [--churn-duration 2m] [--timeout 5m] [--cluster bench|shared] [--profile] [--keep-cluster]\n',
      );
      process.exit(2);
    }
    throw error;
  }
  runBench(options, args).then(
    () => process.exit(0),
    (error: unknown) => {
      process.stderr.write(`bench: ${error instanceof Error ? error.message : String(error)}\n`);
      process.exit(1);
    },
  );
}
