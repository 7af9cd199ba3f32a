/**
 * `npm start` as a new user runs it: the real command in a process group of its own (as a
 * terminal runs it), the lines it prints pasted into a shell as printed, a pod Running on the
 * node it started (in Podman when Podman can run here), its logs through `kubectl logs`, then
 * Ctrl-C (SIGINT to the whole group) and no process left behind — neither the control plane, the
 * Podman service, the virtual kubelet, nor the pod's containers.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { LocalCluster } from '../../tools/kube/cluster.ts';
import { podmanRunDir } from '../../tools/podman/service.ts';
import { podmanSkipReason } from '../../tools/podman/testing.ts';
import { waitFor } from '../support/wait.ts';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
/** Cluster, Podman store and node of this test's own, beside any `npm start` of the user's. */
const NAME = 'e2e-start';

interface ProcessIdentity {
  pid: number;
  /** Start time in clock ticks since boot: a reused pid is another process. */
  startTime: string;
  cmdline: string;
}

function readProcess(pid: number): (ProcessIdentity & { ppid: number; state: string }) | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name is in parentheses and may hold spaces: fields start after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ').trim();
    return { pid, state: fields[0] ?? '', ppid: Number(fields[1]), startTime: fields[19] ?? '', cmdline };
  } catch {
    return undefined;
  }
}

function allProcesses() {
  return readdirSync('/proc')
    .filter((entry) => /^\d+$/.test(entry))
    .map((entry) => readProcess(Number(entry)))
    .filter((p) => p !== undefined);
}

/**
 * Everything `npm start` runs: its descendants (the control plane and the virtual kubelet are
 * detached, but still its children), and the containers' conmon processes (Podman daemonizes them
 * under init) with theirs.
 */
function processesOf(rootPid: number, podmanRun: string): ProcessIdentity[] {
  const processes = allProcesses();
  const roots = new Set([rootPid]);
  for (const p of processes)
    if (p.cmdline.startsWith('/usr/bin/conmon') && p.cmdline.includes(podmanRun)) roots.add(p.pid);
  const found = new Map<number, ProcessIdentity>();
  let grew = true;
  while (grew) {
    grew = false;
    for (const p of processes) {
      if (found.has(p.pid) || !(roots.has(p.pid) || found.has(p.ppid))) continue;
      found.set(p.pid, { pid: p.pid, startTime: p.startTime, cmdline: p.cmdline });
      grew = true;
    }
  }
  return [...found.values()];
}

function stillRunning(identity: ProcessIdentity): boolean {
  const now = readProcess(identity.pid);
  return now !== undefined && now.startTime === identity.startTime && now.state !== 'Z';
}

function bash(script: string, timeoutMs = 60_000): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolveRun) => {
    execFile('bash', ['-c', script], { timeout: timeoutMs }, (error, stdout, stderr) => {
      resolveRun({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr });
    });
  });
}

let npmStart: ChildProcess | undefined;

after(() => {
  // A failed assertion must not leave the group running.
  if (npmStart?.pid && npmStart.exitCode === null && npmStart.signalCode === null) {
    try {
      process.kill(-npmStart.pid, 'SIGKILL');
    } catch {
      // the group is gone already
    }
  }
});

test('npm start: the printed commands run a pod on the node; Ctrl-C leaves no process behind', async () => {
  // A cluster left by an earlier, killed run would be reused, and then (rightly) not stopped.
  await new LocalCluster(NAME).down();
  const env: NodeJS.ProcessEnv = { ...process.env, VK_START_NAME: NAME };
  for (const key of ['VK_CLUSTER_DIR', 'KUBECONFIG', 'VK_TEST_KUBECONFIG', 'VK_TEST_CLUSTER']) delete env[key];
  const child = spawn('npm', ['start'], { cwd: REPO, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  npmStart = child;
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolveExit) =>
    child.once('exit', (code, signal) => resolveExit({ code, signal })),
  );

  // Fifteen minutes: on a machine without the cache it builds Kubernetes first.
  await waitFor(
    'npm start to print its instructions',
    () => {
      if (child.exitCode !== null) throw new Error(`npm start exited ${child.exitCode}:\n${stdout}\n${stderr}`);
      return stdout.includes('Press Ctrl-C');
    },
    { timeoutMs: 15 * 60_000, intervalMs: 200 },
  );
  for (let step = 1; step <= 5; step++) assert.match(stdout, new RegExp(`^\\[${step}/5\\] `, 'm'), 'a line per step');
  const provider = podmanSkipReason() ? 'mock' : 'podman';
  assert.match(stdout, new RegExp(`The virtual node vk-${NAME} is Ready \\(provider ${provider}\\)`));

  // The indented block, pasted into a shell as printed.
  const printed = stdout
    .slice(stdout.indexOf('In another terminal:'))
    .split('\n')
    .filter((line) => line.startsWith('  '))
    .map((line) => line.trim());
  const exports = printed.filter((line) => line.startsWith('export '));
  assert.ok(
    exports.some((line) => line.startsWith('export KUBECONFIG=')),
    stdout,
  );
  const apply = printed.find((line) => line.startsWith('kubectl apply'));
  const get = printed.find((line) => line.startsWith('kubectl get pod'));
  const logs = printed.find((line) => line.startsWith('kubectl logs'));
  assert.ok(apply && get && logs, `kubectl apply, get and logs lines expected:\n${stdout}`);
  const shell = (line: string) => bash(`set -e; ${exports.join('; ')}; cd /; ${line}`);

  const applied = await shell(apply);
  assert.equal(applied.code, 0, applied.stderr);
  assert.match(applied.stdout, /pod\/hello (created|configured|unchanged)/);
  await waitFor(
    'pod hello Running on the node, as `kubectl get pod` shows it',
    async () => {
      const shown = await shell(get);
      return shown.code === 0 && new RegExp(`^hello\\s+1/1\\s+Running\\s.*\\svk-${NAME}\\s`, 'm').test(shown.stdout);
    },
    { timeoutMs: 90_000, intervalMs: 500 },
  );
  // `kubectl logs -f` follows forever: the first line is enough.
  const logged = await shell(`timeout 30 ${logs} | head -n 1`);
  assert.match(logged.stdout, provider === 'podman' ? /^hello 1$/m : /\S/);

  const before = processesOf(child.pid as number, podmanRunDir(NAME));
  const names = before.map((p) => p.cmdline).join('\n');
  for (const part of ['etcd', 'kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'virtual-kubelet.js']) {
    assert.ok(names.includes(part), `${part} should be among npm start's processes:\n${names}`);
  }
  if (provider === 'podman') {
    assert.match(names, /podman .*system service/);
    assert.match(names, /conmon .*k8s_default_hello_/, "the pod's container");
  }

  // Ctrl-C in the terminal: SIGINT to the foreground process group.
  process.kill(-(child.pid as number), 'SIGINT');
  // npm waits for the script, then ends by the signal it got (the shell's convention).
  const exit = await exited;
  assert.ok(
    exit.code === 0 || exit.signal === 'SIGINT',
    `npm start ended ${JSON.stringify(exit)}:\n${stdout}\n${stderr}`,
  );
  assert.doesNotMatch(stderr, /npm start: /, 'no error while stopping');
  assert.match(stdout, /stopped the virtual kubelet/);
  assert.match(stdout, /stopped the control plane/);
  await waitFor('every process npm start started to be gone', () => before.every((p) => !stillRunning(p)), {
    timeoutMs: 20_000,
    intervalMs: 200,
  }).catch(() => {
    const left = before.filter(stillRunning).map((p) => `${p.pid} ${p.cmdline.slice(0, 160)}`);
    assert.fail(`left behind after Ctrl-C:\n${left.join('\n')}`);
  });
  assert.equal(existsSync(join(REPO, '.cluster', NAME)), false, "the cluster's state directory is removed");
});
