/**
 * The command line: flags compatible with the Go `virtual-kubelet` binary, its environment
 * variables, and the new knobs (API QPS/burst, status intervals). Parsing is pure: it returns a
 * configuration or throws a ConfigError whose message is the one line the user sees.
 */
import { parseArgs } from 'node:util';
import { ConfigError } from '../errors.ts';
import { DEFAULT_BURST, DEFAULT_QPS } from '../kube/client.ts';
import { DEFAULT_KUBELET_PORT } from '../node/node-template.ts';
import { formatDuration, parseDuration } from '../util/duration.ts';
import { parseTraceFlags, type TracingConfig } from './trace-flags.ts';

type FlagKind = 'string' | 'boolean' | 'int' | 'number' | 'duration';

interface FlagSpec {
  kind: FlagKind;
  help: string;
  /** Default value shown in help; the real default is applied in `buildConfig`. */
  defaultText?: string;
  /** Accepted for compatibility with the Go binary but not shown in --help. */
  hidden?: boolean;
  short?: string;
  /** May be given more than once (a list). */
  multiple?: boolean;
}

/** Every flag, in the order --help lists them. */
export const FLAGS: Record<string, FlagSpec> = {
  nodename: { kind: 'string', help: 'node name (env DEFAULT_NODE_NAME)', defaultText: 'virtual-kubelet' },
  provider: { kind: 'string', help: 'provider: a built-in name (mock), a module path, or an npm package' },
  'provider-config': { kind: 'string', help: 'provider configuration file' },
  kubeconfig: { kind: 'string', help: 'kubeconfig file (default: $KUBECONFIG, ~/.kube/config, then in-cluster)' },
  os: { kind: 'string', help: 'operating system of the node: linux or windows', defaultText: 'linux' },
  'pod-sync-workers': { kind: 'int', help: 'pods synced concurrently (provider calls in flight)', defaultText: '10' },
  'pod-status-workers': {
    kind: 'int',
    help: 'API writes of pod status (and removals of terminated pods) in flight',
    defaultText: '64',
  },
  'full-resync-period': { kind: 'duration', help: 'how often every pod is checked again', defaultText: '1m0s' },
  'startup-timeout': {
    kind: 'duration',
    help: 'give up if the node is not ready by then (0: wait forever)',
    defaultText: '0s',
  },
  'disable-taint': { kind: 'boolean', help: 'register the node without the provider taint' },
  taint: { kind: 'string', help: 'taint key (deprecated: use VKUBELET_TAINT_KEY)', hidden: true },
  'log-level': { kind: 'string', help: 'trace, debug, info, warn, error or fatal', defaultText: 'info' },
  'log-format': { kind: 'string', help: 'json or text (default: text on a terminal, json otherwise)' },
  'cluster-domain': {
    kind: 'string',
    help: 'cluster DNS domain, passed to the provider',
    defaultText: 'cluster.local',
  },
  'metrics-addr': {
    kind: 'string',
    help: "address of the virtual kubelet's own /metrics ('' to disable)",
    defaultText: ':10255',
  },
  'healthz-port': {
    kind: 'int',
    help: 'port of the unauthenticated /healthz and /readyz for probes (0 to disable)',
    defaultText: '10248',
  },
  'healthz-bind-address': {
    kind: 'string',
    help: "address the health port listens on ('0.0.0.0' for probes from outside the pod's host)",
    defaultText: '127.0.0.1',
  },
  'kube-api-qps': {
    kind: 'number',
    help: "requests per second to the Kubernetes API at most; below it the rate follows the API server's 429s (0: unlimited)",
    defaultText: String(DEFAULT_QPS),
  },
  'kube-api-burst': { kind: 'int', help: 'request burst to the Kubernetes API', defaultText: String(DEFAULT_BURST) },
  'event-qps': {
    kind: 'number',
    help: 'Kubernetes Events written per second, a budget of their own beside --kube-api-qps (0: unlimited)',
    defaultText: '50',
  },
  'event-burst': { kind: 'int', help: 'Events written in a burst', defaultText: '100' },
  'node-status-update-interval': {
    kind: 'duration',
    help: 'post node status at least this often',
    defaultText: '1m0s',
  },
  'node-ping-interval': { kind: 'duration', help: 'how often the provider is pinged', defaultText: '10s' },
  'node-lease-duration': {
    kind: 'duration',
    help: 'node lease duration (renewed every quarter of it)',
    defaultText: '40s',
  },
  'pod-status-poll-interval': {
    kind: 'duration',
    help: 'how often a provider without push notifications is asked for pod status',
    defaultText: '5s',
  },
  'tls-cert-file': { kind: 'string', help: 'kubelet API serving certificate (env APISERVER_CERT_LOCATION)' },
  'tls-private-key-file': { kind: 'string', help: 'its private key (env APISERVER_KEY_LOCATION)' },
  'rotate-server-certificates': {
    kind: 'boolean',
    help: 'without --tls-cert-file, request the serving certificate from the cluster (CSR API, signer kubernetes.io/kubelet-serving) and renew it; =false serves a self-signed one',
    defaultText: 'true',
  },
  'cert-dir': {
    kind: 'string',
    help: 'directory that keeps the requested serving certificate across restarts (default: none, request again at each start)',
  },
  'self-approve-serving-certificate': {
    kind: 'boolean',
    help: 'approve our own serving certificate requests (needs deploy/rbac-self-approval.yaml; see the README for the risk)',
  },
  'serving-certificate-duration': {
    kind: 'duration',
    help: "lifetime to request for the serving certificate (at least 10m; default: the signer's)",
  },
  'serving-certificate-renew-after': {
    kind: 'duration',
    help: 'testing: renew this long after a certificate arrives instead of at 70-90% of its lifetime',
    hidden: true,
  },
  'client-ca-file': { kind: 'string', help: 'CA that verifies client certificates (env APISERVER_CA_CERT_LOCATION)' },
  'anonymous-auth': { kind: 'boolean', help: 'let unauthenticated requests reach the kubelet API (dangerous)' },
  'kubelet-api-address': { kind: 'string', help: 'listen address of the kubelet API (default all interfaces)' },
  'websocket-streaming': {
    kind: 'boolean',
    help: 'declare ExtendWebSocketsToKubelet, so 1.36+ API servers pass exec/attach/port-forward WebSockets through',
  },
  'disable-kubelet-api': { kind: 'boolean', help: 'run without the kubelet API (no logs, exec, port-forward, stats)' },
  'stream-idle-timeout': {
    kind: 'duration',
    help: 'idle timeout of exec/attach/port-forward streams',
    defaultText: '4h0m0s',
  },
  'stream-creation-timeout': { kind: 'duration', help: 'time allowed to set up a stream', defaultText: '30s' },
  'leader-elect': {
    kind: 'boolean',
    help: 'run as one of several replicas of this node: only the holder of a Lease runs the node, the others stand by',
  },
  'leader-elect-lease-duration': {
    kind: 'duration',
    help: 'how long a standby waits after the last renewal before it takes over',
    defaultText: '15s',
  },
  'leader-elect-renew-deadline': {
    kind: 'duration',
    help: 'the leader stops when it could not renew for this long',
    defaultText: '10s',
  },
  'leader-elect-retry-period': {
    kind: 'duration',
    help: 'how often the leader renews and a standby retries',
    defaultText: '2s',
  },
  'leader-elect-resource-namespace': {
    kind: 'string',
    help: 'namespace of the leader Lease (named virtual-kubelet-<node>)',
    defaultText: 'kube-system',
  },
  'enable-node-lease': { kind: 'boolean', help: 'ignored: leases are always on', hidden: true },
  namespace: { kind: 'string', help: 'ignored: all namespaces are served', hidden: true },
  'trace-exporter': {
    kind: 'string',
    help: 'otlp: export OpenTelemetry traces of pod syncs, provider calls and API writes (default: off)',
    multiple: true,
  },
  'trace-endpoint': {
    kind: 'string',
    help: 'OTLP/HTTP endpoint (default $OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, $OTEL_EXPORTER_OTLP_ENDPOINT, http://localhost:4318)',
  },
  'trace-sample-rate': {
    kind: 'string',
    help: 'always, never, or the percentage of pod traces kept (0-100)',
    defaultText: 'always',
  },
  'trace-service-name': { kind: 'string', help: 'service.name of the traces', defaultText: 'virtual-kubelet' },
  'trace-tag': { kind: 'string', help: "key=value added to the traces' resource (repeatable)", multiple: true },
  help: { kind: 'boolean', help: 'show this help', short: 'h' },
  version: { kind: 'boolean', help: 'print the version' },
};

/** Everything the CLI needs, validated. Durations are in milliseconds. */
export interface CliConfig {
  command: 'run' | 'help' | 'version' | 'providers';
  nodeName: string;
  provider: string;
  providerConfig: string | undefined;
  kubeconfig: string | undefined;
  operatingSystem: 'linux' | 'windows';
  podSyncWorkers: number;
  podStatusWorkers: number;
  fullResyncPeriodMs: number;
  startupTimeoutMs: number;
  taint: { key: string; value: string; effect: 'NoSchedule' | 'PreferNoSchedule' | 'NoExecute' } | false;
  logLevel: 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal';
  logFormat: 'json' | 'text' | undefined;
  clusterDomain: string;
  metricsAddr: string;
  healthzPort: number;
  healthzBindAddress: string;
  kubeApiQps: number;
  kubeApiBurst: number;
  eventQps: number;
  eventBurst: number;
  nodeStatusUpdateIntervalMs: number;
  nodePingIntervalMs: number;
  nodeLeaseDurationSeconds: number;
  podStatusPollIntervalMs: number;
  streamIdleTimeoutMs: number;
  streamCreationTimeoutMs: number;
  kubeletPort: number;
  internalIP: string | undefined;
  servingCertificate: string | undefined;
  servingKey: string | undefined;
  /** Request the serving certificate through the CSR API when no files are given. */
  rotateServerCertificates: boolean;
  certDir: string | undefined;
  selfApproveServingCertificate: boolean;
  servingCertificateDurationSeconds: number | undefined;
  servingCertificateRenewAfterMs: number | undefined;
  leaderElection:
    | { namespace: string; leaseDurationMs: number; renewDeadlineMs: number; retryPeriodMs: number }
    | undefined;
  clientCA: string | undefined;
  anonymousAuth: boolean;
  kubeletApiAddress: string | undefined;
  kubeletApi: boolean;
  websocketStreaming: boolean;
  /** `--trace-exporter otlp`; undefined: tracing off. */
  tracing: TracingConfig | undefined;
  /** Flags accepted for compatibility but without effect, for a warning. */
  ignored: string[];
  /** Other warnings for the log (a flag that has no effect here, and why). */
  warnings: string[];
}

const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'] as const;
const TAINT_EFFECTS = ['NoSchedule', 'PreferNoSchedule', 'NoExecute'] as const;

/**
 * pflag accepts `--flag=true|false` for booleans; node's parseArgs does not. An explicit false is
 * remembered in `explicitFalse`, for the flags that default to true.
 */
function normaliseBooleans(args: string[], explicitFalse: Set<string>): string[] {
  const out: string[] = [];
  for (const arg of args) {
    const match = /^--([\w-]+)=(true|false)$/.exec(arg);
    if (match && FLAGS[match[1] as string]?.kind === 'boolean') {
      if (match[2] === 'true') out.push(`--${match[1]}`);
      else explicitFalse.add(match[1] as string);
      continue;
    }
    out.push(arg);
  }
  return out;
}

/** Drops klog's `--klog.*` flags, which the Go binary accepts; reports them as ignored. */
function dropKlogFlags(args: string[], ignored: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] as string;
    if (arg.startsWith('--klog.')) {
      ignored.push(arg.split('=')[0] as string);
      if (!arg.includes('=') && args[i + 1] !== undefined && !(args[i + 1] as string).startsWith('-')) i++;
      continue;
    }
    out.push(arg);
  }
  return out;
}

function intFlag(name: string, value: string, min: number): number {
  if (!/^-?\d+$/.test(value) || Number(value) < min) {
    throw new ConfigError(`--${name} must be an integer of at least ${min}, got "${value}"`);
  }
  return Number(value);
}

function portFlag(name: string, value: string): number {
  if (!/^\d+$/.test(value) || Number(value) > 65535) {
    throw new ConfigError(`--${name} must be a port number (0-65535), got "${value}"`);
  }
  return Number(value);
}

function numberFlag(name: string, value: string, min: number): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n < min) {
    throw new ConfigError(`--${name} must be a number of at least ${min}, got "${value}"`);
  }
  return n;
}

function durationFlag(name: string, value: string): number {
  try {
    return parseDuration(value);
  } catch (error) {
    throw new ConfigError(`--${name}: ${(error as Error).message}`);
  }
}

/** Parses argv (without the node and script paths) and the environment into a validated config. */
export function parseCli(argv: string[], env: NodeJS.ProcessEnv = process.env): CliConfig {
  const ignored: string[] = [];
  const explicitFalse = new Set<string>();
  const args = normaliseBooleans(dropKlogFlags(argv, ignored), explicitFalse);
  const options = Object.fromEntries(
    Object.entries(FLAGS).map(([name, spec]) => [
      name,
      {
        type: spec.kind === 'boolean' ? ('boolean' as const) : ('string' as const),
        ...(spec.short ? { short: spec.short } : {}),
        ...(spec.multiple ? { multiple: true } : {}),
      },
    ]),
  );
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({ args, options, allowPositionals: true, strict: true });
  } catch (error) {
    const message = (error as Error).message.replace(/\. To specify a positional argument.*$/s, '');
    throw new ConfigError(message.replace(/^Unknown option/, 'unknown flag'));
  }
  const values = parsed.values as Record<string, string | string[] | boolean | undefined>;
  const str = (name: string) => values[name] as string | undefined;

  let command: CliConfig['command'] = 'run';
  const [subcommand, ...rest] = parsed.positionals;
  if (subcommand === 'version') command = 'version';
  else if (subcommand === 'providers') command = 'providers';
  else if (subcommand !== undefined) throw new ConfigError(`unexpected argument "${subcommand}"`);
  if (rest.length > 0) throw new ConfigError(`unexpected argument "${rest[0]}"`);
  if (values.help) command = 'help';
  else if (values.version) command = 'version';

  for (const name of ['enable-node-lease', 'namespace']) {
    if (values[name] !== undefined) ignored.push(`--${name}`);
  }
  const warnings: string[] = [];
  const list = (name: string) => (values[name] as string[] | undefined) ?? [];
  const tracing = parseTraceFlags(
    {
      exporters: list('trace-exporter'),
      endpoint: str('trace-endpoint'),
      sampleRate: str('trace-sample-rate'),
      serviceName: str('trace-service-name'),
      tags: list('trace-tag'),
    },
    warnings,
  );

  const provider = str('provider') ?? '';
  if (command === 'run' && !provider) throw new ConfigError('--provider is required (for example --provider mock)');

  const os = (str('os') ?? 'linux') as CliConfig['operatingSystem'];
  if (os !== 'linux' && os !== 'windows') throw new ConfigError(`--os must be linux or windows, got "${os}"`);

  const logLevel = (str('log-level') ?? 'info').toLowerCase();
  if (!(LOG_LEVELS as readonly string[]).includes(logLevel)) {
    throw new ConfigError(`--log-level must be one of ${LOG_LEVELS.join(', ')}, got "${logLevel}"`);
  }
  const logFormat = str('log-format');
  if (logFormat !== undefined && logFormat !== 'json' && logFormat !== 'text') {
    throw new ConfigError(`--log-format must be json or text, got "${logFormat}"`);
  }

  let taint: CliConfig['taint'] = false;
  if (!values['disable-taint']) {
    const effect = env.VKUBELET_TAINT_EFFECT || 'NoSchedule';
    if (!(TAINT_EFFECTS as readonly string[]).includes(effect)) {
      throw new ConfigError(`VKUBELET_TAINT_EFFECT must be one of ${TAINT_EFFECTS.join(', ')}, got "${effect}"`);
    }
    taint = {
      key: env.VKUBELET_TAINT_KEY || str('taint') || 'virtual-kubelet.io/provider',
      value: env.VKUBELET_TAINT_VALUE || provider,
      effect: effect as (typeof TAINT_EFFECTS)[number],
    };
  }

  const portText = env.KUBELET_PORT || String(DEFAULT_KUBELET_PORT);
  const kubeletPort = Number(portText);
  if (!/^\d+$/.test(portText) || kubeletPort < 1 || kubeletPort > 65535) {
    throw new ConfigError(`KUBELET_PORT must be a port number (1-65535), got "${portText}"`);
  }
  const leaseMs = durationFlag('node-lease-duration', str('node-lease-duration') ?? '40s');
  if (leaseMs < 4000) throw new ConfigError('--node-lease-duration must be at least 4s');

  const cert = str('tls-cert-file') || env.APISERVER_CERT_LOCATION || undefined;
  const key = str('tls-private-key-file') || env.APISERVER_KEY_LOCATION || undefined;
  if (Boolean(cert) !== Boolean(key)) {
    throw new ConfigError(
      'the serving certificate and key must be given together (--tls-cert-file/--tls-private-key-file or APISERVER_CERT_LOCATION/APISERVER_KEY_LOCATION)',
    );
  }

  const durationOption = (name: string) => {
    const text = str(name);
    return text === undefined ? undefined : durationFlag(name, text);
  };
  const certificateDuration = durationOption('serving-certificate-duration');
  if (certificateDuration !== undefined && certificateDuration < 600_000) {
    throw new ConfigError('--serving-certificate-duration must be at least 10m (the CSR API minimum)');
  }

  let leaderElection: CliConfig['leaderElection'];
  if (values['leader-elect']) {
    const leaseDurationMs = durationFlag('leader-elect-lease-duration', str('leader-elect-lease-duration') ?? '15s');
    const renewDeadlineMs = durationFlag('leader-elect-renew-deadline', str('leader-elect-renew-deadline') ?? '10s');
    const retryPeriodMs = durationFlag('leader-elect-retry-period', str('leader-elect-retry-period') ?? '2s');
    // client-go's own checks (NewLeaderElector), and whole seconds for the Lease.
    if (leaseDurationMs < 1000 || leaseDurationMs % 1000 !== 0) {
      throw new ConfigError('--leader-elect-lease-duration must be a whole number of seconds, at least 1s');
    }
    if (leaseDurationMs <= renewDeadlineMs) {
      throw new ConfigError('--leader-elect-lease-duration must be longer than --leader-elect-renew-deadline');
    }
    if (renewDeadlineMs <= retryPeriodMs * 1.2) {
      throw new ConfigError('--leader-elect-renew-deadline must be longer than 1.2 × --leader-elect-retry-period');
    }
    if (retryPeriodMs <= 0) throw new ConfigError('--leader-elect-retry-period must be positive');
    const namespace = str('leader-elect-resource-namespace') || 'kube-system';
    if (!/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/.test(namespace)) {
      throw new ConfigError(`--leader-elect-resource-namespace must be a namespace name, got "${namespace}"`);
    }
    leaderElection = {
      namespace,
      leaseDurationMs,
      renewDeadlineMs,
      retryPeriodMs,
    };
  }

  return {
    command,
    nodeName: str('nodename') || env.DEFAULT_NODE_NAME || 'virtual-kubelet',
    provider,
    providerConfig: str('provider-config'),
    kubeconfig: str('kubeconfig'),
    operatingSystem: os,
    podSyncWorkers: intFlag('pod-sync-workers', str('pod-sync-workers') ?? '10', 1),
    podStatusWorkers: intFlag('pod-status-workers', str('pod-status-workers') ?? '64', 1),
    fullResyncPeriodMs: durationFlag('full-resync-period', str('full-resync-period') ?? '1m'),
    startupTimeoutMs: durationFlag('startup-timeout', str('startup-timeout') ?? '0'),
    taint,
    logLevel: logLevel as CliConfig['logLevel'],
    logFormat: logFormat as CliConfig['logFormat'],
    clusterDomain: str('cluster-domain') ?? 'cluster.local',
    metricsAddr: str('metrics-addr') ?? ':10255',
    healthzPort: portFlag('healthz-port', str('healthz-port') ?? '10248'),
    healthzBindAddress: str('healthz-bind-address') ?? '127.0.0.1',
    kubeApiQps: numberFlag('kube-api-qps', str('kube-api-qps') ?? String(DEFAULT_QPS), 0),
    kubeApiBurst: intFlag('kube-api-burst', str('kube-api-burst') ?? String(DEFAULT_BURST), 1),
    eventQps: numberFlag('event-qps', str('event-qps') ?? '50', 0),
    eventBurst: intFlag('event-burst', str('event-burst') ?? '100', 1),
    nodeStatusUpdateIntervalMs: durationFlag('node-status-update-interval', str('node-status-update-interval') ?? '1m'),
    nodePingIntervalMs: durationFlag('node-ping-interval', str('node-ping-interval') ?? '10s'),
    nodeLeaseDurationSeconds: Math.round(leaseMs / 1000),
    podStatusPollIntervalMs: durationFlag('pod-status-poll-interval', str('pod-status-poll-interval') ?? '5s'),
    streamIdleTimeoutMs: durationFlag('stream-idle-timeout', str('stream-idle-timeout') ?? '4h'),
    streamCreationTimeoutMs: durationFlag('stream-creation-timeout', str('stream-creation-timeout') ?? '30s'),
    kubeletPort,
    internalIP: env.VKUBELET_POD_IP || undefined,
    servingCertificate: cert,
    servingKey: key,
    rotateServerCertificates: !explicitFalse.has('rotate-server-certificates'),
    certDir: str('cert-dir') || undefined,
    selfApproveServingCertificate: Boolean(values['self-approve-serving-certificate']),
    servingCertificateDurationSeconds:
      certificateDuration === undefined ? undefined : Math.round(certificateDuration / 1000),
    servingCertificateRenewAfterMs: durationOption('serving-certificate-renew-after'),
    leaderElection,
    clientCA: str('client-ca-file') || env.APISERVER_CA_CERT_LOCATION || undefined,
    anonymousAuth: Boolean(values['anonymous-auth']),
    kubeletApiAddress: str('kubelet-api-address') || undefined,
    kubeletApi: !values['disable-kubelet-api'],
    websocketStreaming: Boolean(values['websocket-streaming']),
    tracing,
    ignored,
    warnings,
  };
}

/** The --help text. */
export function usage(): string {
  const lines = [
    'Usage: virtual-kubelet --provider NAME [flags]',
    '       virtual-kubelet version | providers',
    '',
    'Registers a Kubernetes node whose pods run in a provider.',
    '',
    'Flags:',
  ];
  for (const [name, spec] of Object.entries(FLAGS)) {
    if (spec.hidden) continue;
    const arg =
      spec.kind === 'boolean'
        ? ''
        : spec.kind === 'duration'
          ? ' duration'
          : ` ${spec.kind === 'string' ? 'string' : 'n'}`;
    const left = `  ${spec.short ? `-${spec.short}, ` : '    '}--${name}${arg}`;
    const def = spec.defaultText !== undefined ? ` (default ${spec.defaultText})` : '';
    lines.push(`${left.padEnd(42)} ${spec.help}${def}`);
  }
  lines.push(
    '',
    'Environment:',
    `  KUBELET_PORT                 port of the kubelet API (default ${DEFAULT_KUBELET_PORT})`,
    '  VKUBELET_POD_IP              the node InternalIP the API server connects to',
    '  APISERVER_CERT_LOCATION      serving certificate of the kubelet API (with APISERVER_KEY_LOCATION)',
    '  APISERVER_KEY_LOCATION       its private key',
    '  APISERVER_CA_CERT_LOCATION   CA that verifies client certificates',
    '  VKUBELET_TAINT_KEY, VKUBELET_TAINT_VALUE, VKUBELET_TAINT_EFFECT   the node taint',
    '  DEFAULT_NODE_NAME            default of --nodename',
    '',
    `Durations use Go's form: 30s, 1m, 1h30m (for example ${formatDuration(90_000)}).`,
  );
  return `${lines.join('\n')}\n`;
}
