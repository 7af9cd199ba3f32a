/**
 * Keeps the benchmark suite working: `npm run bench -- --smoke` (100 pods, burst only, ours and the
 * ceiling, on the shared test cluster) must finish and report sane numbers. Not a timed test: the
 * thresholds are what any working run meets, however loaded the machine.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { Summary } from '../../bench/report.ts';
import { testCluster } from '../../tools/kube/testing.ts';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const out = mkdtempSync(join(tmpdir(), 'vk-bench-smoke-test-'));

after(() => rmSync(out, { recursive: true, force: true }));

test('npm run bench -- --smoke runs 100 pods through ours and the ceiling and reports them', {
  timeout: 240_000,
}, async () => {
  // The benchmark runs the build; `npm test` builds before the e2e tests.
  assert.ok(existsSync(join(REPO, 'dist', 'cli', 'main.js')), 'run `npm run build` first');
  const cluster = await testCluster();
  const json = join(out, 'summary-copy.json');
  const { code, stderr } = await new Promise<{ code: number; stderr: string }>((resolveRun) => {
    execFile(
      process.execPath,
      [join(REPO, 'bench', 'run.ts'), '--smoke', '--json', json, '--out', out],
      {
        cwd: REPO,
        timeout: 200_000,
        maxBuffer: 16 * 1024 * 1024,
        env: { ...process.env, VK_TEST_KUBECONFIG: cluster.info.kubeconfig, VK_TEST_CLUSTER: cluster.info.name },
      },
      (error, _stdout, stderrText) =>
        resolveRun({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stderr: stderrText }),
    );
  });
  assert.equal(code, 0, `bench --smoke failed:\n${stderr.slice(-4000)}`);
  assert.match(stderr, /burst 100 ours: 100\/100 Running/, 'progress is reported on stderr');

  const summary = JSON.parse(readFileSync(json, 'utf8')) as Summary;
  assert.deepEqual(JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8')), summary);
  assert.deepEqual(
    summary.runs.map((r) => `${r.scenario} ${r.size} ${r.implementation}`),
    ['burst 100 ours', 'burst 100 ceiling'],
  );
  for (const run of summary.runs) {
    const what = `${run.implementation}: ${JSON.stringify(run)}`;
    assert.equal(run.completed, true, what);
    assert.equal(run.done, 100, what);
    assert.equal(run.latencyMs.count, 100, what);
    assert.ok(run.latencyMs.p50 > 0, what);
    assert.ok(run.latencyMs.p50 <= run.latencyMs.p90 && run.latencyMs.p90 <= run.latencyMs.p99, what);
    assert.ok(run.latencyMs.p99 <= run.latencyMs.max, what);
    assert.ok(run.totalSeconds > 0 && run.podsPerSecond > 0, what);
    assert.ok(run.peakRssBytes > 10 * 2 ** 20, what);
    assert.ok(run.cpuSeconds > 0, what);
    // What the implementation itself sent (its own counters), not the API server's totals: on a
    // shared cluster those include every other client (kube-controller-manager patches the status
    // of pods on nodes other tests left NotReady).
    const own = run.requests.kubeletDetail;
    assert.ok(own, `the implementation counts its own requests: ${what}`);
    // Exactly one status write per pod: the API's echo of a status must not be written again.
    assert.equal(own['PATCH pods/status'], 100, `one status write per pod: ${what}`);
    // A pod of its own node's is never created or deleted by a virtual kubelet in a burst.
    assert.equal(own['POST pods'], undefined, what);
    assert.equal(own['DELETE pods'], undefined, what);
    assert.ok((run.requests.benchmark.POST ?? 0) >= 100, `the benchmark's creates are counted: ${what}`);
  }
  const markdown = readFileSync(join(out, 'results.md'), 'utf8');
  assert.match(markdown, /\| burst \| 100 \| ours \| 100\/100 \|/);
  const svg = readFileSync(join(out, 'plot-burst-100.svg'), 'utf8');
  assert.match(svg, /^<svg [^>]*xmlns="http:\/\/www.w3.org\/2000\/svg"/);
  assert.match(svg, /<path d="M[\d.]+,[\d.]+L/);
});
