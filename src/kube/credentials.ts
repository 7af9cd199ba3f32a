/**
 * Per-request credentials for the API server: a static token, a token file that rotates
 * (projected service-account tokens), basic auth, or an exec credential plugin.
 * Client certificates are part of the TLS connection and live in the client's dispatcher.
 */
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { isAbsolute, resolve } from 'node:path';
import { ConfigError, errorMessage } from '../errors.ts';
import type { ClusterConnection, ExecCredentialConfig } from './kubeconfig.ts';

/** What an exec plugin returns (`ExecCredential.status`). */
export interface ExecCredentialStatus {
  token?: string;
  clientCertificateData?: string;
  clientKeyData?: string;
  expirationTimestamp?: string;
}

/** client-go re-reads token files once a minute; so do we. */
const TOKEN_FILE_REFRESH_MS = 60_000;

export class Credentials {
  readonly #connection: ClusterConnection;
  #tokenFileValue: string | undefined;
  #tokenFileReadAt = 0;
  #exec: ExecCredentialStatus | undefined;
  #execExpiresAt = 0;
  #execPending: Promise<ExecCredentialStatus> | undefined;

  constructor(connection: ClusterConnection) {
    this.#connection = connection;
  }

  /** The `Authorization` header value for the next request, or undefined. */
  async authorization(): Promise<string | undefined> {
    const c = this.#connection;
    if (c.token) return `Bearer ${c.token}`;
    if (c.tokenFile) return `Bearer ${await this.#readTokenFile(c.tokenFile)}`;
    if (c.exec) {
      const status = await this.execCredential();
      if (status.token) return `Bearer ${status.token}`;
      return undefined;
    }
    if (c.username !== undefined) {
      return `Basic ${Buffer.from(`${c.username}:${c.password ?? ''}`).toString('base64')}`;
    }
    return undefined;
  }

  /** Forgets cached credentials after a 401, so the next request fetches fresh ones. */
  invalidate(): void {
    this.#tokenFileReadAt = 0;
    this.#execExpiresAt = 0;
  }

  async #readTokenFile(path: string): Promise<string> {
    const now = Date.now();
    if (this.#tokenFileValue === undefined || now - this.#tokenFileReadAt > TOKEN_FILE_REFRESH_MS) {
      try {
        this.#tokenFileValue = (await readFile(path, 'utf8')).trim();
        this.#tokenFileReadAt = now;
      } catch (error) {
        if (this.#tokenFileValue === undefined) {
          throw new ConfigError(`cannot read token file ${path}: ${errorMessage(error)}`, { cause: error });
        }
      }
    }
    return this.#tokenFileValue ?? '';
  }

  /** Runs the exec plugin when there is no unexpired result; concurrent callers share one run. */
  async execCredential(): Promise<ExecCredentialStatus> {
    const exec = this.#connection.exec;
    if (!exec) return {};
    if (this.#exec && Date.now() < this.#execExpiresAt) return this.#exec;
    this.#execPending ??= runExecPlugin(exec, this.#connection.server).finally(() => {
      this.#execPending = undefined;
    });
    const status = await this.#execPending;
    this.#exec = status;
    // Without an expiry, the credential is good until a 401 invalidates it.
    this.#execExpiresAt = status.expirationTimestamp
      ? Date.parse(status.expirationTimestamp) - 10_000
      : Number.POSITIVE_INFINITY;
    return status;
  }
}

function runExecPlugin(exec: ExecCredentialConfig, server: string): Promise<ExecCredentialStatus> {
  const command =
    exec.command.includes('/') && !isAbsolute(exec.command) ? resolve(exec.baseDirectory, exec.command) : exec.command;
  const execInfo = {
    apiVersion: exec.apiVersion,
    kind: 'ExecCredential',
    spec: { interactive: false, cluster: { server } },
  };
  return new Promise((resolvePromise, reject) => {
    execFile(
      command,
      exec.args,
      { env: { ...process.env, ...exec.env, KUBERNETES_EXEC_INFO: JSON.stringify(execInfo) }, timeout: 60_000 },
      (error, stdout, stderr) => {
        if (error) {
          reject(
            new ConfigError(`exec credential plugin ${exec.command} failed: ${stderr.trim() || errorMessage(error)}`),
          );
          return;
        }
        try {
          const parsed = JSON.parse(stdout) as { status?: ExecCredentialStatus };
          if (!parsed.status) throw new Error('no status in its output');
          resolvePromise(parsed.status);
        } catch (parseError) {
          reject(new ConfigError(`exec credential plugin ${exec.command}: ${errorMessage(parseError)}`));
        }
      },
    );
  });
}
