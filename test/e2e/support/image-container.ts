/**
 * The container image (`npm run image`) run by the podman CLI on a test's own Podman store, the
 * way a kubelet would run it as a pod: what the image tests share — the CLI over the store, the
 * service-account directory a pod gets mounted, waiting for the node the container registers,
 * and a pod whose `kubectl logs` must reach the container's kubelet API.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmodSync, copyFileSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Node, Pod } from 'kubernetes-types/core/v1.js';
import { Nodes, Pods } from '../../../src/kube/resources.ts';
import { type TestCluster, waitFor } from '../../../tools/kube/testing.ts';
import type { PodmanService } from '../../../tools/podman/service.ts';

/** Where the kubelet mounts a pod's service-account token, CA and namespace. */
export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** One named container on the service's store (the store the image was built into). */
export class ImageContainer {
  readonly name: string;
  readonly #podman: PodmanService;

  constructor(podman: PodmanService, name: string) {
    this.#podman = podman;
    this.name = name;
  }

  /** `--root`/`--runroot` of the store, for the podman CLI and the image build. */
  get podmanArgs(): string[] {
    return ['--root', this.#podman.store.graphRoot, '--runroot', this.#podman.store.runRoot];
  }

  get podmanEnv(): Record<string, string> {
    return { CONTAINERS_CONF: this.#podman.store.containersConf };
  }

  /** The podman CLI over the store; never rejects (the exit code says how it went). */
  cli(args: string[]): Promise<CliResult> {
    return new Promise((resolveRun) => {
      execFile(
        'podman',
        [...this.podmanArgs, ...args],
        { env: { ...process.env, ...this.podmanEnv }, timeout: 120_000 },
        (error, stdout, stderr) =>
          resolveRun({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr }),
      );
    });
  }

  /** What the container printed, stdout and stderr. */
  async log(): Promise<string> {
    const logs = await this.cli(['logs', this.name]);
    return logs.stdout + logs.stderr;
  }

  async inspect(format: string): Promise<string> {
    return (await this.cli(['inspect', '--format', format, this.name])).stdout.trim();
  }

  async remove(): Promise<void> {
    await this.cli(['rm', '--force', '--time', '0', this.name]);
  }

  /** `podman stop` (SIGTERM, SIGKILL after the grace period): the exit code must be 0, the CLI stopping by itself. */
  async stopsCleanly(graceSeconds: number): Promise<void> {
    const stop = await this.cli(['stop', '--time', String(graceSeconds), this.name]);
    assert.equal(stop.code, 0, stop.stderr);
    assert.equal(await this.inspect('{{.State.ExitCode}}'), '0', await this.log());
  }
}

/**
 * A directory with what the kubelet mounts into a pod: a TokenRequest token of `serviceAccount`,
 * the cluster CA and the namespace, readable by the image's non-root user.
 */
export async function serviceAccountFiles(
  cluster: TestCluster,
  serviceAccount: { name: string; namespace: string },
): Promise<string> {
  const token = await cluster.kubectl([
    'create',
    'token',
    serviceAccount.name,
    '-n',
    serviceAccount.namespace,
    '--duration=1h',
  ]);
  assert.equal(token.code, 0, token.stderr);
  const dir = mkdtempSync(join(tmpdir(), 'vk-image-sa-'));
  writeFileSync(join(dir, 'token'), token.stdout.trim());
  copyFileSync(join(cluster.info.pkiDir, 'ca.crt'), join(dir, 'ca.crt'));
  writeFileSync(join(dir, 'namespace'), serviceAccount.namespace);
  for (const file of ['token', 'ca.crt', 'namespace']) chmodSync(join(dir, file), 0o644);
  chmodSync(dir, 0o755);
  return dir;
}

/** Waits until the container's node is Ready; fails with the container's log if the container stops. */
export async function waitForNodeReady(
  cluster: TestCluster,
  container: ImageContainer,
  nodeName: string,
  how: string,
): Promise<Node> {
  await waitFor(
    `node ${nodeName} Ready, ${how}`,
    async () => {
      const state = await container.inspect('{{.State.Status}}');
      if (state !== 'running') throw new Error(`container ${state}:\n${await container.log()}`);
      const node = await cluster.client.get<Node>(Nodes, { name: nodeName }).catch(() => undefined);
      return node?.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True');
    },
    { timeoutMs: 60_000, intervalMs: 250 },
  );
  return cluster.client.get<Node>(Nodes, { name: nodeName });
}

/**
 * Runs a mock pod `web` on the node and reads its logs through the container's kubelet API: in
 * CSR mode the node first asks for its serving certificate, which the test approves as an
 * administrator would. Returns the last two log lines.
 */
export async function podLogsThroughTheContainer(
  cluster: TestCluster,
  container: ImageContainer,
  pod: { namespace: string; nodeName: string },
): Promise<string> {
  const { namespace, nodeName } = pod;
  await cluster.client.create(Pods, {
    metadata: { name: 'web', namespace },
    spec: {
      nodeName,
      tolerations: [{ key: 'virtual-kubelet.io/provider', operator: 'Exists' }],
      containers: [{ name: 'web', image: 'nginx' }],
    },
  } as Pod);
  await waitFor(
    'pod web Running on the node',
    async () => (await cluster.client.get<Pod>(Pods, { namespace, name: 'web' })).status?.phase === 'Running',
    { timeoutMs: 60_000, intervalMs: 250 },
  );
  const csr = await waitFor(
    'the node to ask for its serving certificate',
    async () => /kubectl certificate approve (csr-[a-z0-9]+)/.exec(await container.log())?.[1],
    { timeoutMs: 30_000, intervalMs: 250 },
  );
  const approved = await cluster.kubectl(['certificate', 'approve', csr]);
  assert.equal(approved.code, 0, approved.stderr);
  const logs = await waitFor(
    'kubectl logs through the kubelet API in the container',
    async () => {
      const result = await cluster.kubectl(['logs', '-n', namespace, 'web', '--tail', '2']);
      return result.code === 0 && result.stdout.trim() !== '' ? result.stdout : undefined;
    },
    { timeoutMs: 30_000, intervalMs: 500 },
  );
  assert.match(logs, new RegExp(`^line \\d+ of ${namespace}/web/web$`, 'm'), "the mock container's own lines");
  return logs;
}
