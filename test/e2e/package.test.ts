/**
 * The package as an outside provider author gets it: `npm pack`, installed into an empty project,
 * a provider written there against the exported names only (logs, exec, port-forward, stats),
 * type-checked with the project's own tsconfig, and run against the test cluster: a pod goes
 * Running on its node, and `kubectl logs`, `exec` and `port-forward` and the Summary API work.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { Pod } from 'kubernetes-types/core/v1.js';
import { Pods } from '../../src/kube/resources.ts';
import { freePort } from '../../tools/kube/processes.ts';
import { type TestCluster, testCluster, waitFor } from '../../tools/kube/testing.ts';
import { apiserverClientCertificate, kubeletRequest } from './support/kubelet-client.ts';
import { issueServingCertificate, virtualKubeletKubeconfig } from './support/virtual-kubelet.ts';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const NPM = 'npm';

function run(command: string, args: string[], cwd: string): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    execFile(command, args, { cwd, maxBuffer: 16 * 1024 * 1024, timeout: 180_000 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`${command} ${args.join(' ')} failed:\n${stdout}\n${stderr}`));
      else resolvePromise(stdout);
    });
  });
}

/** The provider an outside author writes: only `virtual-kubelet` and `virtual-kubelet/provider` names. */
const PROVIDER = `
import { createServer, connect, type Server } from 'node:net';
import { Readable, type Duplex } from 'node:stream';
import type { Pod, PodStatus } from 'kubernetes-types/core/v1.js';
import { VirtualNode, NotFoundError } from 'virtual-kubelet';
import {
  applyLogOptions, kubeTime, podKey,
  type AttachIO, type ContainerExecProvider, type ContainerLogOptions, type ContainerLogsProvider,
  type LogEntry, type PodLifecycleHandler, type PortForwardProvider, type ProviderCallOptions,
  type StatsProvider, type StatsSummary,
} from 'virtual-kubelet/provider';

class EchoProvider
  implements PodLifecycleHandler, ContainerLogsProvider, ContainerExecProvider, PortForwardProvider, StatsProvider
{
  readonly pods = new Map<string, { pod: Pod; logs: LogEntry[]; startedAt: string }>();
  readonly echo: Server = createServer((socket) => socket.pipe(socket)).listen(0, '127.0.0.1');

  async createPod(pod: Pod): Promise<void> {
    const key = podKey(pod.metadata!.namespace!, pod.metadata!.name!);
    this.pods.set(key, { pod, logs: [{ time: new Date(), text: 'hello from ' + key }], startedAt: kubeTime() });
  }
  async updatePod(pod: Pod): Promise<void> {
    const known = this.pods.get(podKey(pod.metadata!.namespace!, pod.metadata!.name!));
    if (known) known.pod = pod;
  }
  async deletePod(pod: Pod): Promise<void> {
    this.pods.delete(podKey(pod.metadata!.namespace!, pod.metadata!.name!));
  }
  async getPod(namespace: string, name: string): Promise<Pod | undefined> {
    const known = this.pods.get(podKey(namespace, name));
    return known && { ...known.pod, status: this.#status(known.pod, known.startedAt) };
  }
  async getPodStatus(namespace: string, name: string): Promise<PodStatus | undefined> {
    const known = this.pods.get(podKey(namespace, name));
    return known && this.#status(known.pod, known.startedAt);
  }
  async getPods(): Promise<Pod[]> {
    return [...this.pods.values()].map((k) => ({ ...k.pod, status: this.#status(k.pod, k.startedAt) }));
  }
  #status(pod: Pod, startedAt: string): PodStatus {
    const containerStatuses = pod.spec!.containers.map((c) => ({
      name: c.name, image: c.image ?? '', imageID: '', ready: true, restartCount: 0, state: { running: { startedAt } },
    }));
    return { phase: 'Running', podIP: '127.0.0.1', containerStatuses };
  }
  #known(namespace: string, name: string) {
    const known = this.pods.get(podKey(namespace, name));
    if (!known) throw new NotFoundError('pod ' + podKey(namespace, name) + ' is not here');
    return known;
  }
  async getContainerLogs(namespace: string, name: string, _container: string, options: ContainerLogOptions): Promise<Readable> {
    return Readable.from([applyLogOptions(this.#known(namespace, name).logs, options)]);
  }
  async runInContainer(namespace: string, name: string, _container: string, command: string[], io: AttachIO): Promise<number> {
    this.#known(namespace, name);
    let input = '';
    for await (const chunk of io.stdin ?? []) input += chunk;
    io.stdout?.write(command.join(' ') + ':' + input.toUpperCase());
    return 7;
  }
  async portForward(namespace: string, name: string, _port: number, stream: Duplex, options: ProviderCallOptions): Promise<void> {
    this.#known(namespace, name);
    const address = this.echo.address() as { port: number };
    const socket = connect(address.port, '127.0.0.1');
    stream.pipe(socket).pipe(stream);
    await new Promise<void>((done) => { socket.once('close', () => done()); options.signal.addEventListener('abort', () => { socket.destroy(); done(); }); });
  }
  async getStatsSummary(): Promise<StatsSummary> {
    const time = kubeTime();
    return {
      node: { nodeName: process.env.NODE_NAME!, startTime: time, cpu: { time, usageNanoCores: 1000, usageCoreNanoSeconds: 5000 } },
      pods: [...this.pods.values()].map(({ pod, startedAt }) => ({
        podRef: { name: pod.metadata!.name!, namespace: pod.metadata!.namespace!, uid: pod.metadata!.uid! },
        startTime: startedAt,
        containers: pod.spec!.containers.map((c) => ({ name: c.name, startTime: startedAt, memory: { time, workingSetBytes: 4096 } })),
      })),
    };
  }
}

const stop = new AbortController();
process.once('SIGTERM', () => stop.abort());
const provider = new EchoProvider();
const node = new VirtualNode({
  nodeName: process.env.NODE_NAME!,
  provider,
  providerName: 'echo',
  kubeconfig: process.env.VK_KUBECONFIG!,
  internalIP: '127.0.0.1',
  kubeletPort: Number(process.env.KUBELET_PORT),
  kubeletApi: { certificateFile: process.env.CERT!, keyFile: process.env.KEY!, clientCAFile: process.env.CLIENT_CA! },
});
node.ready.then(() => console.log('ready'));
await node.run(stop.signal);
provider.echo.close();
`;

let cluster: TestCluster;
let namespace: string;
let project: string;
let child: ChildProcess | undefined;
let output = '';
const nodeName = `packaged-${process.pid}`;
let kubeletPort = 0;

before(async () => {
  assert.ok(existsSync(join(REPO, 'dist', 'index.js')), 'the package is built (npm run build) before the e2e tests');
  cluster = await testCluster();
  namespace = await cluster.createNamespace('package');
  project = mkdtempSync(join(tmpdir(), 'vk-package-'));
  await run(NPM, ['pack', '--silent', '--pack-destination', project], REPO);
  const tarball = readdirSync(project).find((f) => f.endsWith('.tgz'));
  assert.ok(tarball, 'npm pack wrote a tarball');
  const types = JSON.parse(readFileSync(join(REPO, 'node_modules', '@types', 'node', 'package.json'), 'utf8'));
  writeFileSync(
    join(project, 'package.json'),
    JSON.stringify({
      name: 'echo-provider',
      private: true,
      type: 'module',
      dependencies: { 'virtual-kubelet': `file:./${tarball}` },
      devDependencies: { '@types/node': types.version },
    }),
  );
  await run(NPM, ['install', '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error'], project);
  writeFileSync(join(project, 'provider.ts'), PROVIDER);
  writeFileSync(
    join(project, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: {
        target: 'es2023',
        module: 'nodenext',
        moduleResolution: 'nodenext',
        strict: true,
        noEmit: true,
        types: ['node'],
        erasableSyntaxOnly: true,
        verbatimModuleSyntax: true,
      },
      files: ['provider.ts'],
    }),
  );
});

after(async () => {
  if (child && child.exitCode === null) {
    child.kill('SIGTERM');
    await new Promise((done) => child?.once('exit', done));
  }
  await cluster.kubectl(['delete', 'node', nodeName, '--wait=false']);
  await cluster.deleteNamespace(namespace);
});

test('the packed package exports everything a provider needs: no deep import paths', async () => {
  const exports = JSON.parse(readFileSync(join(project, 'node_modules', 'virtual-kubelet', 'package.json'), 'utf8'))
    .exports as Record<string, unknown>;
  assert.deepEqual(Object.keys(exports).sort(), ['.', './package.json', './provider']);
  await run(join(REPO, 'node_modules', '.bin', 'tsc'), ['-p', join(project, 'tsconfig.json')], project);
});

test('a provider written against the package runs a pod: logs, exec, port-forward and stats work', async () => {
  kubeletPort = await freePort();
  const serving = issueServingCertificate(cluster, nodeName, project);
  child = spawn(process.execPath, ['provider.ts'], {
    cwd: project,
    env: {
      ...process.env,
      NODE_NAME: nodeName,
      VK_KUBECONFIG: await virtualKubeletKubeconfig(cluster),
      KUBELET_PORT: String(kubeletPort),
      CERT: serving.cert,
      KEY: serving.key,
      CLIENT_CA: join(cluster.info.pkiDir, 'ca.crt'),
    },
  });
  child.stdout?.on('data', (chunk: Buffer) => {
    output += chunk;
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    output += chunk;
  });
  await waitFor('the packaged provider ready', async () => {
    if (child?.exitCode !== null) throw new Error(`the provider exited ${child?.exitCode}:\n${output}`);
    return output.includes('ready');
  });
  await cluster.client.create(Pods, {
    metadata: { name: 'echo', namespace },
    spec: { nodeName, containers: [{ name: 'main', image: 'echo' }] },
  } as Pod);
  await waitFor(
    'the pod Running',
    async () => (await cluster.client.get<Pod>(Pods, { namespace, name: 'echo' })).status?.phase === 'Running',
  );

  const logs = await cluster.kubectl(['logs', '-n', namespace, 'echo']);
  assert.equal(logs.stdout, `hello from ${namespace}/echo\n`, logs.stderr);

  const exec = await cluster.kubectl(['exec', '-i', '-n', namespace, 'echo', '--', 'shout', 'it'], { input: 'quiet' });
  assert.equal(exec.code, 7, exec.stderr);
  assert.equal(exec.stdout, 'shout it:QUIET');

  const localPort = await freePort();
  const forward = cluster.kubectlProcess(['port-forward', '-n', namespace, 'pod/echo', `${localPort}:80`]);
  try {
    await waitFor('port-forward listening', async () => forward.stdout.includes('Forwarding from'));
    const echoed = await new Promise<string>((resolvePromise, reject) => {
      const socket = connect(localPort, '127.0.0.1', () => socket.end('ping through the package'));
      let text = '';
      socket.on('data', (chunk) => {
        text += chunk;
      });
      socket.on('end', () => resolvePromise(text));
      socket.on('error', reject);
    });
    assert.equal(echoed, 'ping through the package');
  } finally {
    forward.stop();
  }

  const summary = await kubeletRequest(cluster, kubeletPort, '/stats/summary', apiserverClientCertificate(cluster));
  assert.equal(summary.status, 200, summary.body);
  const stats = JSON.parse(summary.body) as { node: { nodeName: string }; pods: { podRef: { name: string } }[] };
  assert.equal(stats.node.nodeName, nodeName);
  assert.deepEqual(
    stats.pods.map((p) => p.podRef.name),
    ['echo'],
  );
});
