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

import { parseQuantity } from '../../kube/quantity.ts';
import { readConfigFile } from '../../provider/index.ts';

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

const KNOWN = [
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
];

const PULL_POLICIES = ['Always', 'IfNotPresent', 'Never'] as const;

/** Reads and validates the config; without a file, the defaults. */
export function loadPodmanConfig(path: string | undefined): PodmanConfig {
  const file = readConfigFile(path);
  file.allowOnly(KNOWN);
  const ulimits = file.section('ulimits');
  ulimits.allowOnly(['nofile', 'nproc']);
  const logs = file.section('logs');
  logs.allowOnly(['maxBytes']);
  const logMaxBytes = logs.quantity('maxBytes');
  return {
    url: file.string('url', {
      default: PODMAN_DEFAULTS.url,
      pattern: /^(unix|tcp|http|https):\/\//,
      describe: 'a URL such as unix:///path/podman.sock or tcp://host:port',
    }),
    runtime: file.string('runtime', { default: PODMAN_DEFAULTS.runtime, describe: 'an OCI runtime such as runc' }),
    network: file.string('network', { describe: 'a network name' }),
    defaultPullPolicy: file.string('defaultPullPolicy', {
      default: PODMAN_DEFAULTS.defaultPullPolicy,
      oneOf: PULL_POLICIES,
    }) as PodmanConfig['defaultPullPolicy'],
    insecureRegistries: file.stringList('insecureRegistries', 'a list of host[:port] strings'),
    capacity: file.quantities('capacity'),
    reserved: file.quantities('reserved'),
    ulimits: {
      nofile: ulimits.integer('nofile', { default: PODMAN_DEFAULTS.ulimits.nofile, min: 1 }),
      nproc: ulimits.integer('nproc', { default: PODMAN_DEFAULTS.ulimits.nproc, min: 1 }),
    },
    stateDir: file.string('stateDir', {
      default: PODMAN_DEFAULTS.stateDir,
      pattern: /^\//,
      describe: 'an absolute path',
    }),
    logMaxBytes: logMaxBytes === undefined ? undefined : parseQuantity(logMaxBytes),
  };
}
