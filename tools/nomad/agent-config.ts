/**
 * The agent configuration files of the test Nomad cluster (HCL, as Nomad's own docs write them).
 * Pure functions, so what the harness runs is readable in one place:
 * - every agent binds and advertises 127.0.0.1 only, on ports the harness chose, with
 *   `disable_update_check` (no traffic leaves the machine);
 * - the server bootstraps alone, spreads allocations over the clients (instead of bin-packing),
 *   with memory oversubscription on (so `memory_max` from a pod's memory limit is honoured) and
 *   ACLs when asked;
 * - each client has its own data dir, bridge and subnet (two clients on one machine must not share
 *   a bridge), host ports on the loopback interface, and the docker driver pointed at its own
 *   Podman service (image garbage collection off: the images are built locally and nothing can
 *   be pulled again).
 */

export interface AgentPorts {
  http: number;
  rpc: number;
  serf: number;
}

export interface ServerConfigOptions {
  name: string;
  dataDir: string;
  ports: AgentPorts;
  acl: boolean;
}

export interface ClientConfigOptions {
  name: string;
  dataDir: string;
  ports: AgentPorts;
  /** `127.0.0.1:<rpc>` of the server. */
  servers: string[];
  datacenter: string;
  /** Linux interface names are at most 15 characters. */
  bridgeName: string;
  bridgeSubnet: string;
  /** `unix:///…/podman.sock` of this client's Podman service. */
  dockerEndpoint: string;
  /** Overrides of what the client fingerprints, so tests see known numbers. */
  cpuTotalCompute?: number;
  memoryTotalMB?: number;
  acl: boolean;
  cniPath: string;
}

function common(name: string, dataDir: string, ports: AgentPorts, acl: boolean): string[] {
  return [
    `name = ${JSON.stringify(name)}`,
    `data_dir = ${JSON.stringify(dataDir)}`,
    'bind_addr = "127.0.0.1"',
    'disable_update_check = true',
    'log_level = "INFO"',
    'enable_syslog = false',
    `ports {\n  http = ${ports.http}\n  rpc = ${ports.rpc}\n  serf = ${ports.serf}\n}`,
    'advertise {\n  http = "127.0.0.1"\n  rpc = "127.0.0.1"\n  serf = "127.0.0.1"\n}',
    `acl {\n  enabled = ${acl}\n}`,
  ];
}

export function serverConfig(options: ServerConfigOptions): string {
  return [
    '# Written by tools/nomad/agent-config.ts for the test harness.',
    ...common(options.name, options.dataDir, options.ports, options.acl),
    'server {',
    '  enabled = true',
    '  bootstrap_expect = 1',
    // Terminal jobs and allocations are purged by the provider itself; keep the server's own GC
    // at its defaults but let dead nodes from earlier runs go quickly.
    '  node_gc_threshold = "1m"',
    '  default_scheduler_config {',
    // Spread rather than Nomad's default bin-packing: on a test cluster of two clients, pods
    // should land on both, as a distributed virtual node's pods do.
    '    scheduler_algorithm = "spread"',
    '    memory_oversubscription_enabled = true',
    '  }',
    '}',
    '',
  ].join('\n');
}

export function clientConfig(options: ClientConfigOptions): string {
  const overrides = [
    options.cpuTotalCompute ? `  cpu_total_compute = ${options.cpuTotalCompute}` : undefined,
    options.memoryTotalMB ? `  memory_total_mb = ${options.memoryTotalMB}` : undefined,
  ].filter((line): line is string => line !== undefined);
  return [
    '# Written by tools/nomad/agent-config.ts for the test harness.',
    `datacenter = ${JSON.stringify(options.datacenter)}`,
    ...common(options.name, options.dataDir, options.ports, options.acl),
    'client {',
    '  enabled = true',
    `  servers = ${JSON.stringify(options.servers)}`,
    '  network_interface = "lo"',
    `  cni_path = ${JSON.stringify(options.cniPath)}`,
    `  bridge_network_name = ${JSON.stringify(options.bridgeName)}`,
    `  bridge_network_subnet = ${JSON.stringify(options.bridgeSubnet)}`,
    ...overrides,
    '  gc_interval = "30s"',
    '}',
    'plugin "docker" {',
    '  config {',
    `    endpoint = ${JSON.stringify(options.dockerEndpoint)}`,
    '    gc {',
    '      image = false',
    '    }',
    '    volumes {',
    '      enabled = false',
    '    }',
    '  }',
    '}',
    'plugin "raw_exec" {',
    '  config {',
    '    enabled = false',
    '  }',
    '}',
    '',
  ].join('\n');
}
