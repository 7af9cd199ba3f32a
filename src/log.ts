/**
 * Logging: structured JSON lines (pino) for machines, a compact one-line format for a terminal.
 * Library users pass their own pino logger; the default writes JSON to stderr at `info`.
 */
import { Writable } from 'node:stream';
import pino, { type Logger } from 'pino';

export type { Logger } from 'pino';

export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent';

const LEVEL_NAMES: Record<number, string> = {
  10: 'TRACE',
  20: 'DEBUG',
  30: 'INFO',
  40: 'WARN',
  50: 'ERROR',
  60: 'FATAL',
};
const OMITTED = new Set(['level', 'time', 'msg', 'pid', 'hostname', 'v']);

/** Turns pino's JSON lines into `18:33:22 INFO  message key=value …`. */
function prettyStream(out: NodeJS.WritableStream): Writable {
  return new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n')) {
        if (!line) continue;
        let entry: Record<string, unknown>;
        try {
          entry = JSON.parse(line) as Record<string, unknown>;
        } catch {
          out.write(`${line}\n`);
          continue;
        }
        const time = new Date(Number(entry.time ?? Date.now())).toISOString().slice(11, 19);
        const level = (LEVEL_NAMES[Number(entry.level)] ?? 'INFO').padEnd(5);
        const fields = Object.entries(entry)
          .filter(([key]) => !OMITTED.has(key))
          .map(([key, value]) => `${key}=${typeof value === 'string' ? value : JSON.stringify(value)}`)
          .join(' ');
        out.write(`${time} ${level} ${String(entry.msg ?? '')}${fields ? ` ${fields}` : ''}\n`);
      }
      done();
    },
  });
}

/** A logger for the CLI: pretty on a terminal, JSON otherwise. */
export function createLogger(
  options: { level?: LogLevel; pretty?: boolean; destination?: NodeJS.WritableStream } = {},
): Logger {
  const destination = options.destination ?? process.stderr;
  const pretty = options.pretty ?? Boolean((destination as { isTTY?: boolean }).isTTY);
  return pino(
    { level: options.level ?? 'info', base: undefined, timestamp: pino.stdTimeFunctions.epochTime },
    pretty ? prettyStream(destination) : pino.destination({ dest: 2, sync: false }),
  );
}

/** A logger that drops everything (the library default when none is given to a component). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
