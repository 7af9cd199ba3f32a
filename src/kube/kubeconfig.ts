/**
 * Finds and reads the credentials for the Kubernetes API, as kubectl and client-go do:
 * an explicit kubeconfig path, then `$KUBECONFIG` (a list of files, merged), then
 * `~/.kube/config`, then the in-cluster service account.
 */
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, dirname, isAbsolute, join, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { ConfigError, errorMessage } from '../errors.ts';

/** An exec credential plugin (`users[].user.exec`). */
export interface ExecCredentialConfig {
  command: string;
  args: string[];
  env: Record<string, string>;
  apiVersion: string;
  /** Directory the command is resolved against when it is a relative path. */
  baseDirectory: string;
}

/** Everything needed to talk to one API server as one user. */
export interface ClusterConnection {
  /** `https://host:port`, without a trailing slash. */
  server: string;
  caData?: Buffer;
  insecureSkipTLSVerify?: boolean;
  tlsServerName?: string;
  clientCertificateData?: Buffer;
  clientKeyData?: Buffer;
  token?: string;
  /** Read again periodically: projected service-account tokens rotate. */
  tokenFile?: string;
  username?: string;
  password?: string;
  exec?: ExecCredentialConfig;
  /** The context's default namespace, if any. */
  namespace?: string;
  /** Where this came from, for messages: a file path or `in-cluster`. */
  source: string;
}

const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

interface NamedEntry<T> {
  name: string;
  [key: string]: unknown;
  value?: T;
}

interface RawKubeConfig {
  'current-context'?: string;
  clusters?: { name: string; cluster?: Record<string, unknown> }[];
  users?: { name: string; user?: Record<string, unknown> }[];
  contexts?: { name: string; context?: Record<string, unknown> }[];
}

interface LoadedFile {
  path: string;
  config: RawKubeConfig;
}

export interface LoadKubeConfigOptions {
  /** An explicit kubeconfig file (the `--kubeconfig` flag). */
  path?: string;
  /** A context other than the current one. */
  context?: string;
  /** Defaults to `process.env`; tests pass their own. */
  env?: NodeJS.ProcessEnv;
  /** Where a pod's service-account token, CA and namespace are mounted; tests pass their own. */
  serviceAccountDir?: string;
}

/**
 * Resolves the connection to use. Throws {@link ConfigError} with a message that names the file
 * and the missing piece when nothing usable is found.
 */
export function loadKubeConfig(options: LoadKubeConfigOptions = {}): ClusterConnection {
  const env = options.env ?? process.env;
  if (options.path) {
    if (!existsSync(options.path)) throw new ConfigError(`kubeconfig ${options.path} does not exist`);
    return fromFiles([readKubeConfigFile(options.path)], options.context);
  }
  const listed = (env.KUBECONFIG ?? '').split(delimiter).filter(Boolean);
  const existing = listed.filter((p) => existsSync(p));
  if (existing.length > 0) return fromFiles(existing.map(readKubeConfigFile), options.context);
  const home = env.HOME ?? homedir();
  const defaultPath = join(home, '.kube', 'config');
  if (existsSync(defaultPath)) return fromFiles([readKubeConfigFile(defaultPath)], options.context);
  if (env.KUBERNETES_SERVICE_HOST) return inCluster(env, options.serviceAccountDir ?? SERVICE_ACCOUNT_DIR);
  throw new ConfigError(
    'no Kubernetes credentials found: pass --kubeconfig, set KUBECONFIG, create ~/.kube/config, or run in a pod with a service account',
  );
}

function readKubeConfigFile(path: string): LoadedFile {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new ConfigError(`cannot read kubeconfig ${path}: ${errorMessage(error)}`, { cause: error });
  }
  let config: unknown;
  try {
    config = parseYaml(text);
  } catch (error) {
    throw new ConfigError(`kubeconfig ${path} is not valid YAML: ${errorMessage(error)}`, { cause: error });
  }
  if (config === null || config === undefined) config = {};
  if (typeof config !== 'object' || Array.isArray(config)) throw new ConfigError(`kubeconfig ${path} is not a mapping`);
  return { path: resolve(path), config: config as RawKubeConfig };
}

/** Finds a named entry across files; the first file that defines a name wins (kubectl's merge rule). */
function findNamed<K extends 'clusters' | 'users' | 'contexts'>(
  files: LoadedFile[],
  list: K,
  name: string,
): { entry: NonNullable<RawKubeConfig[K]>[number]; file: LoadedFile } | undefined {
  for (const file of files) {
    const entries = (file.config[list] ?? []) as NamedEntry<unknown>[];
    const entry = entries.find((e) => e?.name === name);
    if (entry) return { entry: entry as NonNullable<RawKubeConfig[K]>[number], file };
  }
  return undefined;
}

function fromFiles(files: LoadedFile[], contextOverride: string | undefined): ClusterConnection {
  const where = files.map((f) => f.path).join(', ');
  const contextName = contextOverride ?? files.map((f) => f.config['current-context']).find(Boolean);
  if (!contextName) throw new ConfigError(`kubeconfig ${where} has no current-context`);
  const context = findNamed(files, 'contexts', contextName);
  if (!context) throw new ConfigError(`kubeconfig ${where} has no context named "${contextName}"`);
  const contextBody = (context.entry.context ?? {}) as { cluster?: string; user?: string; namespace?: string };
  if (!contextBody.cluster) throw new ConfigError(`kubeconfig ${where}: context "${contextName}" names no cluster`);
  const cluster = findNamed(files, 'clusters', contextBody.cluster);
  if (!cluster) throw new ConfigError(`kubeconfig ${where} has no cluster named "${contextBody.cluster}"`);
  const user = contextBody.user ? findNamed(files, 'users', contextBody.user) : undefined;
  if (contextBody.user && !user) throw new ConfigError(`kubeconfig ${where} has no user named "${contextBody.user}"`);

  const c = (cluster.entry.cluster ?? {}) as Record<string, unknown>;
  const clusterDir = dirname(cluster.file.path);
  const server = stringField(c, 'server');
  if (!server) throw new ConfigError(`kubeconfig ${cluster.file.path}: cluster "${contextBody.cluster}" has no server`);
  const connection: ClusterConnection = {
    server: server.replace(/\/+$/, ''),
    source: cluster.file.path,
  };
  const caData = dataOrFile(c, 'certificate-authority-data', 'certificate-authority', clusterDir, cluster.file.path);
  if (caData) connection.caData = caData;
  if (c['insecure-skip-tls-verify'] === true) connection.insecureSkipTLSVerify = true;
  const tlsServerName = stringField(c, 'tls-server-name');
  if (tlsServerName) connection.tlsServerName = tlsServerName;
  if (contextBody.namespace) connection.namespace = contextBody.namespace;

  if (user) {
    const u = (user.entry.user ?? {}) as Record<string, unknown>;
    const userDir = dirname(user.file.path);
    const certData = dataOrFile(u, 'client-certificate-data', 'client-certificate', userDir, user.file.path);
    const keyData = dataOrFile(u, 'client-key-data', 'client-key', userDir, user.file.path);
    if (certData) connection.clientCertificateData = certData;
    if (keyData) connection.clientKeyData = keyData;
    if (Boolean(certData) !== Boolean(keyData)) {
      throw new ConfigError(
        `kubeconfig ${user.file.path}: user "${contextBody.user}" has a client certificate without a key, or a key without a certificate`,
      );
    }
    const token = stringField(u, 'token');
    if (token) connection.token = token;
    const tokenFile = stringField(u, 'tokenFile');
    if (tokenFile) connection.tokenFile = resolveAgainst(userDir, tokenFile);
    const username = stringField(u, 'username');
    const password = stringField(u, 'password');
    if (username) connection.username = username;
    if (password) connection.password = password;
    const exec = u.exec as Record<string, unknown> | undefined;
    if (exec && typeof exec === 'object') {
      const command = stringField(exec, 'command');
      if (!command)
        throw new ConfigError(`kubeconfig ${user.file.path}: user "${contextBody.user}" exec has no command`);
      connection.exec = {
        command,
        args: Array.isArray(exec.args) ? exec.args.map(String) : [],
        env: Object.fromEntries(
          (Array.isArray(exec.env) ? exec.env : []).map((e: { name?: unknown; value?: unknown }) => [
            String(e.name),
            String(e.value ?? ''),
          ]),
        ),
        apiVersion: stringField(exec, 'apiVersion') ?? 'client.authentication.k8s.io/v1',
        baseDirectory: userDir,
      };
    }
    if (u['auth-provider']) {
      throw new ConfigError(
        `kubeconfig ${user.file.path}: user "${contextBody.user}" uses an auth-provider, which client-go removed; use an exec plugin`,
      );
    }
  }
  return connection;
}

function stringField(object: Record<string, unknown>, key: string): string | undefined {
  const value = object[key];
  return typeof value === 'string' && value !== '' ? value : undefined;
}

function resolveAgainst(directory: string, path: string): string {
  return isAbsolute(path) ? path : resolve(directory, path);
}

function dataOrFile(
  object: Record<string, unknown>,
  dataKey: string,
  fileKey: string,
  directory: string,
  configPath: string,
): Buffer | undefined {
  const data = stringField(object, dataKey);
  if (data) return Buffer.from(data, 'base64');
  const file = stringField(object, fileKey);
  if (!file) return undefined;
  const path = resolveAgainst(directory, file);
  try {
    return readFileSync(path);
  } catch (error) {
    throw new ConfigError(`kubeconfig ${configPath}: cannot read ${fileKey} ${path}: ${errorMessage(error)}`, {
      cause: error,
    });
  }
}

/**
 * The in-cluster connection, as client-go's `rest.InClusterConfig` builds it: the API server from
 * `KUBERNETES_SERVICE_HOST`/`_PORT` (both required), the projected token file (re-read by
 * src/kube/credentials.ts: the kubelet rotates it), the CA and the pod's namespace. A missing token
 * is a mistake to report (automountServiceAccountToken: false), not a reason to look elsewhere.
 */
function inCluster(env: NodeJS.ProcessEnv, serviceAccountDir: string): ClusterConnection {
  const host = env.KUBERNETES_SERVICE_HOST ?? '';
  const port = env.KUBERNETES_SERVICE_PORT ?? '';
  if (!/^\d+$/.test(port) || Number(port) < 1 || Number(port) > 65535) {
    throw new ConfigError(
      `KUBERNETES_SERVICE_HOST is set but KUBERNETES_SERVICE_PORT is ${port ? `"${port}", not a port number` : 'not'}: both must be set to run in-cluster`,
    );
  }
  const tokenFile = join(serviceAccountDir, 'token');
  if (!existsSync(tokenFile)) {
    throw new ConfigError(
      `running in-cluster (KUBERNETES_SERVICE_HOST is set) but ${tokenFile} does not exist: mount a service-account token (automountServiceAccountToken) or pass --kubeconfig`,
    );
  }
  const hostPart = host.includes(':') ? `[${host}]` : host;
  const connection: ClusterConnection = { server: `https://${hostPart}:${port}`, tokenFile, source: 'in-cluster' };
  const caPath = join(serviceAccountDir, 'ca.crt');
  if (existsSync(caPath)) {
    try {
      connection.caData = readFileSync(caPath);
    } catch (error) {
      throw new ConfigError(`cannot read the in-cluster CA ${caPath}: ${errorMessage(error)}`, { cause: error });
    }
  }
  const namespacePath = join(serviceAccountDir, 'namespace');
  if (existsSync(namespacePath)) {
    const namespace = readFileSync(namespacePath, 'utf8').trim();
    if (namespace) connection.namespace = namespace;
  }
  return connection;
}

/** Writes a kubeconfig document (YAML is a superset of JSON) for one cluster and user. */
export function kubeconfigDocument(options: {
  name: string;
  server: string;
  caFile: string;
  clientCertificateFile?: string;
  clientKeyFile?: string;
  token?: string;
  namespace?: string;
}): string {
  const user: Record<string, string> = {};
  if (options.clientCertificateFile) user['client-certificate'] = options.clientCertificateFile;
  if (options.clientKeyFile) user['client-key'] = options.clientKeyFile;
  if (options.token) user.token = options.token;
  const context: Record<string, string> = { cluster: options.name, user: options.name };
  if (options.namespace) context.namespace = options.namespace;
  return `${JSON.stringify(
    {
      apiVersion: 'v1',
      kind: 'Config',
      'current-context': options.name,
      clusters: [{ name: options.name, cluster: { server: options.server, 'certificate-authority': options.caFile } }],
      users: [{ name: options.name, user }],
      contexts: [{ name: options.name, context }],
    },
    null,
    2,
  )}\n`;
}
