/**
 * Resource limits (`r_limits`) for containers, and the explanation of the error runc gives when
 * one cannot be set.
 *
 * Why this exists: as root, Podman 4.3 gives every container `RLIMIT_NOFILE` 1048576 (and
 * `RLIMIT_NPROC` a large default) unless the create request or containers.conf's
 * `default_ulimits` says otherwise. Where the service itself may not raise its limits (a
 * container, a VM sandbox, a systemd unit with `LimitNOFILE`), runc then fails every start with
 * `error setting rlimits for ready process: error setting rlimit type 7: operation not
 * permitted`. A container's limits can be lowered, never raised above the service's hard limits.
 *
 * Two places need the fix: containers (send both `nofile` and `nproc` in `r_limits`; sending
 * only one makes Podman add its default for the other) and pods' infra containers, which the
 * pod create API gives no rlimit field — only containers.conf's `default_ulimits` reaches them.
 */
import { readFileSync } from 'node:fs';

/** One POSIX resource limit as the specgen API takes it: `type` without the `RLIMIT_` prefix, lower case. */
export interface Rlimit {
  type: string;
  soft: number;
  hard: number;
}

/** Podman's default for nofile and nproc as root (`define.RLimitDefaultValue`). */
export const PODMAN_DEFAULT_RLIMIT = 1_048_576;

const RLIMIT_NAMES: Record<number, string> = {
  0: 'cpu',
  1: 'fsize',
  2: 'data',
  3: 'stack',
  4: 'core',
  5: 'rss',
  6: 'nproc',
  7: 'nofile',
  8: 'memlock',
  9: 'as',
  10: 'locks',
  11: 'sigpending',
  12: 'msgqueue',
  13: 'nice',
  14: 'rtprio',
  15: 'rttime',
};

/**
 * Normalizes limits to what Podman 4.3 expects: it prefixes `RLIMIT_` itself, so
 * `RLIMIT_NOFILE` would become the unknown `RLIMIT_RLIMIT_NOFILE`.
 */
export function normalizeRlimits(limits: readonly Rlimit[]): Rlimit[] {
  return limits.map((limit) => ({ ...limit, type: limit.type.replace(/^rlimit_/i, '').toLowerCase() }));
}

/**
 * Adds `defaults` for every limit type `limits` lacks. Podman fills a missing nofile or nproc
 * with its own default, which is exactly the one that cannot be set here.
 */
export function withDefaultRlimits(limits: readonly Rlimit[] | undefined, defaults: readonly Rlimit[]): Rlimit[] {
  const result = normalizeRlimits(limits ?? []);
  const present = new Set(result.map((limit) => limit.type));
  for (const limit of normalizeRlimits(defaults)) if (!present.has(limit.type)) result.push(limit);
  return result;
}

/**
 * `nofile` and `nproc` at this process's hard limits, capped at Podman's default: what a
 * Podman service started by this process (or with the same limits) can give its containers.
 * Podman lowers its own nproc limit to the kernel's `pid_max` when it starts (containers/common
 * does, for its default), so nproc is capped at that too. Returns undefined when /proc is
 * unreadable (not Linux).
 */
export function hostRlimits(
  limitsFile = '/proc/self/limits',
  pidMaxFile = '/proc/sys/kernel/pid_max',
): Rlimit[] | undefined {
  let text: string;
  try {
    text = readFileSync(limitsFile, 'utf8');
  } catch {
    return undefined;
  }
  const hard = (label: string): number => {
    const line = text.split('\n').find((l) => l.startsWith(label));
    const value = line?.slice(label.length).trim().split(/\s+/)[1];
    if (value === undefined || value === 'unlimited') return PODMAN_DEFAULT_RLIMIT;
    return Math.min(Number(value), PODMAN_DEFAULT_RLIMIT);
  };
  const nofile = hard('Max open files');
  let nproc = hard('Max processes');
  try {
    const pidMax = Number(readFileSync(pidMaxFile, 'utf8').trim());
    if (pidMax > 0) nproc = Math.min(nproc, pidMax);
  } catch {
    // no pid_max: keep the hard limit
  }
  return [
    { type: 'nofile', soft: nofile, hard: nofile },
    { type: 'nproc', soft: nproc, hard: nproc },
  ];
}

/**
 * A hint for an OCI runtime error message, or undefined when there is none to give: rlimits
 * that cannot be set, and crun where only runc works.
 */
export function runtimeErrorHint(message: string): string | undefined {
  const rlimit = /error setting rlimit type (\d+)/.exec(message);
  if (rlimit) {
    const name = RLIMIT_NAMES[Number(rlimit[1])] ?? `#${rlimit[1]}`;
    return (
      `the OCI runtime may not set RLIMIT_${name.toUpperCase()} this high: the Podman service runs with a lower hard limit ` +
      `and cannot raise it. Pass both nofile and nproc in the container's r_limits at or below the service's hard limits ` +
      `(see \`ulimit -Hn\` and \`ulimit -Hu\` where it runs), and for pods' infra containers set ` +
      `default_ulimits = ["nofile=N:N", "nproc=M:M"] in the service's containers.conf`
    );
  }
  if (/\bcrun\b/.test(message) && /(error|failed|not permitted|invalid)/i.test(message)) {
    return 'crun failed on this host: use runc (`runtime = "runc"` in containers.conf, or oci_runtime "runc" per container)';
  }
  return undefined;
}
