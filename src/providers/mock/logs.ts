/**
 * The mock's container logs: numbered lines, one per second. Ten lines exist when the container
 * starts (written in the ten seconds before), and a new one appears every second after, so
 * tail/since/timestamps/limitBytes and `follow` can be tested exactly.
 */
import { Readable } from 'node:stream';
import {
  applyLogOptions,
  type ContainerLogOptions,
  formatLogLine,
  type LogEntry,
  logsSince,
} from '../../provider/index.ts';

/** Lines written before the container started. */
export const BACKLOG_LINES = 10;

function line(podKey: string, container: string, origin: number, n: number): LogEntry {
  return { time: new Date(origin + (n - 1) * 1000), text: `line ${n} of ${podKey}/${container}` };
}

/** Every line the container has written up to `now`. */
export function mockLogEntries(podKey: string, container: string, startedAt: Date, now: Date): LogEntry[] {
  const origin = startedAt.getTime() - (BACKLOG_LINES - 1) * 1000;
  const count = Math.max(0, Math.floor((now.getTime() - origin) / 1000) + 1);
  return Array.from({ length: count }, (_, i) => line(podKey, container, origin, i + 1));
}

/**
 * The log stream for a request: what exists now with the options applied, then (with follow)
 * each new line as it is written, until the reader goes away or `running()` turns false.
 */
export function mockLogStream(
  podKey: string,
  container: string,
  startedAt: Date,
  options: ContainerLogOptions,
  running: () => boolean,
): Readable {
  const now = new Date();
  const existing = mockLogEntries(podKey, container, startedAt, now);
  const initial = applyLogOptions(existing, options, now);
  if (!options.follow) return Readable.from([initial]);
  const origin = startedAt.getTime() - (BACKLOG_LINES - 1) * 1000;
  const since = logsSince(options, now);
  let next = existing.length + 1;
  let timer: NodeJS.Timeout | undefined;
  const stream = new Readable({
    read() {},
    destroy(error, callback) {
      clearTimeout(timer);
      callback(error);
    },
  });
  if (initial.length > 0) stream.push(initial);
  const schedule = () => {
    const due = origin + (next - 1) * 1000;
    timer = setTimeout(
      () => {
        if (!running()) {
          stream.push(null);
          return;
        }
        const entry = line(podKey, container, origin, next++);
        if (!since || entry.time >= since) stream.push(formatLogLine(entry, options));
        schedule();
      },
      Math.max(0, due - Date.now()),
    );
  };
  schedule();
  return stream;
}
