/**
 * `npm run cluster -- up | down | status [--name NAME]`
 *
 * `up` prints the admin kubeconfig's absolute path as the last line of stdout; progress goes to
 * stderr, so `K=$(npm run -s cluster -- up)` works.
 */
import { parseArgs } from 'node:util';
import { HarnessError } from './binaries.ts';
import { LocalCluster } from './cluster.ts';

const USAGE = `usage: npm run cluster -- <up|down|status|env> [--name NAME]

  up      build the binaries if needed, start (or reuse) the cluster; prints the admin kubeconfig path
  down    stop every process of the cluster and remove its state
  status  show what runs
  env     print KUBECONFIG=… and the kubectl path, for eval

Environment: KUBE_VERSION (another release, e.g. v1.36.3), KUBEBUILDER_ASSETS (use existing binaries),
VK_CACHE_DIR (binary cache), VK_CLUSTER_DIR (state directory).`;

async function main(): Promise<number> {
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({
      allowPositionals: true,
      options: { name: { type: 'string', default: 'default' }, help: { type: 'boolean', short: 'h' } },
    });
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n${USAGE}\n`);
    return 2;
  }
  const [command, ...extra] = parsed.positionals;
  if (parsed.values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (!command || extra.length > 0) {
    process.stderr.write(`${USAGE}\n`);
    return 2;
  }
  const log = (line: string) => process.stderr.write(`cluster: ${line}\n`);
  const cluster = new LocalCluster(String(parsed.values.name), log);
  switch (command) {
    case 'up': {
      const info = await cluster.up();
      log(`Kubernetes ${info.kubernetesVersion} at ${info.server}; kubectl: ${info.kubectl}`);
      process.stdout.write(`${info.kubeconfig}\n`);
      return 0;
    }
    case 'down':
      await cluster.down();
      log('stopped and removed');
      return 0;
    case 'status': {
      const info = cluster.info();
      if (!info) {
        process.stdout.write(`cluster "${cluster.name}": not running (no state in ${cluster.dir})\n`);
        return 1;
      }
      const statuses = await cluster.status();
      process.stdout.write(`cluster "${cluster.name}": Kubernetes ${info.kubernetesVersion}, ${info.server}\n`);
      for (const s of statuses) {
        const state = s.healthy ? 'healthy' : s.running ? 'running, not healthy' : 'not running';
        process.stdout.write(
          `  ${s.name.padEnd(24)} pid ${String(s.pid ?? '-').padEnd(8)} port ${String(s.port ?? '-').padEnd(6)} ${state}\n`,
        );
      }
      process.stdout.write(`  kubeconfig ${info.kubeconfig}\n  kubectl    ${info.kubectl}\n`);
      return statuses.every((s) => s.healthy) ? 0 : 1;
    }
    case 'env': {
      const info = cluster.info();
      if (!info) {
        process.stderr.write(`cluster "${cluster.name}" is not running; run: npm run cluster -- up\n`);
        return 1;
      }
      process.stdout.write(`export KUBECONFIG=${info.kubeconfig}\nexport KUBECTL=${info.kubectl}\n`);
      return 0;
    }
    default:
      process.stderr.write(`unknown command "${command}"\n${USAGE}\n`);
      return 2;
  }
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    if (error instanceof HarnessError) process.stderr.write(`cluster: ${error.message}\n`);
    else process.stderr.write(`cluster: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exitCode = 1;
  },
);
