/**
 * The Podman provider's configuration file (`--provider-config`, JSON or YAML). Every field is
 * optional; a mistake is a ConfigError naming the file and the field (the CLI exits 2).
 *
 * ```yaml
 * url: unix:///run/podman/podman.sock    # or tcp://host:port, http://host:port
 * runtime: runc                          # the OCI runtime podman uses for our containers
 * network: podman                        # the network pods join
 * defaultPullPolicy: IfNotPresent        # for containers that set none
 * insecureRegistries: ["127.0.0.1:5000"] # pulled over plain HTTP
 * capacity: { cpu: "8", memory: 16Gi, pods: "110" }   # default: this host's CPUs and memory
 * reserved: { cpu: 500m, memory: 1Gi }   # subtracted from capacity for allocatable
 * ulimits: { nofile: 1048576, nproc: 4096 }           # set on every container
 * stateDir: /var/lib/virtual-kubelet/podman           # volumes and per-pod state
 * logs: { maxBytes: 10Mi }               # logs kept per container (podman's k8s-file driver)
 * ```
 */
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { ConfigError, errorMessage } from '../../errors.ts';
import { parseQuantity } from '../../kube/quantity.ts';

export interface PodmanConfig {
  url: string;
  runtime: string;
  network: string | undefined;
  defaultPullPolicy: 'Always' | 'IfNotPresent' | 'Never';
  insecureRegistries: string[];
  /** Node capacity; fields left out come from the host. */
  capacity: Record<string, string>;
  reserved: Record<string, string>;
  ulimits: { nofile: number; nproc: number };
  stateDir: string;
  logMaxBytes: number | undefined;
}

export const PODMAN_DEFAULTS: PodmanConfig = {
  url: 'unix:///run/podman/podman.sock',
  runtime: 'runc',
  network: undefined,
  defaultPullPolicy: 'IfNotPresent',
  insecureRegistries: [],
  capacity: {},
  reserved: {},
  ulimits: { nofile: 1024, nproc: 4096 },
  stateDir: '/var/lib/virtual-kubelet/podman',
  logMaxBytes: undefined,
};

const KNOWN = new Set([
  'url',
  'runtime',
  'network',
  'defaultPullPolicy',
  'insecureRegistries',
  'capacity',
  'reserved',
  'ulimits',
  'stateDir',
  'logs',
]);

function fail(path: string, message: string): never {
  throw new ConfigError(`provider config ${path}: ${message}`);
}

function quantities(path: string, field: string, value: unknown): Record<string, string> {
  if (value === undefined) return {};
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    fail(path, `"${field}" must be a map of resource quantities`);
  const result: Record<string, string> = {};
  for (const [name, quantity] of Object.entries(value)) {
    const text = String(quantity);
    try {
      parseQuantity(text);
    } catch {
      fail(path, `"${field}.${name}" is not a valid quantity: "${text}"`);
    }
    result[name] = text;
  }
  return result;
}

/** Reads and validates the config; without a file, the defaults. */
export function loadPodmanConfig(path: string | undefined): PodmanConfig {
  if (!path) return { ...PODMAN_DEFAULTS };
  let raw: unknown;
  try {
    raw = parseYaml(readFileSync(path, 'utf8'));
  } catch (error) {
    const what = (error as NodeJS.ErrnoException).code ? 'cannot be read' : 'is not valid YAML or JSON';
    throw new ConfigError(`provider config ${path} ${what}: ${errorMessage(error)}`);
  }
  if (raw === null || raw === undefined) raw = {};
  if (typeof raw !== 'object' || Array.isArray(raw)) fail(path, 'must be a map');
  const c = raw as Record<string, unknown>;
  for (const key of Object.keys(c)) {
    if (!KNOWN.has(key)) fail(path, `unknown field "${key}" (known: ${[...KNOWN].join(', ')})`);
  }
  const config: PodmanConfig = { ...PODMAN_DEFAULTS };
  if (c.url !== undefined) {
    if (typeof c.url !== 'string' || !/^(unix|tcp|http|https):\/\//.test(c.url)) {
      fail(path, `"url" must look like unix:///path/podman.sock or tcp://host:port, got ${JSON.stringify(c.url)}`);
    }
    config.url = c.url;
  }
  if (c.runtime !== undefined) {
    if (typeof c.runtime !== 'string' || !c.runtime) fail(path, '"runtime" must be a string such as runc');
    config.runtime = c.runtime;
  }
  if (c.network !== undefined) {
    if (typeof c.network !== 'string' || !c.network) fail(path, '"network" must be a network name');
    config.network = c.network;
  }
  if (c.defaultPullPolicy !== undefined) {
    if (c.defaultPullPolicy !== 'Always' && c.defaultPullPolicy !== 'IfNotPresent' && c.defaultPullPolicy !== 'Never') {
      fail(
        path,
        `"defaultPullPolicy" must be Always, IfNotPresent or Never, got ${JSON.stringify(c.defaultPullPolicy)}`,
      );
    }
    config.defaultPullPolicy = c.defaultPullPolicy;
  }
  if (c.insecureRegistries !== undefined) {
    if (!Array.isArray(c.insecureRegistries) || !c.insecureRegistries.every((r) => typeof r === 'string')) {
      fail(path, '"insecureRegistries" must be a list of host[:port] strings');
    }
    config.insecureRegistries = c.insecureRegistries as string[];
  }
  config.capacity = quantities(path, 'capacity', c.capacity);
  config.reserved = quantities(path, 'reserved', c.reserved);
  if (c.ulimits !== undefined) {
    const u = c.ulimits as Record<string, unknown>;
    const limit = (name: 'nofile' | 'nproc') => {
      const value = u?.[name];
      if (value === undefined) return PODMAN_DEFAULTS.ulimits[name];
      if (typeof value !== 'number' || !Number.isInteger(value) || value < 1)
        fail(path, `"ulimits.${name}" must be a positive integer`);
      return value;
    };
    config.ulimits = { nofile: limit('nofile'), nproc: limit('nproc') };
  }
  if (c.stateDir !== undefined) {
    if (typeof c.stateDir !== 'string' || !c.stateDir.startsWith('/'))
      fail(path, '"stateDir" must be an absolute path');
    config.stateDir = c.stateDir;
  }
  if (c.logs !== undefined) {
    const maxBytes = (c.logs as Record<string, unknown>)?.maxBytes;
    if (maxBytes !== undefined) {
      try {
        config.logMaxBytes = parseQuantity(String(maxBytes));
      } catch {
        fail(path, `"logs.maxBytes" is not a valid quantity: ${JSON.stringify(maxBytes)}`);
      }
    }
  }
  return config;
}
