/**
 * The cluster harness as tests use it: one control plane per test run (started or reused once),
 * a namespace per test, and the real kubectl.
 *
 * `test/e2e/global-setup.ts` starts the cluster before any test file runs and passes its
 * kubeconfig on in `VK_TEST_KUBECONFIG`; a test file run on its own starts or reuses it itself.
 */

import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import type { Namespace, ServiceAccount } from 'kubernetes-types/core/v1.js';
import { isNotFound } from '../../src/errors.ts';
import { KubeClient } from '../../src/kube/client.ts';
import { loadKubeConfig } from '../../src/kube/kubeconfig.ts';
import { Namespaces, ServiceAccounts } from '../../src/kube/resources.ts';
import { waitFor } from '../../test/support/wait.ts';
import { type ClusterInfo, LocalCluster } from './cluster.ts';

export interface KubectlResult {
  stdout: string;
  stderr: string;
  code: number;
}

/** A kubectl that keeps running, with what it has printed so far. */
export class KubectlProcess {
  stdout = '';
  stderr = '';
  readonly #child: ChildProcess;

  constructor(child: ChildProcess) {
    this.#child = child;
    child.stdout?.on('data', (chunk: Buffer) => {
      this.stdout += chunk.toString();
    });
    child.stderr?.on('data', (chunk: Buffer) => {
      this.stderr += chunk.toString();
    });
  }

  /** Sends `text` to its stdin (an interactive `kubectl exec -i`). */
  write(text: string): void {
    this.#child.stdin?.write(text);
  }

  /** Whether it is still running. */
  get running(): boolean {
    return this.#child.exitCode === null && this.#child.signalCode === null;
  }

  stop(): void {
    this.#child.kill();
  }
}

export class TestCluster {
  readonly info: ClusterInfo;
  /** A client with the admin kubeconfig. */
  readonly client: KubeClient;

  constructor(info: ClusterInfo) {
    this.info = info;
    this.client = new KubeClient(loadKubeConfig({ path: info.kubeconfig }), { qps: 0 });
  }

  /** Runs the harness's kubectl with the admin kubeconfig; never throws on a non-zero exit. */
  kubectl(
    args: string[],
    options: { input?: string; timeoutMs?: number; env?: NodeJS.ProcessEnv } = {},
  ): Promise<KubectlResult> {
    return new Promise((resolve) => {
      const child = execFile(
        this.info.kubectl,
        ['--kubeconfig', this.info.kubeconfig, ...args],
        { timeout: options.timeoutMs ?? 60_000, maxBuffer: 64 * 1024 * 1024, env: { ...process.env, ...options.env } },
        (error, stdout, stderr) => {
          const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
          resolve({ stdout, stderr, code });
        },
      );
      if (options.input !== undefined) child.stdin?.end(options.input);
    });
  }

  /**
   * Starts a long-running kubectl (`logs -f`, `port-forward`) with the admin kubeconfig; its output
   * so far is in `stdout`/`stderr`. Stop it with `stop()`.
   */
  kubectlProcess(args: string[]): KubectlProcess {
    return new KubectlProcess(spawn(this.info.kubectl, ['--kubeconfig', this.info.kubeconfig, ...args]));
  }

  /**
   * Creates a namespace with a unique name and waits until the controller-manager has given it the
   * `default` ServiceAccount (pods are rejected before that).
   */
  async createNamespace(prefix = 'test'): Promise<string> {
    const name = `${prefix}-${randomBytes(3).toString('hex')}`;
    await this.client.create(Namespaces, { metadata: { name } } as Namespace);
    await waitFor(`ServiceAccount ${name}/default`, async () => {
      try {
        return await this.client.get<ServiceAccount>(ServiceAccounts, { namespace: name, name: 'default' });
      } catch (error) {
        if (isNotFound(error)) return undefined;
        throw error;
      }
    });
    return name;
  }

  /** Deletes a namespace without waiting for its contents to go. */
  async deleteNamespace(name: string): Promise<void> {
    try {
      await this.client.delete(Namespaces, { name });
    } catch (error) {
      if (!isNotFound(error)) throw error;
    }
  }
}

let shared: Promise<TestCluster> | undefined;

/** The cluster for this test run: the one the global setup started, or one started (or reused) now. */
export function testCluster(): Promise<TestCluster> {
  shared ??= (async () => {
    const cluster = new LocalCluster(process.env.VK_TEST_CLUSTER ?? 'default', (line) =>
      process.stderr.write(`cluster: ${line}\n`),
    );
    const info = cluster.info();
    if (process.env.VK_TEST_KUBECONFIG && info?.kubeconfig === process.env.VK_TEST_KUBECONFIG) {
      return new TestCluster(info);
    }
    return new TestCluster(await cluster.up());
  })();
  return shared;
}

/**
 * A control plane of its own, for tests that disrupt it (restarting the API server would break
 * the tests running beside them on the shared cluster). Stop it with `cluster.down()`.
 */
export async function dedicatedCluster(name: string): Promise<{ test: TestCluster; cluster: LocalCluster }> {
  const cluster = new LocalCluster(name, (line) => process.stderr.write(`cluster ${name}: ${line}\n`));
  const info = await cluster.up();
  return { test: new TestCluster(info), cluster };
}
export { waitFor };
