/**
 * The real metrics-server (`sigs.k8s.io/metrics-server`) for e2e tests of `kubectl top`: built
 * from the module pinned in tools/metrics-server/go.mod into the same cache as the control plane,
 * run as a local process on 127.0.0.1 and registered with the API server's aggregation layer.
 *
 * How the aggregator reaches a process on loopback: the cluster runs with
 * `--enable-aggregator-routing=true`, so the API server resolves an APIService's Service to one
 * of its EndpointSlice endpoints, and rejects Services of type ExternalName ("unsupported service
 * type"). IPv4/IPv6 endpoints may not be loopback addresses, but an `FQDN` endpoint is only
 * checked to be a dotted DNS name, and "127.0.0.1" is one; the API server then dials that literal.
 * (With aggregator routing off, an ExternalName Service for `localhost` would do instead.)
 */
import { type ChildProcess, execFile, execFileSync, spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { kubeconfigDocument } from '../../src/kube/kubeconfig.ts';
import { issueCertificate } from '../../src/tls/x509.ts';
import { cacheDir, checkGo, goEnv, HarnessError, runLogged } from './binaries.ts';
import { withLock } from './lock.ts';
import { readCA } from './pki.ts';
import { freePort, readTail, signalProcess, stopProcess } from './processes.ts';
import { type TestCluster, waitFor } from './testing.ts';

const execFileAsync = promisify(execFile);

/** The directory of the pinned Go module. */
export const METRICS_SERVER_MODULE_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '..', 'metrics-server');

const COMMAND = 'sigs.k8s.io/metrics-server/cmd/metrics-server';
const NAMESPACE = 'kube-system';
const NAME = 'metrics-server';
const API_SERVICE = 'v1beta1.metrics.k8s.io';
const MANAGED_BY = 'virtual-kubelet-test-harness';
// Server-side apply; forcing conflicts lets the harness take over objects an earlier install left.
const APPLY = ['apply', '--server-side', '--force-conflicts', '--field-manager', MANAGED_BY, '-f', '-'];

export interface MetricsServerBinary {
  /** The metrics-server release, e.g. `v0.9.0`. */
  version: string;
  path: string;
}

/** The release pinned in tools/metrics-server/go.mod. */
export function pinnedMetricsServerVersion(): string {
  const goMod = readFileSync(join(METRICS_SERVER_MODULE_DIR, 'go.mod'), 'utf8');
  const version = /^\s*sigs\.k8s\.io\/metrics-server (v\S+)/m.exec(goMod)?.[1];
  if (!version) throw new HarnessError(`${METRICS_SERVER_MODULE_DIR}/go.mod does not pin sigs.k8s.io/metrics-server`);
  return version;
}

/**
 * Returns the metrics-server binary, building it first when the cache does not have it:
 * `<cache>/metrics-server/<version>/bin/metrics-server`. `METRICS_SERVER_VERSION=v0.8.0` builds
 * another release; `METRICS_SERVER_BINARY=/path` uses an existing binary.
 */
export async function ensureMetricsServer(log: (line: string) => void = () => {}): Promise<MetricsServerBinary> {
  const existing = process.env.METRICS_SERVER_BINARY;
  if (existing) {
    if (!existsSync(existing)) {
      throw new HarnessError(`METRICS_SERVER_BINARY=${existing} does not exist; unset it to build from source`);
    }
    return { version: (await execFileAsync(existing, ['--version'])).stdout.trim(), path: existing };
  }
  const pinned = pinnedMetricsServerVersion();
  const version = process.env.METRICS_SERVER_VERSION || pinned;
  if (!/^v\d+\.\d+\.\d+$/.test(version)) {
    throw new HarnessError(`METRICS_SERVER_VERSION must look like v0.9.0, not "${version}"`);
  }
  const root = join(cacheDir(), 'metrics-server', version);
  const path = join(root, 'bin', 'metrics-server');
  const stampPath = join(root, 'complete.json');
  const cached = () => existsSync(stampPath) && existsSync(path);
  if (cached()) return { version, path };
  mkdirSync(root, { recursive: true });
  return withLock(join(root, 'build.lock'), log, async () => {
    if (cached()) return { version, path };
    const started = Date.now();
    const goVersion = await checkGo(
      'metrics-server is built from its official Go module',
      'set METRICS_SERVER_BINARY to a metrics-server binary',
    );
    log(`building metrics-server ${version} from its Go module with ${goVersion} (the first build takes minutes)`);
    const moduleDir = join(root, 'module');
    mkdirSync(moduleDir, { recursive: true });
    const logPath = join(root, 'build.log');
    rmSync(logPath, { force: true });
    const env = goEnv();
    if (version === pinned) {
      for (const file of ['go.mod', 'go.sum']) {
        writeFileSync(join(moduleDir, file), readFileSync(join(METRICS_SERVER_MODULE_DIR, file)));
      }
    } else {
      writeFileSync(join(moduleDir, 'go.mod'), 'module virtual-kubelet.local/tools/metrics-server\n\ngo 1.26.0\n');
      rmSync(join(moduleDir, 'go.sum'), { force: true });
      await runLogged('go', ['get', '-tool', `${COMMAND}@${version}`], moduleDir, env, logPath);
      await runLogged('go', ['mod', 'tidy'], moduleDir, env, logPath);
    }
    await runLogged(
      'go',
      ['build', '-trimpath', '-ldflags', versionLdflags(version), '-o', path, COMMAND],
      moduleDir,
      env,
      logPath,
    );
    writeFileSync(stampPath, `${JSON.stringify({ version, goVersion, builtAt: new Date().toISOString() })}\n`);
    log(`built metrics-server ${version} in ${Math.round((Date.now() - started) / 1000)} s into ${path}`);
    return { version, path };
  });
}

/**
 * metrics-server reports client-go's version (`--version`, OpenAPI info), as its own Makefile
 * stamps it. component-base's version stays unset: it is the Kubernetes version the library
 * code emulates, not metrics-server's.
 */
function versionLdflags(version: string): string {
  const buildDate = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
  const values = { gitVersion: version, gitTreeState: 'clean', buildDate };
  const flags = ['-s', '-w'];
  for (const [key, value] of Object.entries(values)) flags.push(`-X 'k8s.io/client-go/pkg/version.${key}=${value}'`);
  return flags.join(' ');
}

export interface MetricsServerOptions {
  /** How often it scrapes the kubelets; metrics-server's minimum is 10 s. Default `10s`. */
  metricResolution?: string;
  /** Per-scrape timeout; must stay under 90% of the resolution. Default `5s`. */
  kubeletRequestTimeout?: string;
  /**
   * Skip verifying kubelet serving certificates. By default they must be signed by the cluster's
   * kubelet CA (`pki/kubelet-ca.crt`), as virtual nodes' certificates are.
   */
  kubeletInsecureTLS?: boolean;
  /** klog verbosity (`--v`); 4 and up logs every scrape. Default 2. */
  verbosity?: number;
  /** How long to wait for the API server to serve `metrics.k8s.io`. Default 120 s. */
  readyTimeoutMs?: number;
  log?: (line: string) => void;
}

/** A running metrics-server registered as `v1beta1.metrics.k8s.io`. */
export interface MetricsServer {
  readonly version: string;
  /** The binary it runs. */
  readonly binary: string;
  readonly pid: number;
  /** Its HTTPS port on 127.0.0.1. */
  readonly port: number;
  readonly logPath: string;
  /** Unregisters the APIService, stops the process and removes the Service. Idempotent. */
  stop(): Promise<void>;
}

interface RecordedProcess {
  pid: number;
  binary: string;
}

/**
 * Builds (once) and starts metrics-server for `cluster`, registers it with the aggregator, and
 * resolves once `kubectl get --raw /apis/metrics.k8s.io/v1beta1` answers. The APIService is one
 * per cluster, so a second caller (another test process) waits until the first one stops.
 */
export async function startMetricsServer(
  cluster: TestCluster,
  options: MetricsServerOptions = {},
): Promise<MetricsServer> {
  const log = options.log ?? (() => {});
  const binary = await ensureMetricsServer(log);
  const { info } = cluster;
  const stateDir = join(info.dir, 'metrics-server');
  const logPath = join(info.dir, 'logs', 'metrics-server.log');
  mkdirSync(stateDir, { recursive: true });
  mkdirSync(dirname(logPath), { recursive: true });

  let release: () => void = () => {};
  const released = new Promise<void>((resolveReleased) => {
    release = resolveReleased;
  });
  let lockHeld: Promise<void> = Promise.resolve();
  await new Promise<void>((acquired, failed) => {
    lockHeld = withLock(join(info.dir, 'metrics-server.lock'), log, async () => {
      acquired();
      await released;
    });
    lockHeld.catch(failed);
  });

  const recordPath = join(stateDir, 'process.json');
  let child: ChildProcess | undefined;
  let port = 0;
  let stopped = false;

  const unregister = (): void => {
    // Synchronous so that it can also run while the test process exits.
    try {
      execFileSync(
        info.kubectl,
        ['--kubeconfig', info.kubeconfig, 'delete', 'apiservice', API_SERVICE, '--ignore-not-found'],
        { stdio: 'ignore', timeout: 10_000 },
      );
    } catch {
      // The cluster is gone or unreachable: nothing left to unregister.
    }
  };
  const onExit = (): void => {
    if (stopped) return;
    unregister();
    if (child?.pid !== undefined) signalProcess(child.pid, 'SIGKILL');
  };

  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    process.off('exit', onExit);
    try {
      // The APIService goes first: while it points at nothing, every kubectl discovery in the
      // tests running beside this one would print errors about metrics.k8s.io.
      unregister();
      if (child?.pid !== undefined) await stopProcess(child.pid, binary.path);
      await cluster.kubectl([
        'delete',
        '--namespace',
        NAMESPACE,
        '--ignore-not-found',
        '--wait=false',
        `service/${NAME}`,
        `endpointslice/${NAME}-local`,
      ]);
      rmSync(recordPath, { force: true });
    } finally {
      release();
      await lockHeld;
    }
  };

  const failure = (message: string): HarnessError =>
    new HarnessError(`${message}; metrics-server log: ${logPath}\n${readTail(logPath, 20)}`);

  try {
    await stopOrphan(recordPath);
    const pki = (file: string) => join(info.pkiDir, file);
    const certFile = join(stateDir, 'serving.crt');
    const keyFile = join(stateDir, 'serving.key');
    const serving = issueCertificate(readCA(info.pkiDir, 'ca'), {
      subject: { commonName: NAME },
      extendedKeyUsage: ['serverAuth'],
      // The aggregator verifies the name `<service>.<namespace>.svc`, whatever address it dials.
      altNames: [`${NAME}.${NAMESPACE}.svc`, 'localhost', '127.0.0.1'],
    });
    writeFileSync(certFile, serving.certificate);
    writeFileSync(keyFile, serving.key, { mode: 0o600 });

    await kubectlOrFail(cluster, APPLY, logPath, {
      input: JSON.stringify({ apiVersion: 'v1', kind: 'List', items: rbacObjects() }),
    });
    const token = await kubectlOrFail(
      cluster,
      ['create', 'token', NAME, '--namespace', NAMESPACE, '--duration', '24h'],
      logPath,
    );
    const kubeconfig = join(stateDir, 'kubeconfig');
    writeFileSync(
      kubeconfig,
      kubeconfigDocument({ name: NAME, server: info.server, caFile: pki('ca.crt'), token: token.trim() }),
      { mode: 0o600 },
    );

    process.on('exit', onExit);
    for (let attempt = 1; ; attempt++) {
      port = await freePort();
      const args = [
        '--bind-address=127.0.0.1',
        `--secure-port=${port}`,
        `--tls-cert-file=${certFile}`,
        `--tls-private-key-file=${keyFile}`,
        `--kubeconfig=${kubeconfig}`,
        // Delegated authentication and authorization, as an aggregated API server does: the
        // aggregator's requests carry the user in headers, signed by the front-proxy CA.
        `--authentication-kubeconfig=${kubeconfig}`,
        `--authorization-kubeconfig=${kubeconfig}`,
        `--client-ca-file=${pki('ca.crt')}`,
        `--requestheader-client-ca-file=${pki('front-proxy-ca.crt')}`,
        '--requestheader-allowed-names=front-proxy-client',
        '--requestheader-username-headers=X-Remote-User',
        '--requestheader-group-headers=X-Remote-Group',
        '--requestheader-extra-headers-prefix=X-Remote-Extra-',
        // Virtual nodes report an InternalIP and their kubelet port in the node status.
        '--kubelet-preferred-address-types=InternalIP',
        '--kubelet-use-node-status-port',
        options.kubeletInsecureTLS
          ? '--kubelet-insecure-tls'
          : `--kubelet-certificate-authority=${pki('kubelet-ca.crt')}`,
        `--metric-resolution=${options.metricResolution ?? '10s'}`,
        `--kubelet-request-timeout=${options.kubeletRequestTimeout ?? '5s'}`,
        `--v=${options.verbosity ?? 2}`,
      ];
      const fd = openSync(logPath, 'a');
      try {
        writeFileSync(fd, `\n--- ${new Date().toISOString()} ${binary.path} ${args.join(' ')}\n`);
        child = spawn(binary.path, args, { stdio: ['ignore', fd, fd], cwd: stateDir });
      } finally {
        closeSync(fd);
      }
      const pid = child.pid;
      if (pid === undefined) throw failure(`could not start ${binary.path}`);
      child.unref();
      writeFileSync(recordPath, `${JSON.stringify({ pid, binary: binary.path } satisfies RecordedProcess)}\n`);
      const outcome = await waitServing(child, port, readFileSync(pki('ca.crt')), options.readyTimeoutMs ?? 120_000);
      if (outcome === 'serving') break;
      const tail = readTail(logPath, 20);
      if (outcome === 'exited' && /address already in use/i.test(tail) && attempt < 3) {
        log(`metrics-server: port ${port} was taken, trying another`);
        continue;
      }
      throw failure(
        outcome === 'exited' ? 'metrics-server exited' : `metrics-server did not serve https://127.0.0.1:${port}/livez`,
      );
    }
    log(`metrics-server ${binary.version} is up (pid ${child.pid}, port ${port}); registering ${API_SERVICE}`);

    await kubectlOrFail(cluster, APPLY, logPath, {
      input: JSON.stringify({ apiVersion: 'v1', kind: 'List', items: aggregationObjects(port, info.pkiDir) }),
    });
    try {
      await waitFor(
        `the API server to serve /apis/metrics.k8s.io/v1beta1`,
        async () => {
          if (child && hasExited(child)) throw new Error('metrics-server exited');
          const result = await cluster.kubectl(['get', '--raw', '/apis/metrics.k8s.io/v1beta1'], { timeoutMs: 10_000 });
          if (result.code !== 0) throw new Error(result.stderr.trim());
          return true;
        },
        { timeoutMs: options.readyTimeoutMs ?? 120_000, intervalMs: 250 },
      );
    } catch (error) {
      const condition = await cluster.kubectl([
        'get',
        'apiservice',
        API_SERVICE,
        '-o',
        'jsonpath={.status.conditions[?(@.type=="Available")].message}',
      ]);
      throw failure(
        `${error instanceof Error ? error.message : String(error)} (APIService ${API_SERVICE}: ${condition.stdout || condition.stderr})`,
      );
    }
  } catch (error) {
    const wrapped =
      error instanceof HarnessError
        ? error
        : failure(`starting metrics-server failed: ${error instanceof Error ? error.message : String(error)}`);
    await stop();
    throw wrapped;
  }

  const pid = child.pid ?? 0;
  return { version: binary.version, binary: binary.path, pid, port, logPath, stop };
}

/** The ServiceAccount and the RBAC rules of metrics-server's upstream manifests. */
function rbacObjects(): object[] {
  const rbac = 'rbac.authorization.k8s.io';
  const subjects = [{ kind: 'ServiceAccount', name: NAME, namespace: NAMESPACE }];
  return [
    { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: NAME, namespace: NAMESPACE } },
    {
      // Whoever may view, edit or administer a namespace may read its metrics (`kubectl top`).
      apiVersion: `${rbac}/v1`,
      kind: 'ClusterRole',
      metadata: {
        name: 'system:aggregated-metrics-reader',
        labels: Object.fromEntries(
          ['view', 'edit', 'admin'].map((role) => [`rbac.authorization.k8s.io/aggregate-to-${role}`, 'true']),
        ),
      },
      rules: [{ apiGroups: ['metrics.k8s.io'], resources: ['pods', 'nodes'], verbs: ['get', 'list', 'watch'] }],
    },
    {
      apiVersion: `${rbac}/v1`,
      kind: 'ClusterRole',
      metadata: { name: 'system:metrics-server' },
      rules: [
        { apiGroups: [''], resources: ['nodes/metrics'], verbs: ['get'] },
        { apiGroups: [''], resources: ['pods', 'nodes'], verbs: ['get', 'list', 'watch'] },
      ],
    },
    {
      apiVersion: `${rbac}/v1`,
      kind: 'ClusterRoleBinding',
      metadata: { name: 'system:metrics-server' },
      roleRef: { apiGroup: rbac, kind: 'ClusterRole', name: 'system:metrics-server' },
      subjects,
    },
    {
      // TokenReviews and SubjectAccessReviews for delegated authentication and authorization.
      apiVersion: `${rbac}/v1`,
      kind: 'ClusterRoleBinding',
      metadata: { name: 'metrics-server:system:auth-delegator' },
      roleRef: { apiGroup: rbac, kind: 'ClusterRole', name: 'system:auth-delegator' },
      subjects,
    },
    {
      // The extension-apiserver-authentication ConfigMap (client and front-proxy CAs).
      apiVersion: `${rbac}/v1`,
      kind: 'RoleBinding',
      metadata: { name: 'metrics-server-auth-reader', namespace: NAMESPACE },
      roleRef: { apiGroup: rbac, kind: 'Role', name: 'extension-apiserver-authentication-reader' },
      subjects,
    },
  ];
}

/** A selector-less Service, its one endpoint on loopback (see the file comment) and the APIService. */
function aggregationObjects(port: number, pkiDir: string): object[] {
  const labels = { 'app.kubernetes.io/managed-by': MANAGED_BY };
  return [
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: NAME, namespace: NAMESPACE, labels },
      spec: { type: 'ClusterIP', ports: [{ name: 'https', port: 443, protocol: 'TCP', targetPort: port }] },
    },
    {
      apiVersion: 'discovery.k8s.io/v1',
      kind: 'EndpointSlice',
      metadata: {
        name: `${NAME}-local`,
        namespace: NAMESPACE,
        labels: {
          ...labels,
          'kubernetes.io/service-name': NAME,
          // Not the endpointslice controller's: it must leave this slice alone.
          'endpointslice.kubernetes.io/managed-by': MANAGED_BY,
        },
      },
      addressType: 'FQDN',
      endpoints: [{ addresses: ['127.0.0.1'], conditions: { ready: true } }],
      ports: [{ name: 'https', port, protocol: 'TCP' }],
    },
    {
      apiVersion: 'apiregistration.k8s.io/v1',
      kind: 'APIService',
      metadata: { name: API_SERVICE, labels },
      spec: {
        group: 'metrics.k8s.io',
        version: 'v1beta1',
        service: { name: NAME, namespace: NAMESPACE, port: 443 },
        caBundle: readFileSync(join(pkiDir, 'ca.crt')).toString('base64'),
        groupPriorityMinimum: 100,
        versionPriority: 100,
      },
    },
  ];
}

async function kubectlOrFail(
  cluster: TestCluster,
  args: string[],
  logPath: string,
  options: { input?: string } = {},
): Promise<string> {
  const result = await cluster.kubectl(args, options);
  if (result.code !== 0) {
    throw new HarnessError(
      `kubectl ${args.slice(0, 2).join(' ')} failed (exit ${result.code}): ${result.stderr.trim()}; metrics-server log: ${logPath}`,
    );
  }
  return result.stdout;
}

/** Waits until metrics-server answers /livez over TLS (it serves only after its informers synced). */
async function waitServing(
  child: ChildProcess,
  port: number,
  ca: Buffer,
  timeoutMs: number,
): Promise<'serving' | 'exited' | 'timeout'> {
  const exited = new Promise<'exited'>((resolveExited) => {
    if (hasExited(child)) resolveExited('exited');
    child.once('exit', () => resolveExited('exited'));
  });
  const serving = waitFor(
    `metrics-server on port ${port}`,
    async () => {
      if (hasExited(child)) return 'exited' as const;
      return (await httpsStatus(`https://127.0.0.1:${port}/livez`, ca)) === 200 ? ('serving' as const) : undefined;
    },
    { timeoutMs, intervalMs: 200 },
  ).catch(() => 'timeout' as const);
  return Promise.race([serving, exited]);
}

function hasExited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

function httpsStatus(url: string, ca: Buffer): Promise<number> {
  return new Promise((resolveStatus, reject) => {
    const req = httpsRequest(url, { ca, timeout: 2000 }, (res) => {
      res.resume();
      resolveStatus(res.statusCode ?? 0);
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

/** Kills a metrics-server left running by a test process that died before stopping it. */
async function stopOrphan(recordPath: string): Promise<void> {
  let recorded: RecordedProcess;
  try {
    recorded = JSON.parse(readFileSync(recordPath, 'utf8')) as RecordedProcess;
  } catch {
    return;
  }
  await stopProcess(recorded.pid, recorded.binary);
  rmSync(recordPath, { force: true });
}
