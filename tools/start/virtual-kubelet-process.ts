/**
 * The virtual kubelet `npm start` runs: the published executable (bin/virtual-kubelet.js, so the
 * build is what runs) with the least-privilege credentials of deploy/rbac.yaml and a serving
 * certificate from the local cluster's kubelet CA, so `kubectl logs` and `exec` reach it.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { kubeconfigDocument } from '../../src/kube/kubeconfig.ts';
import { issueCertificate } from '../../src/tls/x509.ts';
import { HarnessError } from '../kube/binaries.ts';
import type { ClusterInfo } from '../kube/cluster.ts';
import { readCA } from '../kube/pki.ts';
import { freePort, isOurProcess, stopProcess } from '../kube/processes.ts';

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Runs the cluster's kubectl as admin; rejects with its stderr. */
export function kubectl(info: ClusterInfo, args: string[]): Promise<string> {
  return new Promise((resolveRun, reject) => {
    execFile(info.kubectl, ['--kubeconfig', info.kubeconfig, ...args], { timeout: 60_000 }, (error, stdout, stderr) => {
      if (error) reject(new HarnessError(`kubectl ${args.join(' ')}: ${stderr.trim() || error.message}`));
      else resolveRun(stdout);
    });
  });
}

/**
 * A kubeconfig for the `virtual-kubelet` ServiceAccount bound by deploy/rbac.yaml, with a token
 * from the TokenRequest API (valid a year: the cluster is for this machine only).
 */
export async function virtualKubeletKubeconfig(info: ClusterInfo, dir: string): Promise<string> {
  mkdirSync(dir, { recursive: true });
  await kubectl(info, ['apply', '-f', join(REPO_ROOT, 'deploy', 'rbac.yaml')]);
  const token = (
    await kubectl(info, ['create', 'token', 'virtual-kubelet', '-n', 'kube-system', '--duration=8760h'])
  ).trim();
  const path = join(dir, 'virtual-kubelet.kubeconfig');
  writeFileSync(
    path,
    kubeconfigDocument({ name: 'virtual-kubelet', server: info.server, caFile: join(info.pkiDir, 'ca.crt'), token }),
    { mode: 0o600 },
  );
  return path;
}

export interface VirtualKubeletOptions {
  info: ClusterInfo;
  nodeName: string;
  provider: 'mock' | 'podman';
  /** The provider's configuration (written as JSON). */
  providerConfig: Record<string, unknown>;
  kubeconfig: string;
  /** Holds the config, the serving certificate and the log. */
  dir: string;
}

export interface StartedVirtualKubelet {
  child: ChildProcess & { pid: number };
  logPath: string;
  kubeletPort: number;
}

/**
 * Starts the virtual kubelet in a process group of its own: a Ctrl-C in the terminal reaches
 * `npm start` alone, which then stops the node with one SIGTERM (a second signal would make the
 * CLI exit at once, skipping its clean stop).
 */
export async function startVirtualKubelet(options: VirtualKubeletOptions): Promise<StartedVirtualKubelet> {
  const { info, nodeName, dir } = options;
  mkdirSync(dir, { recursive: true });
  const configPath = join(dir, 'provider-config.json');
  writeFileSync(configPath, `${JSON.stringify(options.providerConfig, null, 2)}\n`);
  // The API server verifies the kubelet API's certificate against the kubelet CA.
  const pair = issueCertificate(readCA(info.pkiDir, 'kubelet-ca'), {
    subject: { commonName: `system:node:${nodeName}`, organizations: ['system:nodes'] },
    extendedKeyUsage: ['serverAuth'],
    altNames: ['127.0.0.1', 'localhost', nodeName],
  });
  writeFileSync(join(dir, 'serving.crt'), pair.certificate);
  writeFileSync(join(dir, 'serving.key'), pair.key, { mode: 0o600 });
  // A virtual kubelet whose npm start was SIGKILLed (its own group kept it alive) would run the
  // same node twice.
  const pidFile = join(dir, 'virtual-kubelet.pid');
  if (existsSync(pidFile)) {
    const leftover = Number(readFileSync(pidFile, 'utf8'));
    if (leftover && isOurProcess(leftover, process.execPath)) await stopProcess(leftover, process.execPath);
  }
  const kubeletPort = await freePort();
  const logPath = join(dir, 'virtual-kubelet.log');
  const log = openSync(logPath, 'w');
  let child: ChildProcess;
  try {
    child = spawn(
      process.execPath,
      [
        '--max-semi-space-size=16', // as bin/virtual-kubelet.js's first line asks
        join(REPO_ROOT, 'bin', 'virtual-kubelet.js'),
        '--provider',
        options.provider,
        '--provider-config',
        configPath,
        '--nodename',
        nodeName,
        '--kubeconfig',
        options.kubeconfig,
        '--metrics-addr',
        '127.0.0.1:0',
        '--healthz-port',
        '0',
        '--log-format',
        'text',
      ],
      {
        detached: true,
        stdio: ['ignore', log, log],
        env: {
          ...process.env,
          // The API server reaches the kubelet API here (loopback: everything runs on this machine).
          VKUBELET_POD_IP: '127.0.0.1',
          KUBELET_PORT: String(kubeletPort),
          APISERVER_CERT_LOCATION: join(dir, 'serving.crt'),
          APISERVER_KEY_LOCATION: join(dir, 'serving.key'),
          APISERVER_CA_CERT_LOCATION: join(info.pkiDir, 'ca.crt'),
        },
      },
    );
  } finally {
    closeSync(log);
  }
  if (child.pid === undefined) throw new HarnessError(`could not start ${process.execPath}`);
  writeFileSync(pidFile, String(child.pid));
  return { child: child as ChildProcess & { pid: number }, logPath, kubeletPort };
}
