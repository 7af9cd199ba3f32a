/**
 * A real terminal for `kubectl exec -it`: a detached tmux session whose screen a test can read,
 * type into and resize. kubectl only allocates a TTY (and sends resizes) when its stdin is one.
 */

import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';

function tmux(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('tmux', args);
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
    });
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`tmux ${args[0]} exited ${code}`))));
  });
}

/** Whether tmux can be run here (tests skip with the reason when it cannot). */
export async function hasTmux(): Promise<boolean> {
  return tmux(['-V']).then(
    () => true,
    () => false,
  );
}

export class Terminal {
  readonly session = `vk-${randomBytes(3).toString('hex')}`;

  private constructor() {}

  /** Runs `command` (a shell command line) in a new terminal of `width`×`height`. */
  static async start(command: string, width: number, height: number): Promise<Terminal> {
    const terminal = new Terminal();
    await tmux(['new-session', '-d', '-s', terminal.session, '-x', String(width), '-y', String(height), command]);
    return terminal;
  }

  /** What the terminal shows now. */
  screen(): Promise<string> {
    return tmux(['capture-pane', '-p', '-t', this.session]);
  }

  /** Types `text` and presses Enter. */
  async type(text: string): Promise<void> {
    await tmux(['send-keys', '-t', this.session, '-l', text]);
    await tmux(['send-keys', '-t', this.session, 'Enter']);
  }

  async resize(width: number, height: number): Promise<void> {
    await tmux(['resize-window', '-t', this.session, '-x', String(width), '-y', String(height)]);
  }

  async close(): Promise<void> {
    await tmux(['kill-session', '-t', this.session]).catch(() => undefined);
  }
}
