/**
 * A real terminal for `kubectl exec -it`: a detached tmux session whose screen a test can read,
 * type into and resize. kubectl only allocates a TTY (and sends resizes) when its stdin is one.
 */

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { waitFor } from '../../support/wait.ts';

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

/**
 * `kubectl exec -it … -- sh` (the `command` line) under a real 100×30 terminal: the shell answers,
 * `stty size` shows the terminal's width from the start, and after a resize to 132×43 the new
 * one. Providers apply a resize and stdin on separate paths (an engine call beside a pipe), so
 * after the resize `stty size` is asked again until the new size shows; the first size must be
 * there at once.
 */
export async function checkShellUnderTerminal(command: string): Promise<void> {
  const terminal = await Terminal.start(command, 100, 30);
  let screen = '';
  const shows = (what: string, pattern: RegExp, retype?: string) =>
    waitFor(
      what,
      async () => {
        screen = await terminal.screen();
        if (pattern.test(screen)) return true;
        if (retype) await terminal.type(retype);
        return false;
      },
      { timeoutMs: 20_000, intervalMs: retype ? 1500 : 100 },
    ).catch((error: Error) => assert.fail(`${error.message}; the screen:\n${screen}`));
  try {
    await shows('a shell prompt', /[#$] ?$/m);
    await terminal.type('echo product=$((6*7)); stty size');
    await shows('the first terminal size', /^product=42\n\d+ 100$/m);
    await terminal.resize(132, 43);
    await shows('the new terminal size', /^\d+ 132$/m, 'stty size');
  } finally {
    await terminal.close();
  }
}
