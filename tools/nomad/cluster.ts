/**
 * A real Nomad cluster for tests, on this machine: one server and N client agents (two by
 * default, to show pods spread over machines), each a process of the test with its own data dir
 * and ports on 127.0.0.1, and each client with its own Podman service (its own store: like two
 * machines, no client sees the other's containers) behind Nomad's docker driver.
 *
 * Layout (`<cache>/nomad/clusters/<name>/`, wiped at every start):
 *   <agent>/agent.hcl   the agent's configuration (tools/nomad/agent-config.ts)
 *   <agent>/data/       its data dir
 *   <agent>/agent.log   its log
 *   <agent>/pid.json    pid and owner, so agents whose test process died are stopped by the next start
 *
 * The server can be stopped and started again on the same ports and data (an outage); clients
 * keep their allocations running meanwhile, as real ones do.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { cacheDir, HarnessError } from '../kube/binaries.ts';
import { withLock } from '../kube/lock.ts';
import { freePort, isOurProcess, readTail, signalProcess, stopProcess } from '../kube/processes.ts';
import { buildBusyboxImage } from '../podman/images.ts';
import { type PodmanService, startPodmanService } from '../podman/service.ts';
import { type AgentPorts, clientConfig, serverConfig } from './agent-config.ts';
import { ensureNomad } from './binary.ts';

/** Where Debian's containernetworking-plugins puts the CNI plugins Nomad's bridge mode runs. */
export const CNI_PATH = '/usr/lib/cni';

export interface NomadClusterOptions {
  /** Clusters with different names can run side by side. Default `default`. */
  name?: string;
  /** Client agents. Default 2. */
  clients?: number;
  /** Enable ACLs and bootstrap them: the cluster's `managementToken` is then set. */
  acl?: boolean;
  /** The datacenter of every client. Default `dc1`. */
  datacenter?: string;
  /** Overrides of the clients' fingerprinted CPU (MHz) and memory, so capacity is known. */
  cpuTotalCompute?: number;
  memoryTotalMB?: number;
  log?: (line: string) => void;
}

interface AgentRecord {
  pid: number;
  owner: number;
  binary: string;
}

const READY_TIMEOUT_MS = 60_000;

const running = new Set<NomadAgent>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // Agents outliving a test process that ended without stopping them (a failed assertion)
  // would keep ports, bridges and containers; kill is all an exit handler may do.
  process.once('exit', () => {
    for (const agent of running) agent.killNow();
  });
}

/** One `nomad agent` process; restartable on the same ports and data dir. */
export class NomadAgent {
  readonly name: string;
  readonly dir: string;
  readonly ports: AgentPorts;
  readonly configPath: string;
  readonly logPath: string;
  readonly #binary: string;
  readonly #recordPath: string;
  #child: ChildProcess | undefined;

  constructor(binary: string, dir: string, name: string, ports: AgentPorts, config: string) {
    this.#binary = binary;
    this.name = name;
    this.dir = dir;
    this.ports = ports;
    this.configPath = join(dir, 'agent.hcl');
    this.logPath = join(dir, 'agent.log');
    this.#recordPath = join(dir, 'pid.json');
    mkdirSync(join(dir, 'data'), { recursive: true });
    writeFileSync(this.configPath, config);
  }

  /** `http://127.0.0.1:<port>`. */
  get address(): string {
    return `http://127.0.0.1:${this.ports.http}`;
  }

  get running(): boolean {
    const child = this.#child;
    return child !== undefined && child.exitCode === null && child.signalCode === null;
  }

  get pid(): number | undefined {
    return this.running ? this.#child?.pid : undefined;
  }

  /** Starts the agent; resolves once its HTTP API answers. */
  async start(): Promise<void> {
    if (this.running) return;
    const fd = openSync(this.logPath, 'a');
    let child: ChildProcess;
    try {
      child = spawn(this.#binary, ['agent', `-config=${this.configPath}`], {
        stdio: ['ignore', fd, fd],
        detached: true,
      });
    } finally {
      closeSync(fd);
    }
    if (child.pid === undefined) throw new HarnessError(`could not start ${this.#binary}`);
    this.#child = child;
    running.add(this);
    installExitHook();
    writeFileSync(
      this.#recordPath,
      JSON.stringify({ pid: child.pid, owner: process.pid, binary: this.#binary } satisfies AgentRecord),
    );
    const deadline = Date.now() + READY_TIMEOUT_MS;
    for (;;) {
      if (!this.running) {
        running.delete(this);
        throw new HarnessError(
          `nomad agent ${this.name} exited at start; log: ${this.logPath}\n${readTail(this.logPath, 15)}`,
        );
      }
      try {
        const response = await fetch(`${this.address}/v1/agent/health`, { signal: AbortSignal.timeout(2000) });
        await response.body?.cancel();
        // 200 once healthy; 500 (no leader yet, no servers yet) still means the API is up.
        if (response.status < 600) return;
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) {
        await this.stop();
        throw new HarnessError(
          `nomad agent ${this.name} did not answer within ${READY_TIMEOUT_MS / 1000} s; log: ${this.logPath}`,
        );
      }
      await delay(100);
    }
  }

  /** Stops the agent (SIGTERM, then SIGKILL after 10 s). A client's tasks keep running. */
  async stop(): Promise<void> {
    const pid = this.pid;
    if (pid !== undefined) await stopProcess(pid, this.#binary, 10_000);
    this.#child = undefined;
    running.delete(this);
    rmSync(this.#recordPath, { force: true });
  }

  killNow(): void {
    try {
      if (this.#child?.pid) process.kill(-this.#child.pid, 'SIGKILL');
    } catch {
      // already gone
    }
    rmSync(this.#recordPath, { force: true });
  }
}

export interface NomadClientAgent {
  agent: NomadAgent;
  podman: PodmanService;
  /** The client's Nomad node ID, once registered. */
  nodeId: string;
  bridgeSubnet: string;
}

/** A running test cluster. */
export class NomadCluster {
  readonly name: string;
  readonly version: string;
  readonly server: NomadAgent;
  readonly clients: NomadClientAgent[];
  /** `localhost/busybox:test`, in every client's Podman store. */
  readonly busybox: string;
  /** The bootstrap (management) token when ACLs are on. */
  readonly managementToken: string | undefined;
  readonly datacenter: string;
  /** The cluster's directory (agents' configs, data dirs and logs). */
  readonly root: string;

  constructor(fields: {
    name: string;
    version: string;
    server: NomadAgent;
    clients: NomadClientAgent[];
    busybox: string;
    managementToken: string | undefined;
    datacenter: string;
    root: string;
  }) {
    this.name = fields.name;
    this.version = fields.version;
    this.server = fields.server;
    this.clients = fields.clients;
    this.busybox = fields.busybox;
    this.managementToken = fields.managementToken;
    this.datacenter = fields.datacenter;
    this.root = fields.root;
  }

  /** The server's HTTP address, what the provider is configured with. */
  get address(): string {
    return this.server.address;
  }

  /** A request to the server's HTTP API with the management token; throws on a non-2xx answer. */
  async api<T>(method: string, path: string, body?: unknown): Promise<T> {
    const headers: Record<string, string> = {};
    if (this.managementToken) headers['X-Nomad-Token'] = this.managementToken;
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    const response = await fetch(`${this.address}${path}`, {
      method,
      headers,
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      signal: AbortSignal.timeout(30_000),
    });
    const text = await response.text();
    if (!response.ok) throw new HarnessError(`nomad ${method} ${path}: ${response.status} ${text.trim()}`);
    return (text ? JSON.parse(text) : undefined) as T;
  }

  /** Stops the server (an outage); clients and their allocations keep running. */
  stopServer(): Promise<void> {
    return this.server.stop();
  }

  /** Starts the server again on its ports and data; resolves once it has a leader. */
  async startServer(): Promise<void> {
    await this.server.start();
    await waitForLeader(this);
  }

  /** Purges every job (their allocations stop), then stops every agent and Podman service. */
  async stop(): Promise<void> {
    if (this.server.running) {
      try {
        const jobs = await this.api<{ ID: string; Namespace: string }[]>('GET', '/v1/jobs?namespace=*');
        await Promise.all(
          jobs.map((job) =>
            this.api('DELETE', `/v1/job/${encodeURIComponent(job.ID)}?purge=true&namespace=${job.Namespace}`),
          ),
        );
        await waitUntil(async () => {
          const allocs = await this.api<{ ClientStatus: string }[]>('GET', '/v1/allocations?namespace=*');
          return allocs.every((a) => a.ClientStatus !== 'running' && a.ClientStatus !== 'pending');
        }, 30_000);
      } catch {
        // stop what is there regardless
      }
    }
    for (const client of this.clients) await client.agent.stop();
    await this.server.stop();
    releaseAllocations(this.root);
    for (const client of this.clients) {
      await removeNomadContainers(client.podman);
      await client.podman.close();
      killLeftConmons(client.podman.store.runDir);
    }
  }
}

/**
 * Ends the `conmon` processes still running for a store once its containers are gone: those of
 * exec sessions (Nomad's docker driver starts them through Podman's compat API) outlive their
 * container and would stay behind with no child (seen after full test runs).
 */
function killLeftConmons(runDir: string): void {
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let argv: string[];
    try {
      argv = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
    } catch {
      continue; // gone meanwhile
    }
    if (!(argv[0] ?? '').endsWith('conmon') || !argv.some((arg) => arg.startsWith(`${runDir}/`))) continue;
    try {
      process.kill(Number(entry), 'SIGKILL');
    } catch {
      // gone meanwhile
    }
  }
}

async function waitUntil(condition: () => Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      if (await condition()) return true;
    } catch {
      // not yet
    }
    await delay(200);
  }
  return false;
}

async function waitForLeader(cluster: NomadCluster): Promise<void> {
  const ok = await waitUntil(async () => {
    const response = await fetch(`${cluster.address}/v1/status/leader`, { signal: AbortSignal.timeout(2000) });
    const text = await response.text();
    return response.ok && /:\d+"$/.test(text.trim());
  }, READY_TIMEOUT_MS);
  if (!ok) throw new HarnessError(`the Nomad server elected no leader; log: ${cluster.server.logPath}`);
}

async function agentPorts(): Promise<AgentPorts> {
  return { http: await freePort(), rpc: await freePort(), serf: await freePort() };
}

/**
 * The bridge subnets of a cluster's clients: /20s out of 172.26.64.0/18 (Nomad's default bridge
 * range), a pair per cluster name, so clusters with different names do not share addresses.
 */
export function bridgeSubnets(name: string, clients: number): string[] {
  const slot = createHash('sha256').update(name).digest()[0] as number;
  const base = (slot % 2) * 2; // two pairs of /20 within the /18: 64+0, 64+32
  return Array.from({ length: clients }, (_, i) => `172.26.${64 + ((base + i) % 4) * 16}.0/20`);
}

/** Removes the containers Nomad's docker driver left in a store (a killed client leaves them running). */
async function removeNomadContainers(podman: PodmanService): Promise<void> {
  try {
    const containers = await podman.client.listContainers({ all: true });
    await Promise.all(
      containers
        .filter((c) => Object.keys(c.labels ?? {}).some((label) => label.startsWith('com.hashicorp.nomad.')))
        .map((c) => podman.client.removeContainer(c.id, { force: true, timeoutSeconds: 0 }).catch(() => {})),
    );
  } catch {
    // the service is gone: nothing to remove through it
  }
}

/**
 * Undoes what Nomad clients leave on the machine under a cluster's directory: the mounts of their
 * allocation dirs (secrets tmpfs, private dirs: the directory cannot be removed while they are
 * there) and the network namespaces Nomad made for those allocations, in /var/run/netns/<alloc ID>.
 */
function releaseAllocations(root: string): void {
  const mounts = readFileSync('/proc/self/mounts', 'utf8')
    .split('\n')
    .map((line) => line.split(' ')[1] ?? '')
    .filter((point) => point.startsWith(`${root}/`))
    .sort((a, b) => b.length - a.length);
  for (const point of mounts) {
    try {
      execFileSync('umount', ['-l', point], { stdio: 'ignore' });
    } catch {
      // already gone
    }
  }
  if (!existsSync(root)) return;
  for (const agent of readdirSync(root)) {
    const allocs = join(root, agent, 'data', 'alloc');
    if (!existsSync(allocs)) continue;
    for (const id of readdirSync(allocs)) {
      if (!/^[0-9a-f-]{36}$/.test(id) || !existsSync(`/var/run/netns/${id}`)) continue;
      try {
        execFileSync('ip', ['netns', 'delete', id], { stdio: 'ignore' });
      } catch {
        // in use or gone
      }
    }
  }
}

/** Stops agents of an earlier run of this cluster whose test process died. */
function reapOrphans(root: string, log: (line: string) => void): void {
  if (!existsSync(root)) return;
  for (const agent of readdirSync(root)) {
    const recordPath = join(root, agent, 'pid.json');
    if (!existsSync(recordPath)) continue;
    let record: AgentRecord;
    try {
      record = JSON.parse(readFileSync(recordPath, 'utf8')) as AgentRecord;
    } catch {
      continue;
    }
    let ownerAlive = true;
    try {
      process.kill(record.owner, 0);
    } catch {
      ownerAlive = false;
    }
    if (ownerAlive && record.owner !== process.pid) {
      throw new HarnessError(`the Nomad cluster in ${root} is in use by process ${record.owner}; use another name`);
    }
    if (isOurProcess(record.pid, record.binary)) {
      log(`stopping an orphaned Nomad agent (pid ${record.pid}) left by process ${record.owner}`);
      signalProcess(record.pid, 'SIGKILL');
    }
  }
}

/**
 * Builds Nomad if needed and starts a fresh cluster: the server, then each client with its own
 * Podman service and the busybox image, and waits until every client is a ready node with a
 * healthy docker driver.
 */
export async function startNomadCluster(options: NomadClusterOptions = {}): Promise<NomadCluster> {
  const name = options.name ?? 'default';
  const clientCount = options.clients ?? 2;
  const acl = options.acl ?? false;
  const datacenter = options.datacenter ?? 'dc1';
  const log = options.log ?? ((line: string) => process.stderr.write(`nomad: ${line}\n`));
  if (!existsSync(join(CNI_PATH, 'bridge'))) {
    throw new HarnessError(
      `Nomad's bridge networking needs the CNI plugins in ${CNI_PATH}: apt-get install -y containernetworking-plugins`,
    );
  }
  const binary = await ensureNomad(log);
  const root = join(cacheDir(), 'nomad', 'clusters', name);
  mkdirSync(join(cacheDir(), 'nomad', 'clusters'), { recursive: true });
  return withLock(`${root}.lock`, log, async () => {
    reapOrphans(root, log);
    releaseAllocations(root);
    rmSync(root, { recursive: true, force: true });
    const serverPorts = await agentPorts();
    const server = new NomadAgent(
      binary.path,
      join(root, 'server'),
      'server',
      serverPorts,
      serverConfig({ name: `${name}-server`, dataDir: join(root, 'server', 'data'), ports: serverPorts, acl }),
    );
    await server.start();
    const subnets = bridgeSubnets(name, clientCount);
    const clients: NomadClientAgent[] = [];
    let busybox = '';
    try {
      for (let i = 0; i < clientCount; i++) {
        const podman = await startPodmanService({ store: `nomad-${name}-${i + 1}`, log });
        await removeNomadContainers(podman);
        busybox = (await buildBusyboxImage(podman.client, { log })).reference;
        const ports = await agentPorts();
        const agentName = `client-${i + 1}`;
        const agent = new NomadAgent(
          binary.path,
          join(root, agentName),
          agentName,
          ports,
          clientConfig({
            name: `${name}-${agentName}`,
            dataDir: join(root, agentName, 'data'),
            ports,
            servers: [`127.0.0.1:${serverPorts.rpc}`],
            datacenter,
            bridgeName: `vkn${createHash('sha256').update(name).digest('hex').slice(0, 6)}${i + 1}`,
            bridgeSubnet: subnets[i] as string,
            dockerEndpoint: podman.address,
            acl,
            cniPath: CNI_PATH,
            ...(options.cpuTotalCompute ? { cpuTotalCompute: options.cpuTotalCompute } : {}),
            ...(options.memoryTotalMB ? { memoryTotalMB: options.memoryTotalMB } : {}),
          }),
        );
        clients.push({ agent, podman, nodeId: '', bridgeSubnet: subnets[i] as string });
        await agent.start();
      }
    } catch (error) {
      for (const client of clients) {
        await client.agent.stop();
        await client.podman.close();
      }
      await server.stop();
      throw error;
    }
    let managementToken: string | undefined;
    const cluster = () =>
      new NomadCluster({ name, version: binary.version, server, clients, busybox, managementToken, datacenter, root });
    await waitForLeader(cluster());
    if (acl) {
      const bootstrap = await cluster().api<{ SecretID: string }>('POST', '/v1/acl/bootstrap');
      managementToken = bootstrap.SecretID;
    }
    const ready = cluster();
    const nodesReady = await waitUntil(async () => {
      const nodes = await ready.api<
        { ID: string; Name: string; Status: string; Drivers: Record<string, { Healthy: boolean }> }[]
      >('GET', '/v1/nodes');
      for (const [i, client] of clients.entries()) {
        const node = nodes.find((n) => n.Name === `${name}-client-${i + 1}` && n.Status === 'ready');
        if (!node?.Drivers.docker?.Healthy) return false;
        client.nodeId = node.ID;
      }
      return true;
    }, READY_TIMEOUT_MS);
    if (!nodesReady) {
      await ready.stop();
      throw new HarnessError(
        `the Nomad clients did not become ready nodes with a healthy docker driver; logs: ${clients.map((c) => c.agent.logPath).join(', ')}`,
      );
    }
    log(`Nomad ${binary.version}: server ${server.address}, ${clients.length} clients`);
    return ready;
  });
}
