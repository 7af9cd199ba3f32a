/**
 * Summarises a V8 CPU profile (`node --cpu-prof`, as `npm run bench -- --profile` writes for ours):
 * self time by area (our code, each dependency, Node's internals, garbage collection, idle) and
 * the hottest functions.
 *
 * `node bench/profile.ts FILE.cpuprofile [--top 25]`
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

/** Self time in milliseconds per area and per function. */
export interface ProfileSummary {
  totalMs: number;
  areas: [string, number][];
  functions: [string, number][];
}

/** Which part of the program a frame belongs to. */
export function areaOf(frame: CallFrame): string {
  const { url, functionName } = frame;
  if (functionName === '(garbage collector)') return 'garbage collection';
  if (functionName === '(idle)') return 'idle';
  if (functionName === '(program)') return 'V8/native (program)';
  if (url.startsWith('node:')) return `node:${url.slice(5).split('/')[0]}`;
  const dependency = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url)?.[1];
  if (dependency) return `dependency ${dependency}`;
  const ours = /\/(?:dist|src)\/(.+?)\.[jt]s$/.exec(url)?.[1];
  if (ours) return `ours ${ours.split('/').slice(0, -1).join('/') || ours}`;
  return url ? 'other' : 'native';
}

export function summarise(profile: CpuProfile, top: number): ProfileSummary {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const selfMs = new Map<number, number>();
  profile.samples.forEach((id, i) => {
    selfMs.set(id, (selfMs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0) / 1000);
  });
  const areas = new Map<string, number>();
  const functions = new Map<string, number>();
  for (const [id, ms] of selfMs) {
    const frame = byId.get(id)?.callFrame;
    if (!frame) continue;
    const area = areaOf(frame);
    areas.set(area, (areas.get(area) ?? 0) + ms);
    const where = frame.url
      ? `${frame.url.replace(/^.*\/(dist|src|node_modules)\//, '$1/')}:${frame.lineNumber + 1}`
      : '';
    const name = `${frame.functionName || '(anonymous)'} ${where}`.trim();
    functions.set(name, (functions.get(name) ?? 0) + ms);
  }
  const sorted = (m: Map<string, number>) => [...m.entries()].sort((a, b) => b[1] - a[1]);
  return {
    totalMs: (profile.endTime - profile.startTime) / 1000,
    areas: sorted(areas),
    functions: sorted(functions).slice(0, top),
  };
}

if (import.meta.main) {
  const { values, positionals } = parseArgs({ options: { top: { type: 'string' } }, allowPositionals: true });
  const file = positionals[0];
  if (!file) {
    process.stderr.write('usage: node bench/profile.ts FILE.cpuprofile [--top 25]\n');
    process.exit(2);
  }
  const summary = summarise(JSON.parse(readFileSync(file, 'utf8')) as CpuProfile, Number(values.top ?? 25));
  const busy = summary.areas.filter(([area]) => area !== 'idle').reduce((total, [, ms]) => total + ms, 0);
  process.stdout.write(
    `wall ${(summary.totalMs / 1000).toFixed(1)} s, busy ${(busy / 1000).toFixed(1)} s\n\nself time by area:\n`,
  );
  for (const [area, ms] of summary.areas) {
    const share = area === 'idle' ? '' : ` (${((ms / busy) * 100).toFixed(1)} % of busy)`;
    process.stdout.write(`  ${(ms / 1000).toFixed(2).padStart(8)} s  ${area}${share}\n`);
  }
  process.stdout.write('\nhottest functions (self time):\n');
  for (const [name, ms] of summary.functions) {
    process.stdout.write(
      `  ${(ms / 1000).toFixed(2).padStart(8)} s  ${((ms / busy) * 100).toFixed(1).padStart(5)} %  ${name}\n`,
    );
  }
}
