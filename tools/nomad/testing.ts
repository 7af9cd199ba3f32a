/**
 * The Nomad harness as tests use it: whether Nomad tests can run here (they need what the Podman
 * harness needs, Nomad's CNI plugins, and Go with a C compiler or a ready binary).
 *
 * ```ts
 * describe('…', { skip: nomadSkipReason() }, () => {
 *   let nomad: NomadCluster;
 *   before(async () => { nomad = await startNomadCluster({ name: 'e2e' }); });
 *   after(() => nomad.stop());
 * ```
 */
import { existsSync } from 'node:fs';
import { findExecutable } from '../podman/environment.ts';
import { podmanSkipReason } from '../podman/testing.ts';
import { CNI_PATH } from './cluster.ts';

/** Why Nomad tests are skipped here, or undefined when they run. `VK_SKIP_NOMAD=1` skips them on purpose. */
export function nomadSkipReason(): string | undefined {
  if (process.env.VK_SKIP_NOMAD === '1') return 'VK_SKIP_NOMAD=1';
  const podman = podmanSkipReason();
  if (podman) return `Nomad's docker driver runs on the Podman harness: ${podman}`;
  if (!existsSync(`${CNI_PATH}/bridge`)) {
    return `Nomad's bridge networking needs the CNI plugins in ${CNI_PATH}: apt-get install -y containernetworking-plugins`;
  }
  if (!findExecutable('iptables')) return "Nomad's bridge networking needs iptables: apt-get install -y iptables";
  if (!process.env.VK_NOMAD_BINARY && !findExecutable('go'))
    return 'Go is needed to build Nomad (or set VK_NOMAD_BINARY)';
  return undefined;
}
