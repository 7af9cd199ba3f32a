/**
 * What the Podman harness needs from the machine, checked up front so a test skips (or a
 * harness call fails) with a sentence that says what to install, not a stack trace from deep
 * inside Podman.
 */
import { existsSync, readFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';

/** The Debian packages the harness uses, by the command that comes from each. */
export const DEBIAN_PACKAGES = {
  podman: 'podman',
  runc: 'runc',
  conmon: 'conmon',
  netavark: 'netavark',
  'docker-registry': 'docker-registry',
  htpasswd: 'apache2-utils',
  busybox: 'busybox-static',
} as const;

/** Finds an executable on PATH (plus the sbin directories root's tools live in). */
export function findExecutable(
  name: string,
  extraDirs: readonly string[] = ['/usr/sbin', '/sbin', '/usr/libexec/podman', '/usr/lib/podman'],
): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(delimiter), ...extraDirs];
  for (const dir of dirs) {
    if (!dir) continue;
    const candidate = join(dir, name);
    if (existsSync(candidate)) return candidate;
  }
  return undefined;
}

/**
 * Why Podman tests cannot run here, or undefined when they can: not Linux, not root (the
 * harness runs rootful Podman so pods get bridge IPs the host can reach), or a missing tool.
 */
export function podmanUnavailableReason(): string | undefined {
  if (process.platform !== 'linux') return `Podman tests need Linux (this is ${process.platform})`;
  if (process.getuid?.() !== 0) {
    return 'Podman tests need root: they run rootful Podman so pods get bridge IPs the host can reach';
  }
  const missing = (['podman', 'runc', 'conmon'] as const).filter((tool) => !findExecutable(tool));
  if (missing.length > 0) {
    const packages = [...new Set(['podman', 'runc', ...missing.map((tool) => DEBIAN_PACKAGES[tool])])];
    return `${missing.join(', ')} not found: install them with \`apt-get install -y ${packages.join(' ')}\``;
  }
  return undefined;
}

/** The reason a tool the registry or image helpers need is missing, or undefined. */
export function toolMissingReason(tool: keyof typeof DEBIAN_PACKAGES, path?: string): string | undefined {
  if (path ? existsSync(path) : findExecutable(tool)) return undefined;
  return `${path ?? tool} not found: install it with \`apt-get install -y ${DEBIAN_PACKAGES[tool]}\``;
}

/** The kernel's boot ID: runtime state from before a reboot must not be trusted. */
export function bootId(): string {
  try {
    return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  } catch {
    return 'unknown';
  }
}
