/**
 * The run's outputs: `summary.json` (small, meant to be committed), `raw/<run>.json` (per-pod data,
 * git-ignored), `results.md` (the tables, the ratios against the baselines and the verdict on the
 * targets of issue #6) and one SVG plot per scenario and size.
 *
 * Runs are merged into the summary already in the directory (a later run of the same scenario,
 * size and implementation replaces the earlier one), so a suite can be run in parts.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ImplementationName } from './baselines.ts';
import { renderPlot } from './plot.ts';
import type { RawRun, RunResult, ScenarioName } from './scenarios/index.ts';

/** Where and on what the numbers were taken. */
export interface Conditions {
  date: string;
  machine: { cpus: number; cpuModel: string; memoryGiB: number; loadAverage: number[] };
  node: string;
  kubernetes: string;
  etcd: string;
  goVirtualKubelet: string;
  ours: string;
  cluster: string;
  command: string;
  /** Anything that shared the machine while the numbers were taken. */
  note: string;
}

export interface Summary {
  conditions: Conditions[];
  runs: RunResult[];
}

export function runKey(run: Pick<RunResult, 'scenario' | 'size' | 'implementation'>): string {
  return `${run.scenario}-${run.size}-${run.implementation}`;
}

/** Reads the summary of an output directory, or an empty one. */
export function readSummary(dir: string): Summary {
  const path = join(dir, 'summary.json');
  if (!existsSync(path)) return { conditions: [], runs: [] };
  return JSON.parse(readFileSync(path, 'utf8')) as Summary;
}

/** Adds a run (replacing one with the same key) and its raw data; rewrites every output. */
export function recordRun(dir: string, summary: Summary, result: RunResult, raw: RawRun): void {
  mkdirSync(join(dir, 'raw'), { recursive: true });
  writeFileSync(join(dir, 'raw', `${runKey(result)}.json`), JSON.stringify(raw));
  const index = summary.runs.findIndex((r) => runKey(r) === runKey(result));
  if (index >= 0) summary.runs[index] = result;
  else summary.runs.push(result);
  writeOutputs(dir, summary);
}

const ORDER: ScenarioName[] = [
  'burst',
  'scheduled',
  'churn',
  'delete',
  'streaming',
  'soak',
  'fargate',
  'nomad',
  'kubernetes',
];
const IMPLEMENTATION_ORDER: ImplementationName[] = [
  'ours',
  'ours-baseline',
  'ours-tuned',
  'ours-traced',
  'go',
  'go-tuned',
  'ceiling',
];

function sortRuns(runs: RunResult[]): RunResult[] {
  return [...runs].sort(
    (a, b) =>
      ORDER.indexOf(a.scenario) - ORDER.indexOf(b.scenario) ||
      a.size - b.size ||
      IMPLEMENTATION_ORDER.indexOf(a.implementation) - IMPLEMENTATION_ORDER.indexOf(b.implementation),
  );
}

/** Writes summary.json, results.md and the plots. */
export function writeOutputs(dir: string, summary: Summary): void {
  mkdirSync(dir, { recursive: true });
  summary.runs = sortRuns(summary.runs);
  writeFileSync(join(dir, 'summary.json'), `${JSON.stringify(summary, null, 2)}\n`);
  const plots = writePlots(dir, summary);
  writeFileSync(join(dir, 'results.md'), renderMarkdown(summary, plots));
}

function writePlots(dir: string, summary: Summary): string[] {
  const groups = new Map<string, RunResult[]>();
  for (const run of summary.runs) {
    if (run.scenario === 'streaming') continue;
    const key = `${run.scenario}-${run.size}`;
    groups.set(key, [...(groups.get(key) ?? []), run]);
  }
  const files: string[] = [];
  for (const [key, runs] of groups) {
    const series = runs.flatMap((run) => {
      const path = join(dir, 'raw', `${runKey(run)}.json`);
      if (!existsSync(path)) return [];
      const raw = JSON.parse(readFileSync(path, 'utf8')) as RawRun;
      const label = run.completed ? run.implementation : `${run.implementation} (${run.done}/${run.pods})`;
      return [{ label, latenciesMs: raw.latenciesMs, doneAtMs: raw.doneAtMs }];
    });
    if (series.length === 0) continue;
    const first = runs[0] as RunResult;
    const file = `plot-${key}.svg`;
    writeFileSync(
      join(dir, file),
      renderPlot(
        `${first.scenario}, ${first.size}${first.scenario === 'churn' ? ' pods/s' : ' pods'}`,
        first.latency.replace(/ seen by watch| \(watch\)/g, ''),
        series,
      ),
    );
    files.push(file);
  }
  return files;
}

const MiB = 2 ** 20;

function fmt(value: number, digits = 0): string {
  if (!Number.isFinite(value)) return '–';
  return value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

function fmtMs(value: number): string {
  if (value >= 10_000) return `${fmt(value / 1000, 0)} s`;
  if (value >= 1000) return `${fmt(value / 1000, 1)} s`;
  return `${fmt(value, 0)} ms`;
}

/** The implementation's own count when it has one; otherwise the API server's (marked *), which includes the controllers. */
function requestsCell(run: RunResult): string {
  if (!run.requests.kubelet) return `* ${verbs(run.requests.others)}`;
  const throttled = Object.values(run.requests.kubeletThrottled ?? {}).reduce((a, b) => a + b, 0);
  return `${verbs(run.requests.kubelet)}${throttled > 0 ? ` (+${fmt(throttled)} answered 429)` : ''}`;
}

function verbs(requests: Record<string, number>): string {
  return Object.entries(requests)
    .filter(([verb]) => verb !== 'WATCH')
    .sort((a, b) => b[1] - a[1])
    .map(([verb, count]) => `${verb} ${fmt(count)}`)
    .join(', ');
}

function find(summary: Summary, scenario: ScenarioName, size: number, implementation: ImplementationName) {
  return summary.runs.find((r) => r.scenario === scenario && r.size === size && r.implementation === implementation);
}

function ratio(a: number | undefined, b: number | undefined): string {
  if (a === undefined || b === undefined || b === 0) return '–';
  return `${fmt(a / b, 2)}×`;
}

/** The verdicts on issue #6's targets, from whatever runs the summary holds. */
export function targets(summary: Summary): { target: string; measured: string; met: boolean | undefined }[] {
  const rows: { target: string; measured: string; met: boolean | undefined }[] = [];
  const burst10k = find(summary, 'burst', 10_000, 'ours');
  rows.push({
    target: '10 000 pods Running in ≤ 60 s (burst)',
    measured: burst10k ? `${fmt(burst10k.totalSeconds, 1)} s (${burst10k.done}/${burst10k.pods})` : 'not run',
    met: burst10k ? burst10k.completed && burst10k.totalSeconds <= 60 : undefined,
  });
  for (const [baseline, threshold, label] of [
    ['go', 2, '≥ 2× the Go implementation’s throughput (out of the box)'],
    ['ceiling', 0.8, '≥ 80 % of the ceiling’s throughput'],
  ] as const) {
    const sizes = [...new Set(summary.runs.filter((r) => r.scenario === 'burst').map((r) => r.size))].sort(
      (a, b) => b - a,
    );
    const size = sizes.find((s) => find(summary, 'burst', s, 'ours') && find(summary, 'burst', s, baseline));
    const ours = size === undefined ? undefined : find(summary, 'burst', size, 'ours');
    const other = size === undefined ? undefined : find(summary, 'burst', size, baseline);
    const value = ours && other && other.podsPerSecond > 0 ? ours.podsPerSecond / other.podsPerSecond : undefined;
    rows.push({
      target: label,
      measured:
        value === undefined || !ours || !other
          ? 'not run'
          : `${fmt(value, 2)}× at burst ${fmt(size ?? 0)} (${fmt(ours.podsPerSecond, 1)} vs ${fmt(other.podsPerSecond, 1)} pods/s)`,
      met: value === undefined ? undefined : value >= threshold,
    });
  }
  const churn = summary.runs.find((r) => r.scenario === 'churn' && r.implementation === 'ours');
  rows.push({
    target: 'churn at 50 pods/s: p99 create→Running ≤ 1 s',
    measured: churn ? `p99 ${fmtMs(churn.latencyMs.p99)}, max lag ${churn.extra.lagMax} pods` : 'not run',
    met: churn ? churn.latencyMs.p99 <= 1000 && churn.done === churn.pods : undefined,
  });
  const soak = summary.runs.find((r) => r.scenario === 'soak' && r.implementation === 'ours');
  const rssRuns = [burst10k, soak].filter((r): r is RunResult => r !== undefined && r.size >= 10_000);
  const peak = rssRuns.length > 0 ? Math.max(...rssRuns.map((r) => r.peakRssBytes)) : undefined;
  rows.push({
    target: 'RSS ≤ 200 MB with 10 000 pods',
    measured: peak === undefined ? 'not run' : `peak ${fmt(peak / 1e6)} MB (${fmt(peak / MiB)} MiB)`,
    met: peak === undefined ? undefined : peak <= 200e6,
  });
  rows.push({
    target: 'RSS growth over the soak ≤ 5 %',
    measured: soak
      ? `${soak.extra.rssStartMiB} → ${soak.extra.rssEndMiB} MiB (${soak.extra.rssGrowthPercent} %) over ${fmt(soak.totalSeconds / 60, 0)} min${soak.totalSeconds < 29 * 60 ? ' (shortened from 30)' : ''}`
      : 'not run',
    met: soak ? Number(soak.extra.rssGrowthPercent) <= 5 : undefined,
  });
  return rows;
}

/** The results table alone (what bench/README.md quotes). */
export function renderTable(summary: Summary): string {
  const lines = [
    '| scenario | N | implementation | done | total | pods/s | p50 | p90 | p99 | max | peak RSS | CPU | API requests it sent (* the API server’s count: the VK and the controllers) |',
    '|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|',
  ];
  for (const run of summary.runs) {
    if (run.scenario === 'streaming') continue;
    const l = run.latencyMs;
    lines.push(
      `| ${run.scenario} | ${fmt(run.size)}${run.scenario === 'churn' ? '/s' : ''} | ${run.implementation} | ${fmt(run.done)}/${fmt(run.pods)}${run.completed ? '' : ' ⚠'} | ${fmt(run.totalSeconds, 1)} s | ${fmt(run.podsPerSecond, 1)} | ${fmtMs(l.p50)} | ${fmtMs(l.p90)} | ${fmtMs(l.p99)} | ${fmtMs(l.max)} | ${fmt(run.peakRssBytes / MiB)} MiB | ${fmt(run.cpuSeconds, 1)} s | ${requestsCell(run)} |`,
    );
  }
  return `${lines.join('\n')}\n`;
}

function renderRatios(summary: Summary): string {
  const lines = [
    '| scenario | N | ours pods/s | ours / go | ours / go-tuned | ours / ceiling | ours-tuned / ceiling | p99: go / ours | p99: ours / ceiling |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|',
  ];
  const groups = new Set(
    summary.runs
      .filter((r) => r.scenario !== 'streaming' && r.scenario !== 'soak')
      .map((r) => `${r.scenario}|${r.size}`),
  );
  for (const group of groups) {
    const [scenario, sizeText] = group.split('|') as [ScenarioName, string];
    const size = Number(sizeText);
    const ours = find(summary, scenario, size, 'ours');
    if (!ours) continue;
    const go = find(summary, scenario, size, 'go');
    const tuned = find(summary, scenario, size, 'go-tuned');
    const ceiling = find(summary, scenario, size, 'ceiling');
    const oursTuned = find(summary, scenario, size, 'ours-tuned');
    lines.push(
      `| ${scenario} | ${fmt(size)}${scenario === 'churn' ? '/s' : ''} | ${fmt(ours.podsPerSecond, 1)} | ${ratio(ours.podsPerSecond, go?.podsPerSecond)} | ${ratio(ours.podsPerSecond, tuned?.podsPerSecond)} | ${ratio(ours.podsPerSecond, ceiling?.podsPerSecond)} | ${ratio(oursTuned?.podsPerSecond, ceiling?.podsPerSecond)} | ${ratio(go?.latencyMs.p99, ours.latencyMs.p99)} | ${ratio(ours.latencyMs.p99, ceiling?.latencyMs.p99)} |`,
    );
  }
  return `${lines.join('\n')}\n`;
}

function renderStreaming(summary: Summary): string {
  const runs = summary.runs.filter((r) => r.scenario === 'streaming');
  if (runs.length === 0) return '';
  const lines = [
    '| implementation | `kubectl exec … echo x` p50 | exec session round trip p50 / p99 | exec stdin→stdout MB/s | logs request p50 (bytes) | port-forward MB/s | port-forward round trip p50 | notes |',
    '|---|---:|---:|---:|---:|---:|---:|---|',
  ];
  for (const run of runs) {
    const e = run.extra;
    lines.push(
      `| ${run.implementation} | ${e.execOnceP50Ms} ms (output \`${e.execOnceOutput}\`) | ${e.execRttP50Ms} / ${e.execRttP99Ms} ms | ${e.execMBps} | ${e.logsP50Ms} ms (${e.logsBytesPerRequest} B) | ${e.portForwardMBps} | ${e.portForwardRttP50Ms} ms | ${run.notes.join('; ').replace(/\|/g, '\\|')} |`,
    );
  }
  return `${lines.join('\n')}\n`;
}

function renderExtras(summary: Summary): string {
  const lines: string[] = [];
  for (const run of summary.runs) {
    if (run.scenario === 'streaming') continue;
    const extra = Object.entries(run.extra)
      .filter(([key]) => key !== 'heapSnapshot')
      .map(([key, value]) => `${key} ${value}`)
      .join(', ');
    const cp = Object.entries(run.controlPlaneCpuSeconds)
      .map(([name, cpu]) => `${name} ${cpu} s`)
      .join(', ');
    lines.push(
      `- **${run.scenario} ${fmt(run.size)} ${run.implementation}**: ${extra}${extra ? '; ' : ''}control-plane CPU: ${cp}. ${run.notes.join(' ')}`,
    );
  }
  return `${lines.join('\n')}\n`;
}

function renderMarkdown(summary: Summary, plots: string[]): string {
  const out: string[] = [];
  const date = summary.conditions[0]?.date ?? new Date().toISOString().slice(0, 10);
  out.push(`# Benchmark results, ${date}\n`);
  out.push('Generated by `npm run bench`; see [bench/README.md](../../README.md) for what each scenario does.\n');
  out.push('## Conditions\n');
  for (const c of summary.conditions) {
    out.push(
      `- ${c.date}: ${c.machine.cpus} cores (${c.machine.cpuModel}), ${c.machine.memoryGiB} GiB, load average at start ${c.machine.loadAverage.map((l) => l.toFixed(2)).join(' ')}; ` +
        `Node ${c.node}; Kubernetes ${c.kubernetes}, etcd ${c.etcd} (control plane on the same machine, ${c.cluster}); ` +
        `Go virtual-kubelet ${c.goVirtualKubelet}; ours ${c.ours}. Command: \`${c.command}\`. ${c.note}`,
    );
  }
  out.push('');
  out.push('## Targets (issue #6)\n');
  out.push('| target | measured | met |', '|---|---|---|');
  for (const row of targets(summary)) {
    out.push(`| ${row.target} | ${row.measured} | ${row.met === undefined ? '–' : row.met ? 'yes' : '**no**'} |`);
  }
  out.push('');
  out.push('## Results\n');
  out.push(
    'Latency percentiles are of the pods that reached the goal; ⚠ marks a run that hit its timeout (its pods/s is what it reached by then). ' +
      'pods/s = pods that reached the goal / total time. Peak RSS is VmHWM of the process, CPU its user+system seconds during the run. ' +
      'API requests: what the implementation counted itself sending (ours: its `rest_client_requests_total`; the ceiling: its own counters; 429 answers apart; watches left out). ' +
      'Marked *: `apiserver_request_total` during the run minus the benchmark’s own requests (the virtual kubelet plus the controllers and, on a shared cluster, every other client), for an implementation that does not count its own.\n',
  );
  out.push(renderTable(summary));
  out.push('## Ratios\n');
  out.push('Throughput ratios (higher is better for ours) and p99 latency ratios, same run and control plane.\n');
  out.push(renderRatios(summary));
  const streaming = renderStreaming(summary);
  if (streaming) {
    out.push('## Streaming (through the API server, with kubectl)\n');
    out.push(streaming);
  }
  out.push('## Details per run\n');
  out.push(renderExtras(summary));
  if (plots.length > 0) {
    out.push('## Plots\n');
    for (const file of plots) out.push(`![${file}](${file})\n`);
  }
  return `${out.join('\n')}\n`;
}
