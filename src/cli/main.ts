/**
 * The `virtual-kubelet` command: the only place that reads the environment, installs signal
 * handlers and exits. Exit codes: 0 after a clean stop, 1 on a runtime failure, 2 on a usage or
 * configuration mistake (one line on stderr, no stack trace).
 */

import { readFileSync } from 'node:fs';
import type { Server } from 'node:http';
import { networkInterfaces } from 'node:os';
import { ConfigError, errorMessage } from '../errors.ts';
import { createLogger, type Logger } from '../log.ts';
import { VirtualKubeletMetrics } from '../metrics/metrics.ts';
import { builtinProviders } from '../providers/index.ts';
import type { Tracing } from '../tracing/otel.ts';
import { LeadershipLostError, VirtualNode } from '../virtual-node.ts';
import { type CliConfig, parseCli, usage } from './flags.ts';
import { type HealthState, healthHandler, serveHealth } from './health.ts';
import { listenHttp } from './listen.ts';
import { loadProviderFactory } from './provider-loader.ts';
import type { TracingConfig } from './trace-flags.ts';

/** This package's version, from package.json. */
export function packageVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
    return pkg.version;
  } catch {
    return '0.0.0';
  }
}

/** Spans still queued at a stop are exported for at most this long (within the shutdown deadline). */
const TRACE_FLUSH_TIMEOUT_MS = 2_000;

/** How long a stop may take after the first SIGTERM/SIGINT before the process exits regardless. */
const SHUTDOWN_DEADLINE_MS = 4_500;

/** The first non-internal IPv4 address, the default node InternalIP when VKUBELET_POD_IP is unset. */
function primaryAddress(): string {
  for (const addresses of Object.values(networkInterfaces())) {
    for (const address of addresses ?? []) if (address.family === 'IPv4' && !address.internal) return address.address;
  }
  return '127.0.0.1';
}

/** `--metrics-addr`: `/metrics`, and the health paths for probes that already point here. */
async function serveMetrics(
  addr: string,
  metrics: VirtualKubeletMetrics,
  health: HealthState,
  logger: Logger,
): Promise<Server | undefined> {
  if (!addr) return undefined;
  const match = /^(.*):(\d+)$/.exec(addr);
  if (!match) throw new ConfigError(`--metrics-addr must be host:port or :port, got "${addr}"`);
  const host = (match[1] ?? '').replace(/^\[(.*)\]$/, '$1');
  const { server, port } = await listenHttp('--metrics-addr', host, Number(match[2]), (request, response) => {
    const path = (request.url ?? '/').split('?')[0];
    if (path === '/metrics') {
      metrics.registry.metrics().then(
        (text) => {
          response.writeHead(200, { 'content-type': metrics.registry.contentType });
          response.end(text);
        },
        (error: unknown) => {
          response.writeHead(500);
          response.end(errorMessage(error));
        },
      );
      return;
    }
    if (serveHealth(request, response, health)) return;
    response.writeHead(404, { 'content-type': 'text/plain' });
    response.end('404 page not found\n');
  });
  logger.info(`metrics on http://${addr.startsWith(':') ? 'localhost' : host}:${port}/metrics`);
  return server;
}

/** `--healthz-port` (0: none) on `--healthz-bind-address`: the health paths only, no credentials asked. */
async function serveHealthz(config: CliConfig, health: HealthState, logger: Logger): Promise<Server | undefined> {
  if (config.healthzPort === 0) return undefined;
  const host = config.healthzBindAddress;
  const { server, port } = await listenHttp('--healthz-port', host, config.healthzPort, healthHandler(health));
  logger.info(`health checks on http://${host.includes(':') ? `[${host}]` : host || 'localhost'}:${port}/healthz`);
  return server;
}

async function run(config: CliConfig, logger: Logger): Promise<number> {
  for (const flag of config.ignored)
    logger.warn(`${flag} is accepted for compatibility with the Go virtual-kubelet and ignored`);
  for (const warning of config.warnings) logger.warn(warning);
  const factory = await loadProviderFactory(config.provider, builtinProviders);
  const tracing = config.tracing && (await startTracing(config, config.tracing, logger));
  const metrics = new VirtualKubeletMetrics();
  const controller = new AbortController();
  let signals = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    signals++;
    if (signals > 1) {
      logger.warn(`second ${signal}: exiting now`);
      logger.flush?.();
      process.exit(1);
    }
    logger.info(`${signal} received: stopping (pods keep running in the provider)`);
    controller.abort();
    // Every part stops on the signal, and calls to an unreachable API server or backend are cut
    // short; should something still hang, the process must not outlive what a supervisor allows.
    setTimeout(() => {
      logger.error(`still not stopped ${SHUTDOWN_DEADLINE_MS / 1000}s after ${signal}: exiting now`);
      logger.flush?.();
      process.exit(1);
    }, SHUTDOWN_DEADLINE_MS).unref();
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);

  const node = new VirtualNode({
    nodeName: config.nodeName,
    provider: async (context) => {
      const provider = metrics.instrument(await factory(context));
      return tracing ? tracing.instrument(provider) : provider;
    },
    providerName: config.provider.replace(/^.*\//, '').replace(/\.[cm]?[jt]s$/, ''),
    ...(config.kubeconfig ? { kubeconfig: config.kubeconfig } : {}),
    kubeApiQps: config.kubeApiQps,
    kubeApiBurst: config.kubeApiBurst,
    eventQps: config.eventQps,
    eventBurst: config.eventBurst,
    operatingSystem: config.operatingSystem,
    internalIP: config.internalIP ?? primaryAddress(),
    kubeletPort: config.kubeletPort,
    kubeletVersion: `v1.37.2-vk-${packageVersion()}`,
    taint: config.taint,
    ...(config.websocketStreaming && config.kubeletApi ? { declaredFeatures: ['ExtendWebSocketsToKubelet'] } : {}),
    clusterDomain: config.clusterDomain,
    ...(config.providerConfig ? { providerConfigPath: config.providerConfig } : {}),
    podSyncWorkers: config.podSyncWorkers,
    podStatusWorkers: config.podStatusWorkers,
    resyncPeriodMs: config.fullResyncPeriodMs,
    statusUpdateIntervalMs: config.nodeStatusUpdateIntervalMs,
    pingIntervalMs: config.nodePingIntervalMs,
    statusPollIntervalMs: config.podStatusPollIntervalMs,
    lease: { durationSeconds: config.nodeLeaseDurationSeconds },
    logger,
    queueMetrics: metrics.queueMetrics,
    kubeletApi: config.kubeletApi && {
      ...(config.kubeletApiAddress ? { address: config.kubeletApiAddress } : {}),
      ...(config.servingCertificate ? { certificateFile: config.servingCertificate } : {}),
      ...(config.servingKey ? { keyFile: config.servingKey } : {}),
      certificateSigning: config.rotateServerCertificates && {
        ...(config.certDir ? { directory: config.certDir } : {}),
        ...(config.servingCertificateDurationSeconds !== undefined
          ? { expirationSeconds: config.servingCertificateDurationSeconds }
          : {}),
        selfApprove: config.selfApproveServingCertificate,
        ...(config.servingCertificateRenewAfterMs !== undefined
          ? { renewAfterMs: config.servingCertificateRenewAfterMs }
          : {}),
      },
      ...(config.clientCA ? { clientCAFile: config.clientCA } : {}),
      allowAnonymous: config.anonymousAuth,
      streamIdleTimeoutMs: config.streamIdleTimeoutMs,
      streamCreationTimeoutMs: config.streamCreationTimeoutMs,
      metrics: () => metrics.registry.metrics(),
    },
    ...(config.leaderElection
      ? {
          leaderElection: {
            namespace: config.leaderElection.namespace,
            leaseDurationMs: config.leaderElection.leaseDurationMs,
            renewDeadlineMs: config.leaderElection.renewDeadlineMs,
            retryPeriodMs: config.leaderElection.retryPeriodMs,
          },
        }
      : {}),
  });
  // Served from the start: a standby is healthy (not ready), and its metrics say it stands by.
  const health: HealthState = { ready: false, stopping: false };
  void node.ready.then(() => {
    health.ready = true;
  });
  controller.signal.addEventListener('abort', () => {
    health.stopping = true;
  });
  const healthz = await serveHealthz(config, health, logger);
  const server = await serveMetrics(config.metricsAddr, metrics, health, logger).catch((error: unknown) => {
    healthz?.close();
    throw error;
  });
  const elector = node.leaderElector;
  if (elector) {
    metrics.gauge('leader_election_master_status', 'Whether this replica leads (1) or stands by (0)', () =>
      elector.isLeader ? 1 : 0,
    );
  }
  // Announced once the provider is made (a bad provider config stays a one-line error), or before
  // waiting to lead, since a standby may wait long.
  const announce = () =>
    logger.info(
      { node: config.nodeName, provider: config.provider, version: packageVersion() },
      'starting virtual-kubelet',
    );
  if (elector) announce();
  let startupTimer: NodeJS.Timeout | undefined;
  let startupFailed = false;
  try {
    if (await node.elect(controller.signal)) {
      await startLeading(node, metrics, controller.signal);
      if (!elector) announce();
      if (config.startupTimeoutMs > 0) {
        startupTimer = setTimeout(() => {
          startupFailed = true;
          logger.error(`the node was not ready within --startup-timeout ${config.startupTimeoutMs / 1000}s`);
          controller.abort();
        }, config.startupTimeoutMs);
        void node.ready.then(() => clearTimeout(startupTimer));
      }
    }
    await node.run(controller.signal);
  } catch (error) {
    if (!(error instanceof LeadershipLostError)) throw error;
    // As kube-controller-manager does: exit, and let the supervisor start a new standby.
    logger.error(`${error.message}: exiting so that another replica leads`);
    return 1;
  } finally {
    clearTimeout(startupTimer);
    for (const listener of [server, healthz]) {
      listener?.close();
      listener?.closeAllConnections();
    }
    metrics.close();
    await tracing?.shutdown(TRACE_FLUSH_TIMEOUT_MS);
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
  }
  logger.info('stopped');
  return startupFailed ? 1 : 0;
}

/**
 * Loads the OpenTelemetry SDK (only now: without --trace-exporter it is never imported) and starts
 * exporting. The resource names the node as the Go binary's tags do.
 */
async function startTracing(config: CliConfig, tracing: TracingConfig, logger: Logger): Promise<Tracing> {
  const { startTracing: start } = await import('../tracing/otel.ts');
  const started = start({
    endpoint: tracing.endpoint,
    sampleRatio: tracing.sampleRatio,
    resource: {
      'service.name': tracing.serviceName,
      'service.version': packageVersion(),
      'k8s.node.name': config.nodeName,
      nodeName: config.nodeName,
      provider: config.provider,
      operatingSystem: config.operatingSystem,
      ...tracing.tags,
    },
    logger,
  });
  logger.info(
    { endpoint: tracing.endpoint ?? 'the OTEL_EXPORTER_OTLP_* default', sampleRatio: tracing.sampleRatio },
    'exporting traces over OTLP',
  );
  return started;
}

/** Makes the provider and controllers of the node this replica now leads, and publishes their metrics. */
async function startLeading(node: VirtualNode, metrics: VirtualKubeletMetrics, signal: AbortSignal): Promise<void> {
  await node.init(signal);
  if (node.podController) {
    metrics.watchQueues([node.podController.queue, node.podController.statusQueue]);
    const pods = node.podController;
    metrics.gauge('virtual_kubelet_pods', 'Pods bound to this node', () => pods.pods().length);
  }
  const kubeletServer = node.kubeletServer;
  if (kubeletServer) {
    metrics.gauge(
      'virtual_kubelet_kubelet_api_sessions',
      'Open exec, attach and port-forward sessions',
      () => kubeletServer.sessions,
    );
    metrics.gauge(
      'virtual_kubelet_kubelet_api_token_reviews',
      'TokenReviews sent (cache misses)',
      () => kubeletServer.reviews.tokenReviews,
    );
    metrics.gauge(
      'virtual_kubelet_kubelet_api_spdy_sessions',
      'SPDY sessions started',
      () => kubeletServer.stats.spdySessions,
    );
    metrics.gauge(
      'virtual_kubelet_kubelet_api_websocket_sessions',
      'WebSocket sessions started',
      () => kubeletServer.stats.webSocketSessions,
    );
    metrics.gauge(
      'virtual_kubelet_kubelet_api_subject_access_reviews',
      'SubjectAccessReviews sent (cache misses)',
      () => kubeletServer.reviews.subjectAccessReviews,
    );
  }
  const certificates = node.certificateRotation;
  if (certificates) {
    // The kubelet's certificate-manager metrics, under our prefix.
    metrics.gauge(
      'virtual_kubelet_certificate_manager_server_ttl_seconds',
      'Seconds until the serving certificate expires (the self-signed one until the cluster issues one)',
      () => Math.round((certificates.expiresAt.getTime() - Date.now()) / 1000),
    );
    metrics.gauge(
      'virtual_kubelet_server_expiration_renew_errors',
      'Failed attempts to obtain or renew the serving certificate through the CSR API',
      () => certificates.stats.failures,
    );
    metrics.gauge(
      'virtual_kubelet_serving_certificate_issued',
      'Whether the served certificate was issued by the cluster (1) or is the self-signed fallback (0)',
      () => (certificates.isIssued ? 1 : 0),
    );
  }
  metrics.gauge(
    'virtual_kubelet_kube_client_throttled_requests',
    'API requests waiting for the client rate limiter',
    () => node.client.throttled,
  );
  metrics.gauge(
    'virtual_kubelet_kube_client_rate_limit_qps',
    "The client's rate limit now: --kube-api-qps, or less after the API server answered 429 (-1: unlimited)",
    () => (Number.isFinite(node.client.rateLimit) ? node.client.rateLimit : -1),
  );
  metrics.gauge(
    'virtual_kubelet_kube_client_throttled_answers',
    'API answers 429 (or 5xx with Retry-After) received since the start; each was retried after its Retry-After',
    () => node.client.throttledAnswers,
  );
  metrics.gauge(
    'virtual_kubelet_kube_client_pending_requests',
    'API requests (watches aside) not yet answered: waiting for the rate limiter, on the wire or waiting to retry',
    () => node.client.pending,
  );
}

/** Runs the CLI with `argv` (without node and script); resolves to the exit code. */
export async function main(argv: string[]): Promise<number> {
  let config: CliConfig;
  try {
    config = parseCli(argv);
  } catch (error) {
    process.stderr.write(`virtual-kubelet: ${errorMessage(error)} (see --help)\n`);
    return 2;
  }
  switch (config.command) {
    case 'help':
      process.stdout.write(usage());
      return 0;
    case 'version':
      process.stdout.write(`virtual-kubelet ${packageVersion()} (node ${process.versions.node})\n`);
      return 0;
    case 'providers':
      process.stdout.write(`${Object.keys(builtinProviders).join('\n')}\n`);
      return 0;
  }
  const logger = createLogger({
    level: config.logLevel,
    ...(config.logFormat ? { pretty: config.logFormat === 'text' } : {}),
  });
  try {
    return await run(config, logger);
  } catch (error) {
    if (error instanceof ConfigError) {
      logger.flush?.();
      process.stderr.write(`virtual-kubelet: ${error.message}\n`);
      return 2;
    }
    logger.fatal({ err: error }, `virtual-kubelet failed: ${errorMessage(error)}`);
    return 1;
  }
}
