/**
 * The Nomad provider's configuration file (`--provider-config`, YAML or JSON). Every field is
 * optional; a mistake is a ConfigError naming the file and the field (the CLI exits 2).
 *
 * ```yaml
 * address: http://127.0.0.1:4646        # or https://nomad:4646, unix:///run/nomad/http.sock
 * tls: { caFile: ca.pem, certFile: cli.pem, keyFile: cli-key.pem, serverName: server.global.nomad }
 * tokenFile: /etc/vk/nomad-token        # or token: …; default: $NOMAD_TOKEN
 * region: global                        # default: the agent's region
 * namespace: default                    # the Nomad namespace the pods' jobs go to
 * datacenters: ["*"]                    # where jobs may run (wildcards allowed)
 * nodePool: default                     # Nomad 1.6 node pools; default: Nomad's default pool
 * jobPrefix: "k8s."                     # job IDs are <jobPrefix><namespace>.<pod name>
 * driver: docker                        # docker (images as containers), exec or raw_exec (host binaries)
 * docker:
 *   engine: docker                      # docker, or podman (Podman's Docker-compatible API; see the README)
 *   config: { }                         # extra docker task config for every task (e.g. {dns_servers: [...]})
 * network: bridge                       # the group's network mode: bridge (one IP per pod), host or cni/<name>
 * cpu: { mhzPerCore: 2000 }             # how a CPU request maps to MHz; default: the nodes' average
 * defaults: { cpu: 100m, memory: 128Mi }  # for containers without requests
 * restart: { attempts: 3, interval: 5m, delay: 10s }  # Nomad's restart policy for Always/OnFailure
 * logs: { maxFiles: 5, maxFileSizeMB: 10 }
 * capacity: { cpu: "16", memory: 64Gi, pods: "220" }  # default: summed from the Nomad client nodes
 * ```
 */
import { readFileSync } from 'node:fs';
import { ConfigError, errorMessage } from '../../errors.ts';
import { readConfigFile } from '../../provider/index.ts';

export type NomadDriver = 'docker' | 'exec' | 'raw_exec';
export type DockerEngine = 'docker' | 'podman';

export interface NomadTlsConfig {
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
  serverName?: string;
  insecureSkipVerify: boolean;
}

export interface NomadConfig {
  address: string;
  tls: NomadTlsConfig;
  token: string | undefined;
  region: string | undefined;
  namespace: string;
  datacenters: string[];
  nodePool: string | undefined;
  jobPrefix: string;
  driver: NomadDriver;
  dockerEngine: DockerEngine;
  dockerConfig: Record<string, unknown>;
  networkMode: string;
  /** Undefined: taken from the nodes (their MHz over their cores). */
  mhzPerCore: number | undefined;
  defaultCpu: string;
  defaultMemory: string;
  restart: { attempts: number; intervalMs: number; delayMs: number };
  logs: { maxFiles: number; maxFileSizeMB: number };
  /** Node capacity overrides; fields left out are summed from the Nomad nodes. */
  capacity: Record<string, string>;
}

export const NOMAD_DEFAULTS: NomadConfig = {
  address: 'http://127.0.0.1:4646',
  tls: { insecureSkipVerify: false },
  token: undefined,
  region: undefined,
  namespace: 'default',
  datacenters: ['*'],
  nodePool: undefined,
  jobPrefix: 'k8s.',
  driver: 'docker',
  dockerEngine: 'docker',
  dockerConfig: {},
  networkMode: 'bridge',
  mhzPerCore: undefined,
  defaultCpu: '100m',
  defaultMemory: '128Mi',
  restart: { attempts: 3, intervalMs: 5 * 60_000, delayMs: 10_000 },
  logs: { maxFiles: 5, maxFileSizeMB: 10 },
  capacity: {},
};

const FIELDS = [
  'address',
  'tls',
  'token',
  'tokenFile',
  'region',
  'namespace',
  'datacenters',
  'nodePool',
  'jobPrefix',
  'driver',
  'docker',
  'network',
  'cpu',
  'defaults',
  'restart',
  'logs',
  'capacity',
];

function readFile(path: string, what: string, file: string): Buffer {
  try {
    return readFileSync(path);
  } catch (error) {
    throw new ConfigError(`provider config ${file}: ${what} ${path} cannot be read: ${errorMessage(error)}`);
  }
}

/** Reads and validates the config; without a file, the defaults (and `$NOMAD_ADDR`/`$NOMAD_TOKEN`). */
export function loadNomadConfig(path: string | undefined, env: NodeJS.ProcessEnv = process.env): NomadConfig {
  const file = readConfigFile(path);
  file.allowOnly(FIELDS);
  const address = file.string('address', {
    default: env.NOMAD_ADDR || NOMAD_DEFAULTS.address,
    pattern: /^(https?:\/\/[^/\s]+\/?|unix:\/\/\/\S+)$/,
    describe: 'http://host:port, https://host:port or unix:///path/to/http.sock',
  });
  const tlsSection = file.section('tls');
  tlsSection.allowOnly(['caFile', 'certFile', 'keyFile', 'serverName', 'insecureSkipVerify']);
  const tls: NomadTlsConfig = { insecureSkipVerify: tlsSection.boolean('insecureSkipVerify', false) };
  for (const [field, key] of [
    ['caFile', 'ca'],
    ['certFile', 'cert'],
    ['keyFile', 'key'],
  ] as const) {
    const value = tlsSection.string(field, { describe: 'a path' });
    if (value) tls[key] = readFile(value, `tls.${field}`, file.file);
  }
  const serverName = tlsSection.string('serverName');
  if (serverName) tls.serverName = serverName;
  if (Boolean(tls.cert) !== Boolean(tls.key))
    tlsSection.fail(tls.cert ? 'keyFile' : 'certFile', 'is required with the other');
  if ((tls.ca || tls.cert) && !address.startsWith('https://')) {
    file.fail('tls', `is set but the address ${address} is not https://`);
  }
  let token = file.string('token');
  const tokenFile = file.string('tokenFile', { describe: 'a path' });
  if (token && tokenFile) file.fail('tokenFile', 'and "token" are both set: give one');
  if (tokenFile) token = readFile(tokenFile, 'tokenFile', file.file).toString('utf8').trim();
  token ||= env.NOMAD_TOKEN || undefined;

  const datacenters = file.has('datacenters') ? file.stringList('datacenters', 'a list of datacenter names') : ['*'];
  if (datacenters.length === 0) file.fail('datacenters', 'must name at least one datacenter (or "*")');
  const jobPrefix = file.raw('jobPrefix') === '' ? '' : file.string('jobPrefix', { default: NOMAD_DEFAULTS.jobPrefix });
  if (/\s/.test(jobPrefix)) file.fail('jobPrefix', 'must not contain spaces (Nomad job IDs cannot)');

  const docker = file.section('docker');
  docker.allowOnly(['engine', 'config']);
  const dockerConfigSection = docker.raw('config');
  if (
    dockerConfigSection !== undefined &&
    (typeof dockerConfigSection !== 'object' || dockerConfigSection === null || Array.isArray(dockerConfigSection))
  ) {
    docker.fail('config', 'must be a map of docker task options');
  }

  const network = file.string('network', { default: NOMAD_DEFAULTS.networkMode });
  if (!/^(bridge|host|cni\/\S+)$/.test(network))
    file.fail('network', `must be bridge, host or cni/<name>, got "${network}"`);

  const cpu = file.section('cpu');
  cpu.allowOnly(['mhzPerCore']);
  const defaults = file.section('defaults');
  defaults.allowOnly(['cpu', 'memory']);
  const restart = file.section('restart');
  restart.allowOnly(['attempts', 'interval', 'delay']);
  const logs = file.section('logs');
  logs.allowOnly(['maxFiles', 'maxFileSizeMB']);
  const capacity = file.quantities('capacity');
  for (const name of Object.keys(capacity)) {
    if (!['cpu', 'memory', 'pods', 'ephemeral-storage'].includes(name)) {
      file.section('capacity').fail(name, 'is not a resource the node reports (cpu, memory, pods, ephemeral-storage)');
    }
  }
  return {
    address: address.replace(/\/$/, ''),
    tls,
    token,
    region: file.string('region'),
    namespace: file.string('namespace', { default: 'default' }),
    datacenters,
    nodePool: file.string('nodePool'),
    jobPrefix,
    driver: file.string('driver', { default: 'docker', oneOf: ['docker', 'exec', 'raw_exec'] }) as NomadDriver,
    dockerEngine: docker.string('engine', { default: 'docker', oneOf: ['docker', 'podman'] }) as DockerEngine,
    dockerConfig: { ...((dockerConfigSection as Record<string, unknown> | undefined) ?? {}) },
    networkMode: network,
    mhzPerCore: cpu.integer('mhzPerCore', { min: 1 }),
    defaultCpu: defaults.quantity('cpu') ?? NOMAD_DEFAULTS.defaultCpu,
    defaultMemory: defaults.quantity('memory') ?? NOMAD_DEFAULTS.defaultMemory,
    restart: {
      attempts: restart.integer('attempts', { default: NOMAD_DEFAULTS.restart.attempts, min: 0 }),
      intervalMs: restart.duration('interval', NOMAD_DEFAULTS.restart.intervalMs),
      delayMs: restart.duration('delay', NOMAD_DEFAULTS.restart.delayMs),
    },
    logs: {
      maxFiles: logs.integer('maxFiles', { default: NOMAD_DEFAULTS.logs.maxFiles, min: 1 }),
      maxFileSizeMB: logs.integer('maxFileSizeMB', { default: NOMAD_DEFAULTS.logs.maxFileSizeMB, min: 1 }),
    },
    capacity,
  };
}
