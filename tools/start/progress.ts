/**
 * Progress for `npm start`: one line per step (`[2/5] control plane …`), the harness's own
 * messages indented under it, and — because building Kubernetes the first time takes minutes with
 * nothing to say meanwhile — a "still working" line with the elapsed time when a step has been
 * quiet for a while.
 */

/** How long a step may stay silent before a "still …" line says it is alive. */
const QUIET_MS = 30_000;

export class Progress {
  readonly #total: number;
  readonly #write: (line: string) => void;
  #index = 0;
  #title = '';
  #started = 0;
  #lastLine = 0;
  #timer: NodeJS.Timeout | undefined;

  constructor(total: number, write: (line: string) => void = (line) => process.stdout.write(`${line}\n`)) {
    this.#total = total;
    this.#write = write;
  }

  /** Runs one step, printing its title, its duration at the end, or that it failed. */
  async step<T>(title: string, run: (detail: (line: string) => void) => Promise<T>): Promise<T> {
    this.#index++;
    this.#title = title;
    this.#started = Date.now();
    this.#lastLine = this.#started;
    this.#write(`[${this.#index}/${this.#total}] ${title}`);
    this.#timer = setInterval(() => {
      if (Date.now() - this.#lastLine < QUIET_MS) return;
      this.#lastLine = Date.now();
      this.#write(`      … still ${this.#title} (${elapsed(Date.now() - this.#started)})`);
    }, 1000);
    try {
      const result = await run((line) => this.detail(line));
      this.#write(`      done in ${elapsed(Date.now() - this.#started)}`);
      return result;
    } catch (error) {
      this.#write(`      failed after ${elapsed(Date.now() - this.#started)}`);
      throw error;
    } finally {
      clearInterval(this.#timer);
      this.#timer = undefined;
    }
  }

  /** A line of detail under the current step. */
  detail(line: string): void {
    this.#lastLine = Date.now();
    this.#write(`      ${line}`);
  }
}

/** `4.2 s`, `3 min 05 s`. */
export function elapsed(ms: number): string {
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const seconds = Math.round(ms / 1000);
  return `${Math.floor(seconds / 60)} min ${String(seconds % 60).padStart(2, '0')} s`;
}
