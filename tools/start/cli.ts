/**
 * `npm start`: the whole thing on this machine in one command, in the foreground.
 *
 *   1. build the package unless dist/ is current (what runs is bin/virtual-kubelet.js over dist/, as published)
 *   2. bring up the local control plane (tools/kube; Kubernetes is built from source the first
 *      time — minutes — and cached)
 *   3. credentials: the least-privilege ServiceAccount of deploy/rbac.yaml
 *   4. the backend: a Podman service of its own (tools/podman) when Podman and runc are here,
 *      else the mock provider
 *   5. the virtual node, until it is Ready
 *
 * then prints what to paste into another terminal, and waits. Ctrl-C (SIGINT), SIGTERM or SIGHUP stops what it
 * started, in reverse: the virtual kubelet, the pods it ran in Podman, the Podman service, and the
 * control plane — unless that was already running before, in which case it is left as found.
 *
 * `VK_START_NAME` (default `start`) names the cluster, the Podman store and the node (`vk-<name>`),
 * so a test can run its own beside a user's.
 */
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Node } from 'kubernetes-types/core/v1.js';
import { errorMessage } from '../../src/errors.ts';
import { KubeClient } from '../../src/kube/client.ts';
import { loadKubeConfig } from '../../src/kube/kubeconfig.ts';
import { Nodes } from '../../src/kube/resources.ts';
import { LABEL_NODE } from '../../src/providers/podman/labels.ts';
import { waitFor } from '../../test/support/wait.ts';
import { cacheDir, HarnessError, pinnedVersions } from '../kube/binaries.ts';
import { type ClusterInfo, LocalCluster } from '../kube/cluster.ts';
import { readTail } from '../kube/processes.ts';
import { podmanUnavailableReason } from '../podman/environment.ts';
import { buildBusyboxImage } from '../podman/images.ts';
import { type PodmanService, startPodmanService } from '../podman/service.ts';
import { buildPackage } from './build.ts';
import { Progress } from './progress.ts';
import {
  REPO_ROOT,
  type StartedVirtualKubelet,
  startVirtualKubelet,
  virtualKubeletKubeconfig,
} from './virtual-kubelet-process.ts';

/** The pod the printed command creates (it tolerates the node's taint and selects it). */
const EXAMPLE_POD = join(REPO_ROOT, 'examples', 'hello-pod.yaml');

const name = process.env.VK_START_NAME ?? 'start';
const nodeName = `vk-${name}`;
const nodeDir = join(REPO_ROOT, '.cluster', `${name}.node`);
const say = (line: string) => process.stdout.write(`${line}\n`);

/** What this run started, so a stop undoes exactly that. */
const started: {
  cluster?: LocalCluster;
  podman?: PodmanService;
  virtualKubelet?: StartedVirtualKubelet;
} = {};

let stopping: Promise<void> | undefined;
let stopRequested = false;
let lastSignalAt = 0;

function onSignal(signal: NodeJS.Signals): void {
  // A Ctrl-C reaches npm and this process both, and npm passes it on once more: one stop.
  const now = Date.now();
  if (stopRequested) {
    if (now - lastSignalAt > 1000) say(`${signal} again: still stopping, please wait`);
    lastSignalAt = now;
    return;
  }
  stopRequested = true;
  lastSignalAt = now;
  say(`\n${signal} received: stopping everything npm start started`);
  // During a step (a build, the cluster coming up) the stop runs once the step has settled; once
  // the node runs, main() is waiting for exactly this.
  stopWaiters.forEach((wake) => {
    wake();
  });
}

const stopWaiters = new Set<() => void>();
function stopRequestedPromise(): Promise<void> {
  if (stopRequested) return Promise.resolve();
  return new Promise((resolveStop) => stopWaiters.add(resolveStop));
}

process.on('SIGINT', onSignal);
process.on('SIGTERM', onSignal);
// A closed terminal: the control plane runs detached from it and would outlive it otherwise.
process.on('SIGHUP', onSignal);
// Should this process die some other way, the virtual kubelet (in a group of its own) goes too.
process.on('exit', () => {
  const child = started.virtualKubelet?.child;
  if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
});

function stopEverything(): Promise<void> {
  stopping ??= (async () => {
    const vk = started.virtualKubelet;
    if (vk && vk.child.exitCode === null && vk.child.signalCode === null) {
      const exited = new Promise((resolveExit) => vk.child.once('exit', resolveExit));
      vk.child.kill('SIGTERM');
      const timer = setTimeout(() => vk.child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
      say(`stopped the virtual kubelet (pid ${vk.child.pid})`);
    }
    const podman = started.podman;
    if (podman) {
      // The terminal's Ctrl-C reached the service too; it comes back on the same socket to
      // remove the pods the node ran (the virtual kubelet leaves them running on purpose).
      try {
        if (!podman.running) await podman.start();
        await podman.removePods({ [LABEL_NODE]: nodeName });
      } catch (error) {
        say(`could not remove the node's Podman pods: ${errorMessage(error)}`);
      }
      await podman.close();
      say('stopped the Podman service and removed its pods');
    }
    if (started.cluster) {
      await started.cluster.down();
      say(`stopped the control plane and removed ${started.cluster.dir}`);
    }
  })();
  return stopping;
}

async function waitNodeReady(info: ClusterInfo, vk: StartedVirtualKubelet): Promise<void> {
  const client = new KubeClient(loadKubeConfig({ path: info.kubeconfig }), { qps: 0 });
  try {
    await waitFor(
      `node ${nodeName} Ready`,
      async () => {
        if (vk.child.exitCode !== null || vk.child.signalCode !== null) {
          throw new HarnessError(
            `the virtual kubelet exited; its log (${vk.logPath}) ends:\n${readTail(vk.logPath, 20)}`,
          );
        }
        if (stopRequested) throw new HarnessError('stopped before the node was Ready');
        const node = await client.get<Node>(Nodes, { name: nodeName }).catch(() => undefined);
        const ready = node?.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True');
        return ready && node?.status?.daemonEndpoints?.kubeletEndpoint?.Port === vk.kubeletPort;
      },
      { timeoutMs: 60_000, intervalMs: 250 },
    );
  } catch (error) {
    if (error instanceof HarnessError) throw error;
    throw new HarnessError(
      `${errorMessage(error)}; the virtual kubelet's log: ${vk.logPath}\n${readTail(vk.logPath, 20)}`,
    );
  } finally {
    await client.close();
  }
}

/** The Kubernetes release ensureBinaries() is about to build, or undefined when it is cached (or not built at all). */
function pendingKubernetesBuild(): { version: string; root: string } | undefined {
  if (process.env.KUBEBUILDER_ASSETS) return undefined;
  const version = process.env.KUBE_VERSION || pinnedVersions().kubernetes;
  const root = join(cacheDir(), 'kube', version);
  return existsSync(join(root, 'complete.json')) ? undefined : { version, root };
}

/** A Podman service and the busybox image, or why the mock runs instead. */
async function startBackend(detail: (line: string) => void): Promise<{ podman?: PodmanService; reason?: string }> {
  const unavailable = podmanUnavailableReason();
  if (unavailable) return { reason: unavailable };
  const podman = await startPodmanService({ store: name, log: detail });
  started.podman = podman;
  try {
    const image = await buildBusyboxImage(podman.client, {
      lockDir: join(podman.store.dir, 'busybox.lock'),
      log: detail,
    });
    detail(`Podman service on ${podman.address}, image ${image.reference}`);
    return { podman };
  } catch (error) {
    // Without the busybox image the example pod could not start: the mock can run it.
    await podman.close();
    started.podman = undefined;
    return { reason: errorMessage(error) };
  }
}

/**
 * One `npm start` per name: a second would register the same node. The pid file also tells a
 * later run that a cluster left running was started by an `npm start` that died (SIGKILL, a
 * closed terminal), so it is this run's to stop.
 */
function claimOwnership(): { previousOwnerDied: boolean } {
  mkdirSync(nodeDir, { recursive: true });
  const ownerFile = join(nodeDir, 'owner.pid');
  let previous: number | undefined;
  try {
    previous = Number(readFileSync(ownerFile, 'utf8')) || undefined;
  } catch {
    // first run
  }
  if (previous !== undefined && previous !== process.pid && isAlive(previous)) {
    throw new HarnessError(
      `npm start is already running here (pid ${previous}); stop it first, or give this one another name: VK_START_NAME=other npm start`,
    );
  }
  writeFileSync(ownerFile, String(process.pid));
  process.on('exit', () => rmSync(ownerFile, { force: true }));
  return { previousOwnerDied: previous !== undefined };
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function main(): Promise<number> {
  const { previousOwnerDied } = claimOwnership();
  const progress = new Progress(5);
  await progress.step('the package (dist/)', (detail) => buildPackage(REPO_ROOT, detail));
  if (stopRequested) return 0;

  const cluster = new LocalCluster(name, (line) => progress.detail(line));
  const info = await progress.step(
    'control plane (etcd, kube-apiserver, kube-controller-manager, kube-scheduler)',
    async () => {
      const build = pendingKubernetesBuild();
      if (build) {
        progress.detail(
          `Kubernetes ${build.version} is not built yet: building it from its Go modules takes about 11 minutes on 2 cores, once (cached in ${build.root}); follow it in ${join(build.root, 'build.log')}`,
        );
      }
      const wasRunning = (await cluster.status()).every((s) => s.healthy);
      const up = await cluster.up();
      if (!wasRunning || previousOwnerDied) started.cluster = cluster;
      else progress.detail('it was running before npm start: Ctrl-C will leave it running');
      if (wasRunning && previousOwnerDied)
        progress.detail('left running by an npm start that did not stop: reused, and stopped at the end');
      progress.detail(`Kubernetes ${up.kubernetesVersion} at ${up.server}`);
      return up;
    },
  );
  if (stopRequested) return 0;

  const kubeconfig = await progress.step('credentials: the virtual-kubelet ServiceAccount of deploy/rbac.yaml', () =>
    virtualKubeletKubeconfig(info, nodeDir),
  );
  if (stopRequested) return 0;

  const backend = await progress.step('backend: Podman when it can run here, else the mock provider', async () => {
    const result = await startBackend((line) => progress.detail(line));
    if (result.reason) progress.detail(`the mock provider instead of Podman: ${result.reason}`);
    return result;
  });
  if (stopRequested) return 0;

  const provider = backend.podman ? 'podman' : 'mock';
  const vk = await progress.step(`virtual node ${nodeName} (provider ${provider})`, async () => {
    const providerConfig = backend.podman
      ? { url: backend.podman.address, stateDir: join(nodeDir, 'podman-state') }
      : { [nodeName]: {} };
    const process = await startVirtualKubelet({ info, nodeName, provider, providerConfig, kubeconfig, dir: nodeDir });
    started.virtualKubelet = process;
    progress.detail(`pid ${process.child.pid}, log ${process.logPath}`);
    await waitNodeReady(info, process);
    return process;
  });
  if (stopRequested) return 0;

  const kubectlDir = join(info.kubectl, '..');
  say('');
  say(`The virtual node ${nodeName} is Ready (provider ${provider}). In another terminal:`);
  say('');
  say(`  export KUBECONFIG=${info.kubeconfig}`);
  say(`  export PATH=${kubectlDir}:$PATH`);
  say(`  kubectl apply -f ${EXAMPLE_POD}`);
  say('  kubectl get pod hello -o wide');
  say('  kubectl logs -f hello');
  say('');
  say(`The virtual kubelet logs to ${vk.logPath}. Press Ctrl-C to stop everything npm start started.`);

  const exited = new Promise<'exited'>((resolveExit) => vk.child.once('exit', () => resolveExit('exited')));
  const outcome = await Promise.race([exited, stopRequestedPromise().then(() => 'stop' as const)]);
  if (outcome === 'exited') {
    say(`the virtual kubelet exited by itself; its log (${vk.logPath}) ends:\n${readTail(vk.logPath, 20)}`);
    return 1;
  }
  return 0;
}

let code: number;
try {
  code = await main();
} catch (error) {
  const message = error instanceof HarnessError ? error.message : errorMessage(error);
  process.stderr.write(stopRequested ? `stopped: ${message.split('\n')[0]}\n` : `npm start: ${message}\n`);
  code = stopRequested ? 0 : 1;
}
try {
  await stopEverything();
} catch (error) {
  process.stderr.write(`npm start: while stopping: ${errorMessage(error)}\n`);
  code = 1;
}
if (stopRequested) say(code === 0 ? 'npm start: stopped' : 'npm start: stopped, with the error above');
process.exitCode = code;
