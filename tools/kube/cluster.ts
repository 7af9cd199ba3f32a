/**
 * A real Kubernetes control plane on loopback: etcd, kube-apiserver, kube-controller-manager
 * and kube-scheduler, started as background processes that outlive the command that started
 * them, with all state (PKI, kubeconfigs, etcd data, logs, pids) in one directory.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { dirname, join, resolve } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { isAlreadyExists } from '../../src/errors.ts';
import { KubeClient } from '../../src/kube/client.ts';
import { kubeconfigDocument, loadKubeConfig } from '../../src/kube/kubeconfig.ts';
import { resourceType } from '../../src/kube/resources.ts';
import { type Binaries, ensureBinaries, HarnessError } from './binaries.ts';
import { withLock } from './lock.ts';
import { type ClientName, generatePki, SERVICE_CLUSTER_IP_RANGE } from './pki.ts';
import { freePort, isOurProcess, readTail, signalProcess, stopProcess } from './processes.ts';

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

const PROCESSES = ['etcd', 'kube-apiserver', 'kube-controller-manager', 'kube-scheduler'] as const;
export type ProcessName = (typeof PROCESSES)[number];

type SpawnedChild = ChildProcess & { pid: number };

interface Ports {
  etcdClient: number;
  etcdPeer: number;
  apiserver: number;
  controllerManager: number;
  scheduler: number;
}

interface ClusterState {
  name: string;
  kubernetesVersion: string;
  etcdVersion: string;
  ports: Ports;
  pids: Partial<Record<ProcessName, number>>;
  binaries: Binaries['paths'];
  startedAt: string;
}

/** What a running cluster offers its users. */
export interface ClusterInfo {
  name: string;
  dir: string;
  /** Admin kubeconfig (system:masters). */
  kubeconfig: string;
  server: string;
  pkiDir: string;
  kubectl: string;
  kubernetesVersion: string;
  etcdVersion: string;
}

export interface ComponentStatus {
  name: ProcessName;
  pid: number | undefined;
  port: number | undefined;
  running: boolean;
  healthy: boolean;
}

const READY_TIMEOUT_MS = 120_000;

/** The state directory of a named cluster: `$VK_CLUSTER_DIR`, else `<repo>/.cluster/<name>`. */
export function clusterDir(name: string): string {
  if (process.env.VK_CLUSTER_DIR) return resolve(process.env.VK_CLUSTER_DIR);
  return join(REPO_ROOT, '.cluster', name);
}

export class LocalCluster {
  readonly name: string;
  readonly dir: string;
  readonly #log: (line: string) => void;

  constructor(name = 'default', log: (line: string) => void = () => {}) {
    this.name = name;
    this.dir = clusterDir(name);
    this.#log = log;
  }

  get pkiDir(): string {
    return join(this.dir, 'pki');
  }

  get kubeconfigPath(): string {
    return join(this.dir, 'admin.kubeconfig');
  }

  get #statePath(): string {
    return join(this.dir, 'state.json');
  }

  #readState(): ClusterState | undefined {
    if (!existsSync(this.#statePath)) return undefined;
    try {
      return JSON.parse(readFileSync(this.#statePath, 'utf8')) as ClusterState;
    } catch {
      return undefined;
    }
  }

  #writeState(state: ClusterState): void {
    writeFileSync(this.#statePath, `${JSON.stringify(state, null, 2)}\n`);
  }

  #info(state: ClusterState): ClusterInfo {
    return {
      name: this.name,
      dir: this.dir,
      kubeconfig: this.kubeconfigPath,
      server: `https://127.0.0.1:${state.ports.apiserver}`,
      pkiDir: this.pkiDir,
      kubectl: state.binaries.kubectl,
      kubernetesVersion: state.kubernetesVersion,
      etcdVersion: state.etcdVersion,
    };
  }

  /** Starts the cluster, or returns the running one if it is healthy. Safe to call from parallel processes. */
  async up(): Promise<ClusterInfo> {
    mkdirSync(dirname(this.dir), { recursive: true });
    const binaries = await ensureBinaries(this.#log);
    return withLock(`${this.dir}.lock`, this.#log, async () => {
      const existing = this.#readState();
      if (existing) {
        const statuses = await this.status();
        if (statuses.every((s) => s.healthy) && existing.kubernetesVersion === binaries.kubernetesVersion) {
          this.#log(`reusing the running cluster in ${this.dir}`);
          return this.#info(existing);
        }
        this.#log('the cluster in the state directory is not healthy: starting it afresh');
        await this.#stopProcesses(existing);
      }
      rmSync(this.dir, { recursive: true, force: true });
      mkdirSync(join(this.dir, 'logs'), { recursive: true });
      generatePki(this.pkiDir);
      const state = await this.#start(binaries);
      return this.#info(state);
    });
  }

  /** Stops every process this cluster started and removes its state directory. */
  async down(): Promise<void> {
    await withLock(`${this.dir}.lock`, this.#log, async () => {
      const state = this.#readState();
      if (state) await this.#stopProcesses(state);
      rmSync(this.dir, { recursive: true, force: true });
    });
  }

  /**
   * Stops one component and starts it again with the same flags and ports (tests of outages).
   * `downtimeMs` keeps it down that long before the restart.
   */
  async restart(name: ProcessName, downtimeMs = 0): Promise<void> {
    await withLock(`${this.dir}.lock`, this.#log, async () => {
      const state = this.#readState();
      if (!state) throw new HarnessError(`cluster "${this.name}" is not running`);
      await this.#stopProcesses({ ...state, pids: { [name]: state.pids[name] } });
      if (downtimeMs > 0) await delay(downtimeMs);
      const logPath = join(this.dir, 'logs', `${name}.log`);
      const child = this.#spawn(state.binaries[name], this.#args(name, state.ports), logPath);
      state.pids[name] = child.pid;
      this.#writeState(state);
      if ((await this.#waitHealthy(name, state, child)) !== 'healthy') {
        throw new HarnessError(`${name} did not come back after a restart; log: ${logPath}\n${readTail(logPath, 15)}`);
      }
    });
  }

  /** The running cluster's connection details, or undefined when none is recorded. */
  info(): ClusterInfo | undefined {
    const state = this.#readState();
    return state ? this.#info(state) : undefined;
  }

  async status(): Promise<ComponentStatus[]> {
    const state = this.#readState();
    const result: ComponentStatus[] = [];
    for (const name of PROCESSES) {
      const pid = state?.pids[name];
      const port = state ? portOf(state.ports, name) : undefined;
      const running = pid !== undefined && state !== undefined && isOurProcess(pid, state.binaries[name]);
      const healthy = running && state !== undefined && (await this.#healthy(name, state.ports));
      result.push({ name, pid, port, running, healthy });
    }
    return result;
  }

  async #healthy(name: ProcessName, ports: Ports): Promise<boolean> {
    try {
      switch (name) {
        case 'etcd':
          return (await httpGet(`http://127.0.0.1:${ports.etcdClient}/health`)).status === 200;
        case 'kube-apiserver':
          return (await this.#apiserverGet(ports.apiserver, '/readyz')).body === 'ok';
        case 'kube-controller-manager':
          return (await httpGet(`https://127.0.0.1:${ports.controllerManager}/healthz`)).body === 'ok';
        case 'kube-scheduler':
          return (await httpGet(`https://127.0.0.1:${ports.scheduler}/healthz`)).body === 'ok';
      }
    } catch {
      return false;
    }
  }

  #apiserverGet(port: number, path: string) {
    return httpGet(`https://127.0.0.1:${port}${path}`, {
      ca: readFileSync(join(this.pkiDir, 'ca.crt')),
      cert: readFileSync(join(this.pkiDir, 'admin.crt')),
      key: readFileSync(join(this.pkiDir, 'admin.key')),
    });
  }

  async #start(binaries: Binaries): Promise<ClusterState> {
    const state: ClusterState = {
      name: this.name,
      kubernetesVersion: binaries.kubernetesVersion,
      etcdVersion: binaries.etcdVersion,
      ports: { etcdClient: 0, etcdPeer: 0, apiserver: 0, controllerManager: 0, scheduler: 0 },
      pids: {},
      binaries: binaries.paths,
      startedAt: new Date().toISOString(),
    };
    const started = Date.now();
    this.#log(`starting Kubernetes ${binaries.kubernetesVersion} (etcd ${binaries.etcdVersion}) in ${this.dir}`);
    try {
      await this.#startWithPortRetry(state, 'etcd', async () => {
        state.ports.etcdClient = await freePort();
        state.ports.etcdPeer = await freePort();
      });
      await this.#startWithPortRetry(state, 'kube-apiserver', async () => {
        state.ports.apiserver = await freePort();
      });
      this.#writeKubeconfigs(state.ports.apiserver);
      await this.#bootstrapRbac();
      await this.#startWithPortRetry(state, 'kube-controller-manager', async () => {
        state.ports.controllerManager = await freePort();
      });
      await this.#startWithPortRetry(state, 'kube-scheduler', async () => {
        state.ports.scheduler = await freePort();
      });
    } catch (error) {
      await this.#stopProcesses(state);
      throw error;
    }
    this.#log(
      `control plane ready in ${((Date.now() - started) / 1000).toFixed(1)} s at https://127.0.0.1:${state.ports.apiserver}`,
    );
    return state;
  }

  /** Starts one component; if it dies because its port was taken meanwhile, picks new ports and tries again. */
  async #startWithPortRetry(state: ClusterState, name: ProcessName, choosePorts: () => Promise<void>): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      await choosePorts();
      const logPath = join(this.dir, 'logs', `${name}.log`);
      const child = this.#spawn(state.binaries[name], this.#args(name, state.ports), logPath);
      const pid = child.pid;
      state.pids[name] = pid;
      this.#writeState(state);
      const outcome = await this.#waitHealthy(name, state, child);
      if (outcome === 'healthy') {
        this.#log(`${name} is up (pid ${pid}, port ${portOf(state.ports, name)})`);
        return;
      }
      const tail = readTail(logPath, 15);
      if (outcome === 'exited' && /address already in use|bind: address/i.test(tail) && attempt < 4) {
        this.#log(`${name}: its port was taken, trying another`);
        continue;
      }
      signalProcess(pid, 'SIGKILL');
      throw new HarnessError(
        `${name} ${outcome === 'exited' ? 'exited' : 'did not become healthy within 120 s'}; log: ${logPath}\n${tail}`,
      );
    }
  }

  /**
   * Waits for a component just started. Its exit is known from the child process itself: right
   * after spawn, /proc may still show the parent's command line until the exec happens.
   */
  async #waitHealthy(
    name: ProcessName,
    state: ClusterState,
    child: SpawnedChild,
  ): Promise<'healthy' | 'exited' | 'timeout'> {
    const deadline = Date.now() + READY_TIMEOUT_MS;
    while (Date.now() < deadline) {
      if (child.exitCode !== null || child.signalCode !== null) return 'exited';
      if (await this.#healthy(name, state.ports)) return 'healthy';
      await delay(200);
    }
    return 'timeout';
  }

  #spawn(binary: string, args: string[], logPath: string): SpawnedChild {
    const fd = openSync(logPath, 'a');
    try {
      const child = spawn(binary, args, { detached: true, stdio: ['ignore', fd, fd], cwd: this.dir });
      child.unref();
      if (child.pid === undefined) throw new HarnessError(`could not start ${binary}`);
      return child as SpawnedChild;
    } finally {
      closeSync(fd);
    }
  }

  #args(name: ProcessName, ports: Ports): string[] {
    const pki = (file: string) => join(this.pkiDir, file);
    const etcdUrl = `http://127.0.0.1:${ports.etcdClient}`;
    const peerUrl = `http://127.0.0.1:${ports.etcdPeer}`;
    switch (name) {
      case 'etcd':
        return [
          '--name=default',
          `--data-dir=${join(this.dir, 'etcd')}`,
          `--listen-client-urls=${etcdUrl}`,
          `--advertise-client-urls=${etcdUrl}`,
          `--listen-peer-urls=${peerUrl}`,
          `--initial-advertise-peer-urls=${peerUrl}`,
          `--initial-cluster=default=${peerUrl}`,
          // A test cluster trades durability for speed.
          '--unsafe-no-fsync=true',
          `--quota-backend-bytes=${8 * 1024 ** 3}`,
          '--log-level=warn',
        ];
      case 'kube-apiserver':
        return [
          `--etcd-servers=${etcdUrl}`,
          '--bind-address=127.0.0.1',
          `--secure-port=${ports.apiserver}`,
          '--advertise-address=127.0.0.1',
          // A loopback endpoint for the `kubernetes` Service is invalid; nothing here routes to it anyway.
          '--endpoint-reconciler-type=none',
          `--tls-cert-file=${pki('apiserver.crt')}`,
          `--tls-private-key-file=${pki('apiserver.key')}`,
          `--client-ca-file=${pki('ca.crt')}`,
          '--service-account-issuer=https://kubernetes.default.svc',
          `--service-account-key-file=${pki('sa.pub')}`,
          `--service-account-signing-key-file=${pki('sa.key')}`,
          `--service-cluster-ip-range=${SERVICE_CLUSTER_IP_RANGE}`,
          '--authorization-mode=Node,RBAC',
          '--enable-admission-plugins=NodeRestriction',
          '--allow-privileged=true',
          `--kubelet-client-certificate=${pki('apiserver-kubelet-client.crt')}`,
          `--kubelet-client-key=${pki('apiserver-kubelet-client.key')}`,
          `--kubelet-certificate-authority=${pki('kubelet-ca.crt')}`,
          // The aggregation layer, for metrics-server.
          `--requestheader-client-ca-file=${pki('front-proxy-ca.crt')}`,
          '--requestheader-allowed-names=front-proxy-client',
          '--requestheader-username-headers=X-Remote-User',
          '--requestheader-group-headers=X-Remote-Group',
          '--requestheader-extra-headers-prefix=X-Remote-Extra-',
          `--proxy-client-cert-file=${pki('front-proxy-client.crt')}`,
          `--proxy-client-key-file=${pki('front-proxy-client.key')}`,
          '--enable-aggregator-routing=true',
        ];
      case 'kube-controller-manager': {
        const kubeconfig = join(this.dir, 'controller-manager.kubeconfig');
        return [
          `--kubeconfig=${kubeconfig}`,
          `--authentication-kubeconfig=${kubeconfig}`,
          `--authorization-kubeconfig=${kubeconfig}`,
          '--bind-address=127.0.0.1',
          `--secure-port=${ports.controllerManager}`,
          '--leader-elect=false',
          '--use-service-account-credentials=true',
          '--controllers=*',
          `--service-account-private-key-file=${pki('sa.key')}`,
          `--root-ca-file=${pki('ca.crt')}`,
          `--cluster-signing-kube-apiserver-client-cert-file=${pki('ca.crt')}`,
          `--cluster-signing-kube-apiserver-client-key-file=${pki('ca.key')}`,
          `--cluster-signing-kubelet-client-cert-file=${pki('ca.crt')}`,
          `--cluster-signing-kubelet-client-key-file=${pki('ca.key')}`,
          `--cluster-signing-kubelet-serving-cert-file=${pki('kubelet-ca.crt')}`,
          `--cluster-signing-kubelet-serving-key-file=${pki('kubelet-ca.key')}`,
          `--cluster-signing-legacy-unknown-cert-file=${pki('ca.crt')}`,
          `--cluster-signing-legacy-unknown-key-file=${pki('ca.key')}`,
          `--service-cluster-ip-range=${SERVICE_CLUSTER_IP_RANGE}`,
          // The default 20 QPS makes the controllers, not the virtual kubelet, the bottleneck of large tests.
          '--kube-api-qps=200',
          '--kube-api-burst=400',
        ];
      }
      case 'kube-scheduler': {
        const kubeconfig = join(this.dir, 'scheduler.kubeconfig');
        return [
          `--kubeconfig=${kubeconfig}`,
          `--authentication-kubeconfig=${kubeconfig}`,
          `--authorization-kubeconfig=${kubeconfig}`,
          '--bind-address=127.0.0.1',
          `--secure-port=${ports.scheduler}`,
          '--leader-elect=false',
        ];
      }
    }
  }

  #writeKubeconfigs(apiserverPort: number): void {
    const server = `https://127.0.0.1:${apiserverPort}`;
    const write = (file: string, client: ClientName) =>
      writeFileSync(
        join(this.dir, file),
        kubeconfigDocument({
          name: `vk-${this.name}`,
          server,
          caFile: join(this.pkiDir, 'ca.crt'),
          clientCertificateFile: join(this.pkiDir, `${client}.crt`),
          clientKeyFile: join(this.pkiDir, `${client}.key`),
        }),
        { mode: 0o600 },
      );
    write('admin.kubeconfig', 'admin');
    write('controller-manager.kubeconfig', 'controller-manager');
    write('scheduler.kubeconfig', 'scheduler');
  }

  /** Lets the API server's kubelet client identity use the kubelet API, as kubeadm and local-up-cluster do. */
  async #bootstrapRbac(): Promise<void> {
    const client = new KubeClient(loadKubeConfig({ path: this.kubeconfigPath }));
    const ClusterRoleBindings = resourceType(
      'rbac.authorization.k8s.io',
      'v1',
      'clusterrolebindings',
      'ClusterRoleBinding',
      false,
    );
    try {
      await client.create(ClusterRoleBindings, {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'ClusterRoleBinding',
        metadata: { name: 'kube-apiserver-kubelet-api-admin' },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'system:kubelet-api-admin' },
        subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: 'kube-apiserver-kubelet-client' }],
      } as never);
    } catch (error) {
      if (!isAlreadyExists(error)) throw error;
    } finally {
      await client.close();
    }
  }

  async #stopProcesses(state: ClusterState): Promise<void> {
    for (const name of [...PROCESSES].reverse()) {
      const pid = state.pids[name];
      if (pid === undefined || !isOurProcess(pid, state.binaries[name])) continue;
      await stopProcess(pid, state.binaries[name]);
      this.#log(`stopped ${name} (pid ${pid})`);
    }
  }
}

function portOf(ports: Ports, name: ProcessName): number {
  switch (name) {
    case 'etcd':
      return ports.etcdClient;
    case 'kube-apiserver':
      return ports.apiserver;
    case 'kube-controller-manager':
      return ports.controllerManager;
    case 'kube-scheduler':
      return ports.scheduler;
  }
}

/** A GET with a short timeout; self-signed component certificates are accepted unless `ca` is given. */
function httpGet(
  url: string,
  tls: { ca?: Buffer; cert?: Buffer; key?: Buffer } = {},
): Promise<{ status: number; body: string }> {
  return new Promise((resolveGet, reject) => {
    const isHttps = url.startsWith('https:');
    const options = isHttps ? { ...tls, rejectUnauthorized: Boolean(tls.ca), timeout: 2000 } : { timeout: 2000 };
    const req = (isHttps ? httpsRequest : httpRequest)(url, options, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        body += chunk;
      });
      res.on('end', () => resolveGet({ status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}
