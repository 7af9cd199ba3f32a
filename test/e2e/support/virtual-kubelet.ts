/**
 * Runs the real `virtual-kubelet` CLI (from source) against the test cluster, with the
 * least-privilege credentials of deploy/rbac.yaml, and reads what its mock provider did.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  closeSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Node, Pod } from 'kubernetes-types/core/v1.js';
import { kubeconfigDocument } from '../../../src/kube/kubeconfig.ts';
import { Nodes } from '../../../src/kube/resources.ts';
import { type MockCall, readMockState } from '../../../src/providers/mock/index.ts';
import { issueCertificate } from '../../../src/tls/x509.ts';
import { readCA } from '../../../tools/kube/pki.ts';
import { freePort } from '../../../tools/kube/processes.ts';
import type { TestCluster } from '../../../tools/kube/testing.ts';
import { waitFor } from '../../../tools/kube/testing.ts';
import type { NetworkNamespace } from './netns.ts';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const CLI = join(REPO, 'src', 'cli', 'bin.ts');

/** The Node flags the published executable runs with (its `#!/usr/bin/env -S node …` line): tests run the same way. */
const EXECUTABLE_NODE_FLAGS = (readFileSync(join(REPO, 'bin', 'virtual-kubelet.js'), 'utf8').split('\n')[0] ?? '')
  .split(/\s+/)
  .filter((word) => word.startsWith('--'));

const credentials = new Map<string, Promise<string>>();

/**
 * A kubeconfig for the `virtual-kubelet` ServiceAccount, bound to exactly the ClusterRole in
 * deploy/rbac.yaml (applied with the real kubectl), so every e2e test also proves that RBAC.
 */
export function virtualKubeletKubeconfig(cluster: TestCluster): Promise<string> {
  const cached = credentials.get(cluster.info.kubeconfig);
  if (cached) return cached;
  const made = (async () => {
    // Test files run in parallel processes, and two first applies race: the loser's create fails
    // with AlreadyExists (or an update with a Conflict). Applying again settles it.
    await waitFor(
      'kubectl apply deploy/rbac.yaml',
      async () => {
        const applied = await cluster.kubectl(['apply', '-f', join(REPO, 'deploy', 'rbac.yaml')]);
        if (applied.code === 0) return true;
        if (/AlreadyExists|Conflict|the object has been modified/.test(applied.stderr)) return false;
        throw new Error(`kubectl apply deploy/rbac.yaml: ${applied.stderr}`);
      },
      { timeoutMs: 30_000, intervalMs: 200 },
    );
    const token = await cluster.kubectl(['create', 'token', 'virtual-kubelet', '-n', 'kube-system', '--duration=24h']);
    if (token.code !== 0) throw new Error(`kubectl create token: ${token.stderr}`);
    const dir = mkdtempSync(join(tmpdir(), 'vk-e2e-'));
    const path = join(dir, 'virtual-kubelet.kubeconfig');
    writeFileSync(
      path,
      kubeconfigDocument({
        name: 'virtual-kubelet',
        server: cluster.info.server,
        caFile: join(cluster.info.pkiDir, 'ca.crt'),
        token: token.stdout.trim(),
      }),
    );
    return path;
  })();
  credentials.set(cluster.info.kubeconfig, made);
  return made;
}

/**
 * The virtual-kubelet kubeconfig, pointed at the namespace's relay to the API server. The API
 * server's certificate names localhost and 127.0.0.1, not the relay's address: verify it as localhost.
 */
async function relayedKubeconfig(cluster: TestCluster, netns: NetworkNamespace, dir: string): Promise<string> {
  const config = JSON.parse(readFileSync(await virtualKubeletKubeconfig(cluster), 'utf8')) as {
    clusters: { cluster: Record<string, string> }[];
  };
  const port = await netns.relay({ host: '127.0.0.1', port: Number(new URL(cluster.info.server).port) });
  for (const entry of config.clusters) {
    entry.cluster.server = `https://${netns.hostAddress}:${port}`;
    entry.cluster['tls-server-name'] = 'localhost';
  }
  const path = join(dir, 'relayed.kubeconfig');
  writeFileSync(path, JSON.stringify(config, null, 2), { mode: 0o600 });
  return path;
}

export interface StartOptions {
  nodeName?: string;
  /** The provider; default `mock` (configured from `mock`). */
  provider?: string;
  /** The provider's config file content, for providers other than the mock (written as JSON). */
  providerConfig?: Record<string, unknown>;
  /** Fields of the mock's config entry for this node (cpu, memory, pods…); stateFile and callLog are added. */
  mock?: Record<string, unknown>;
  /** Extra CLI flags. */
  args?: string[];
  env?: NodeJS.ProcessEnv;
  /** Reuse the state of an earlier process (restarts). */
  workDir?: string;
  /** Wait for the node to be Ready (default true). */
  waitReady?: boolean;
  kubeconfig?: string;
  /** The CLI entry to run; default the TypeScript source (bin/virtual-kubelet.js runs the build). */
  cli?: string | undefined;
  /**
   * Serve the kubelet API with a certificate signed by the cluster's kubelet CA (which the API
   * server verifies). Default true; false starts without certificate files, so the node requests
   * its certificate through the CSR API ({@link VirtualKubeletProcess.approveServingCertificate}).
   * Clients are verified against the cluster CA either way.
   */
  servingCertificate?: boolean;
  /**
   * One of several processes for the same node sharing `workDir` (leader election): each replica
   * has its own log and kubelet port.
   */
  replica?: string;
  /**
   * Run inside this network namespace, with its address as the node's InternalIP (so the API
   * server proxies to it), reaching the API server through the namespace's relay.
   */
  networkNamespace?: NetworkNamespace;
}

/** Writes a serving certificate for the node (127.0.0.1, its name and `addresses`), signed by the harness's kubelet CA. */
export function issueServingCertificate(
  cluster: TestCluster,
  nodeName: string,
  dir: string,
  addresses: readonly string[] = [],
): { cert: string; key: string } {
  const pair = issueCertificate(readCA(cluster.info.pkiDir, 'kubelet-ca'), {
    subject: { commonName: `system:node:${nodeName}`, organizations: ['system:nodes'] },
    extendedKeyUsage: ['serverAuth'],
    altNames: ['127.0.0.1', nodeName, 'localhost', ...addresses],
  });
  const cert = join(dir, 'serving.crt');
  const key = join(dir, 'serving.key');
  writeFileSync(cert, pair.certificate);
  writeFileSync(key, pair.key, { mode: 0o600 });
  return { cert, key };
}

/** One `virtual-kubelet --provider mock` process. */
export class VirtualKubeletProcess {
  readonly nodeName: string;
  readonly workDir: string;
  readonly child: ChildProcess;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  readonly #cluster: TestCluster;

  /** Where the kubelet API listens (127.0.0.1). */
  readonly kubeletPort: number;
  /** Where the unauthenticated health endpoints listen (127.0.0.1). */
  readonly healthzPort: number;

  readonly #logPath: string;
  readonly #logOffset: number;

  private constructor(
    cluster: TestCluster,
    nodeName: string,
    workDir: string,
    child: ChildProcess,
    kubeletPort: number,
    logPath: string,
    healthzPort: number,
    logOffset: number,
  ) {
    this.#cluster = cluster;
    this.kubeletPort = kubeletPort;
    this.#logPath = logPath;
    this.healthzPort = healthzPort;
    this.#logOffset = logOffset;
    this.nodeName = nodeName;
    this.workDir = workDir;
    this.child = child;
    this.exited = new Promise((resolveExit) => child.once('exit', (code, signal) => resolveExit({ code, signal })));
  }

  static async start(cluster: TestCluster, options: StartOptions = {}): Promise<VirtualKubeletProcess> {
    const nodeName = options.nodeName ?? `vk-${randomBytes(3).toString('hex')}`;
    const workDir = options.workDir ?? mkdtempSync(join(tmpdir(), `${nodeName}-`));
    mkdirSync(workDir, { recursive: true });
    const provider = options.provider ?? 'mock';
    const configPath = join(workDir, `${provider}.json`);
    if (provider !== 'mock') {
      if (!options.workDir || !existsSync(configPath))
        writeFileSync(configPath, JSON.stringify(options.providerConfig ?? {}));
    } else if (!options.workDir || !existsSync(configPath)) {
      const entry = {
        pods: '200',
        stateFile: join(workDir, 'state.json'),
        callLog: join(workDir, 'calls.jsonl'),
        pingErrorFile: join(workDir, 'ping-error'),
        ...options.mock,
      };
      writeFileSync(configPath, JSON.stringify({ [nodeName]: entry }));
    }
    const netns = options.networkNamespace;
    const kubeconfig =
      options.kubeconfig ??
      (netns ? await relayedKubeconfig(cluster, netns, workDir) : await virtualKubeletKubeconfig(cluster));
    // Inside a namespace the node's own address is the one to listen on and publish; 127.0.0.1 elsewhere.
    const nodeAddress = netns?.address ?? '127.0.0.1';
    const tlsEnv: NodeJS.ProcessEnv = { APISERVER_CA_CERT_LOCATION: join(cluster.info.pkiDir, 'ca.crt') };
    if (options.servingCertificate !== false) {
      const serving = existsSync(join(workDir, 'serving.crt'))
        ? { cert: join(workDir, 'serving.crt'), key: join(workDir, 'serving.key') }
        : issueServingCertificate(cluster, nodeName, workDir, netns ? [netns.address] : []);
      tlsEnv.APISERVER_CERT_LOCATION = serving.cert;
      tlsEnv.APISERVER_KEY_LOCATION = serving.key;
    }
    // A restart in the same work directory keeps its port, as a real kubelet keeps 10250.
    const suffix = options.replica ? `-${options.replica}` : '';
    const portFile = join(workDir, `kubelet-port${suffix}`);
    const kubeletPort = existsSync(portFile) ? Number(readFileSync(portFile, 'utf8')) : await freePort();
    writeFileSync(portFile, String(kubeletPort));
    const healthzPort = await freePort();
    const logPath = join(workDir, `virtual-kubelet${suffix}.log`);
    const logOffset = existsSync(logPath) ? statSync(logPath).size : 0;
    const log = openSync(logPath, 'a');
    const [command, ...prefix] = [...(netns?.exec ?? []), process.execPath];
    const child = spawn(
      command as string,
      [
        ...prefix,
        ...EXECUTABLE_NODE_FLAGS,
        options.cli ?? CLI,
        '--provider',
        provider,
        '--provider-config',
        configPath,
        '--nodename',
        nodeName,
        '--kubeconfig',
        kubeconfig,
        '--metrics-addr',
        `${nodeAddress}:0`,
        '--healthz-port',
        String(healthzPort),
        '--healthz-bind-address',
        nodeAddress,
        '--log-level',
        'debug',
        '--log-format',
        'json',
        ...(options.args ?? []),
      ],
      {
        stdio: ['ignore', log, log],
        env: {
          ...process.env,
          VKUBELET_POD_IP: nodeAddress,
          KUBELET_PORT: String(kubeletPort),
          ...tlsEnv,
          ...options.env,
        },
      },
    );
    closeSync(log);
    const vk = new VirtualKubeletProcess(
      cluster,
      nodeName,
      workDir,
      child,
      kubeletPort,
      logPath,
      healthzPort,
      logOffset,
    );
    if (options.waitReady !== false) await vk.waitReady();
    return vk;
  }

  /** This process's log so far (a restart in the same work directory appends to the same file). */
  log(): string {
    return readFileSync(this.#logPath).subarray(this.#logOffset).toString('utf8');
  }

  /** Waits until the API shows the node Ready=True. */
  async waitReady(timeoutMs = 30_000): Promise<Node> {
    return waitFor(
      `node ${this.nodeName} Ready`,
      async () => {
        if (this.child.exitCode !== null)
          throw new Error(`virtual-kubelet exited ${this.child.exitCode}:\n${this.log().slice(-3000)}`);
        const node = await this.#cluster.client.get(Nodes, { name: this.nodeName }).catch(() => undefined);
        const ready = node?.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True');
        // After a restart the node may still look Ready from before: wait for this process's own status.
        const ours =
          node?.status?.daemonEndpoints?.kubeletEndpoint?.Port === this.kubeletPort &&
          /node .* is ready/.test(this.log());
        return ready && ours ? node : undefined;
      },
      { timeoutMs },
    );
  }

  /** The URL of the process's own /metrics, from its log. */
  metricsUrl(): string | undefined {
    // The log is shared by restarts in the same work directory: the last process's address wins.
    return [...this.log().matchAll(/metrics on (http:\/\/[^\s"]+)/g)].at(-1)?.[1];
  }

  /** The value of one sample of the process's own metrics; throws when the process does not publish it. */
  async metric(name: string, labels: Record<string, string> = {}): Promise<number> {
    const url = this.metricsUrl();
    if (!url) throw new Error(`virtual kubelet ${this.nodeName} has not logged its metrics address yet`);
    const text = await (await fetch(url)).text();
    const wanted = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
    for (const line of text.split('\n')) {
      if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
      if (wanted.every((w) => line.includes(w))) return Number(line.slice(line.lastIndexOf(' ') + 1));
    }
    throw new Error(`metric ${name}${JSON.stringify(labels)} not found at ${url}`);
  }

  /** Every provider call recorded so far, across restarts that share the work directory. */
  calls(): MockCall[] {
    const path = join(this.workDir, 'calls.jsonl');
    if (!existsSync(path)) return [];
    return readFileSync(path, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line) as MockCall);
  }

  count(method: MockCall['method'], pod?: string): number {
    return this.calls().filter((c) => c.method === method && (pod === undefined || c.pod === pod)).length;
  }

  /** The pods the mock provider holds (from its state file). */
  providerPods(): Pod[] {
    return [...readMockState(join(this.workDir, 'state.json')).values()];
  }

  /**
   * Approves the node's pending serving-certificate request as an administrator would
   * (`kubectl certificate approve`, the command the node logs) and waits until the node serves
   * the issued certificate. Returns the request's name. `after` skips requests already approved.
   */
  async approveServingCertificate(after: readonly string[] = []): Promise<string> {
    const name = await waitFor(
      `a pending certificate signing request of node ${this.nodeName}`,
      () => {
        const logged = [...this.log().matchAll(/kubectl certificate approve (csr-[a-z0-9]+)/g)].map((m) => m[1]);
        return logged.find((csr) => csr && !after.includes(csr));
      },
      { timeoutMs: 30_000, intervalMs: 200 },
    );
    const served = (this.log().match(/serving certificate \(serial/g) ?? []).length;
    const approved = await this.#cluster.kubectl(['certificate', 'approve', name]);
    if (approved.code !== 0) throw new Error(`kubectl certificate approve ${name}: ${approved.stderr}`);
    await waitFor(
      `node ${this.nodeName} to serve the certificate of ${name}`,
      () => (this.log().match(/serving certificate \(serial/g) ?? []).length > served,
      { timeoutMs: 30_000, intervalMs: 200 },
    );
    return name;
  }

  /** Sends a signal and waits for the exit. */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(signal);
    return this.exited;
  }

  /** Stops the process and deletes its Node (test cleanup). */
  async destroy(): Promise<void> {
    await this.stop('SIGKILL');
    await this.#cluster.client.delete(Nodes, { name: this.nodeName }).catch(() => undefined);
  }
}
