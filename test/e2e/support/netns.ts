/**
 * A network namespace of the test's own, joined to the host by a veth pair, so that a virtual
 * kubelet run inside it has an address that is not loopback. The API server refuses to proxy to
 * loopback (`address not allowed`), so the node-proxy paths users type daily —
 * `kubectl get --raw /api/v1/nodes/<node>/proxy/stats/summary` and friends — can only be tested
 * against a node with an address of its own.
 *
 *   host: <prefix>.1/30 on vkx…h  ⇄  namespace: <prefix>.2/30 on vkx…n (and lo)
 *
 * The API server only listens on 127.0.0.1, which the namespace cannot reach, so the host side
 * also runs a TCP relay from `<prefix>.1:<port>` to it. The API server reaches the node at
 * `<prefix>.2` over the veth directly.
 *
 * Needs root and iproute2's `ip`: {@link netnsUnavailable} says why not, for a test's skip. The
 * namespace and its veth are removed by `close()`, and at the latest when the process exits.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes, randomInt } from 'node:crypto';
import { connect, createServer, type Server, type Socket } from 'node:net';

/** Why namespaces cannot be made here, or undefined when they can. */
export function netnsUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root to create a network namespace (CI runs as root)';
  try {
    execFileSync('ip', ['-V'], { stdio: 'ignore' });
  } catch {
    return "needs iproute2's ip command (Debian package iproute2)";
  }
  return undefined;
}

function ip(args: string[]): string {
  try {
    return execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (error) {
    const stderr = (error as { stderr?: string }).stderr?.trim();
    throw new Error(`ip ${args.join(' ')} failed: ${stderr || (error as Error).message}`);
  }
}

/** Namespaces still open, removed when the process exits even if a test forgot (or failed before) close(). */
const open = new Set<NetworkNamespace>();
function removeAll(): void {
  for (const namespace of open) namespace.removeNow();
}
process.once('exit', removeAll);
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    removeAll();
    process.kill(process.pid, signal);
  });
}

/** Removes namespaces left by test processes that were killed (SIGKILL leaves no chance to clean up). */
function removeOrphans(): void {
  for (const line of ip(['netns', 'list']).split('\n')) {
    const match = /^(vk-test-(\d+)-[0-9a-f]+)/.exec(line);
    if (!match) continue;
    const pid = Number(match[2]);
    try {
      process.kill(pid, 0);
    } catch {
      try {
        ip(['netns', 'del', match[1] as string]);
      } catch {
        // removed meanwhile
      }
    }
  }
}

export class NetworkNamespace {
  readonly name: string;
  /** The host's end of the veth. */
  readonly hostAddress: string;
  /** The namespace's end: the address a process inside it is reached at. */
  readonly address: string;
  readonly #hostLink: string;
  readonly #relays: Server[] = [];
  readonly #sockets = new Set<Socket>();

  private constructor(name: string, hostLink: string, hostAddress: string, address: string) {
    this.name = name;
    this.#hostLink = hostLink;
    this.hostAddress = hostAddress;
    this.address = address;
  }

  /** Makes the namespace, its veth pair and their addresses (a free /30 in 10.213.0.0/16). */
  static create(): NetworkNamespace {
    const reason = netnsUnavailable();
    if (reason) throw new Error(`cannot create a network namespace: ${reason}`);
    removeOrphans();
    const id = randomBytes(3).toString('hex');
    const name = `vk-test-${process.pid}-${id}`;
    // Interface names are at most 15 characters; "vkx" keeps clear of the other harnesses' links.
    const hostLink = `vkx${id}h`;
    const nsLink = `vkx${id}n`;
    // A /30 no other test holds: their host ends show in the host's addresses.
    const used = ip(['-4', '-o', 'addr']);
    let hostAddress: string;
    let address: string;
    do {
      const block = randomInt(0, 16384) * 4;
      hostAddress = `10.213.${block >> 8}.${(block & 0xff) + 1}`;
      address = `10.213.${block >> 8}.${(block & 0xff) + 2}`;
    } while (used.includes(` ${hostAddress}/`));
    const namespace = new NetworkNamespace(name, hostLink, hostAddress, address);
    open.add(namespace);
    try {
      ip(['netns', 'add', name]);
      ip(['link', 'add', hostLink, 'type', 'veth', 'peer', 'name', nsLink]);
      ip(['link', 'set', nsLink, 'netns', name]);
      ip(['addr', 'add', `${hostAddress}/30`, 'dev', hostLink]);
      ip(['link', 'set', hostLink, 'up']);
      ip(['netns', 'exec', name, 'ip', 'addr', 'add', `${address}/30`, 'dev', nsLink]);
      ip(['netns', 'exec', name, 'ip', 'link', 'set', nsLink, 'up']);
      ip(['netns', 'exec', name, 'ip', 'link', 'set', 'lo', 'up']);
    } catch (error) {
      namespace.removeNow();
      throw error;
    }
    return namespace;
  }

  /** The command prefix that runs a program inside the namespace. */
  get exec(): string[] {
    return ['ip', 'netns', 'exec', this.name];
  }

  /**
   * Relays TCP connections to `<hostAddress>:<port>` (chosen here) on to `target` in the host's
   * namespace, so processes inside reach a server that listens on loopback only.
   */
  async relay(target: { host: string; port: number }): Promise<number> {
    const server = createServer((inbound) => {
      const outbound = connect(target.port, target.host);
      for (const socket of [inbound, outbound]) {
        this.#sockets.add(socket);
        socket.once('close', () => this.#sockets.delete(socket));
        socket.on('error', () => {
          inbound.destroy();
          outbound.destroy();
        });
      }
      inbound.pipe(outbound).pipe(inbound);
    });
    this.#relays.push(server);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, this.hostAddress, () => resolve());
    });
    const address = server.address();
    if (typeof address !== 'object' || !address) throw new Error('the relay has no port');
    return address.port;
  }

  /** Stops the relays and removes the namespace and its veth pair. */
  async close(): Promise<void> {
    for (const socket of this.#sockets) socket.destroy();
    await Promise.all(this.#relays.map((server) => new Promise((resolve) => server.close(resolve))));
    this.removeNow();
  }

  /** Removes the namespace and the veth (synchronously, so it also works at process exit). */
  removeNow(): void {
    if (!open.delete(this)) return;
    // Deleting the namespace deletes its end of the veth, and with it the host's end.
    try {
      ip(['netns', 'del', this.name]);
    } catch {
      // already gone
    }
    try {
      ip(['link', 'del', this.#hostLink]);
    } catch {
      // went with the namespace
    }
  }
}
