import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { appendFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { Pod } from 'kubernetes-types/core/v1.js';
import { ConfigError } from '../../errors.ts';
import { MockProvider } from './mock-provider.ts';
import { MockStateFile, readMockState } from './state-file.ts';

const signal = new AbortController().signal;

function pod(name: string): Pod {
  return {
    metadata: { name, namespace: 'default', uid: `uid-${name}` },
    spec: { containers: [{ name: 'c', image: 'busybox' }] },
  };
}

function provider(stateFile: string): MockProvider {
  return new MockProvider({
    nodeName: 'n',
    config: { cpu: '1', memory: '1Gi', pods: '10', others: {}, stateFile },
  });
}

test('a created pod is in the state file when createPod returns, a deleted one is gone when deletePod returns', async () => {
  const stateFile = join(mkdtempSync(join(tmpdir(), 'mock-state-')), 'state.json');
  const mock = provider(stateFile);
  await mock.createPod(pod('a'), { signal });
  // Read at once: no timer has had a chance to run.
  assert.deepEqual([...readMockState(stateFile).keys()], ['default/a']);
  await mock.deletePod(pod('a'), { signal });
  assert.deepEqual([...readMockState(stateFile).keys()], []);
  assert.deepEqual([...provider(stateFile).pods.keys()], []);
});

test('a pod acknowledged just before SIGKILL is known after the restart', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mock-state-'));
  const stateFile = join(dir, 'state.json');
  const script = `
    import { MockProvider } from ${JSON.stringify(new URL('./mock-provider.ts', import.meta.url).href)};
    const mock = new MockProvider({ nodeName: 'n', config: { cpu: '1', memory: '1Gi', pods: '10', others: {}, stateFile: ${JSON.stringify(stateFile)} } });
    const signal = new AbortController().signal;
    for (let i = 0; i < 20; i++) {
      await mock.createPod({ metadata: { name: 'p' + i, namespace: 'default', uid: 'u' + i }, spec: { containers: [{ name: 'c' }] } }, { signal });
    }
    process.kill(process.pid, 'SIGKILL');
  `;
  const child = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
  assert.equal(child.signal, 'SIGKILL', child.stderr);
  const restarted = provider(stateFile);
  assert.equal(restarted.pods.size, 20);
  assert.equal(restarted.pods.get('default/p19')?.status?.phase, 'Running');
});

test('the journal is compacted to one line per pod when it grows', () => {
  const stateFile = join(mkdtempSync(join(tmpdir(), 'mock-state-')), 'state.json');
  const journal = new MockStateFile(stateFile);
  const pods = journal.load();
  const kept = pod('kept');
  pods.set('default/kept', kept);
  journal.set(kept, pods);
  for (let i = 0; i < 3000; i++) {
    const churn = pod(`churn-${i}`);
    pods.set(`default/churn-${i}`, churn);
    journal.set(churn, pods);
    pods.delete(`default/churn-${i}`);
    journal.delete(`default/churn-${i}`, pods);
  }
  const lines = readFileSync(stateFile, 'utf8').split('\n').filter(Boolean).length;
  assert.ok(lines <= 1003, `${lines} lines for 1 pod`);
  assert.deepEqual([...readMockState(stateFile).keys()], ['default/kept']);
});

test('a last line cut short by a kill mid-write is ignored; damage elsewhere is a ConfigError', () => {
  const stateFile = join(mkdtempSync(join(tmpdir(), 'mock-state-')), 'state.json');
  writeFileSync(stateFile, `${JSON.stringify({ set: pod('a') })}\n`);
  appendFileSync(stateFile, '{"set": {"metadata": {"na');
  assert.deepEqual([...readMockState(stateFile).keys()], ['default/a']);
  writeFileSync(stateFile, `not json\n${JSON.stringify({ set: pod('a') })}\n`);
  assert.throws(
    () => readMockState(stateFile),
    (error) => error instanceof ConfigError && /line 1/.test(error.message),
  );
  writeFileSync(stateFile, `${JSON.stringify({ other: 1 })}\n`);
  assert.throws(() => readMockState(stateFile), ConfigError);
});
