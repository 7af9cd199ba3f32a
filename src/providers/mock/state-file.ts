/**
 * The mock's `stateFile`: its pods kept across restarts of the process, as a real backend keeps
 * its containers. Tests count provider calls across a SIGKILL, so a change must be on disk before
 * the call that made it returns — otherwise a restart creates a pod again because the mock forgot
 * it, and the test measures the mock instead of the controller.
 *
 * Hence a journal: every change appends one JSON line (`{"set": pod}` or `{"delete": "ns/name"}`)
 * with a synchronous write, which is in the kernel (and survives the process being killed) when the
 * call returns, and costs the same at 10 000 pods as at one. Loading replays the lines; a last line
 * cut short by a crash mid-write is ignored. When the journal holds much more than the live pods,
 * it is rewritten (into a temporary file, renamed over the old one) with one line per pod.
 * Machine crashes are not covered (no fsync): this is a test backend.
 */
import { appendFileSync, existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import type { Pod } from 'kubernetes-types/core/v1.js';
import { ConfigError, errorMessage } from '../../errors.ts';
import { objectKey } from '../../kube/resources.ts';

type Entry = { set: Pod } | { delete: string };

/** Journal lines allowed beyond the live pods before the file is compacted. */
const SLACK_LINES = 1000;

/** Reads the pods a state file holds (tests read it too). A missing file holds none. */
export function readMockState(path: string): Map<string, Pod> {
  const pods = new Map<string, Pod>();
  if (!existsSync(path)) return pods;
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new ConfigError(`mock stateFile ${path} cannot be read: ${errorMessage(error)}`);
  }
  const lines = text.split('\n');
  for (const [index, line] of lines.entries()) {
    if (line === '') continue;
    let entry: Entry;
    try {
      entry = JSON.parse(line) as Entry;
    } catch (error) {
      // The last line may be cut short by a kill mid-write; anything earlier is damage.
      if (index === lines.length - 1) break;
      throw new ConfigError(`mock stateFile ${path} line ${index + 1} is not JSON: ${errorMessage(error)}`);
    }
    if (entry && typeof entry === 'object' && 'set' in entry && entry.set && typeof entry.set === 'object') {
      pods.set(objectKey(entry.set), entry.set);
    } else if (entry && typeof entry === 'object' && 'delete' in entry && typeof entry.delete === 'string') {
      pods.delete(entry.delete);
    } else {
      throw new ConfigError(`mock stateFile ${path} line ${index + 1} is neither {"set": pod} nor {"delete": key}`);
    }
  }
  return pods;
}

/** The journal of one mock provider. */
export class MockStateFile {
  readonly path: string;
  #lines = 0;

  constructor(path: string) {
    this.path = path;
  }

  /** The pods the file holds; the file is compacted to them (one line per pod). */
  load(): Map<string, Pod> {
    const pods = readMockState(this.path);
    this.compact(pods.values());
    return pods;
  }

  /** Records a created or changed pod (`pods` already holds it); on disk when this returns. */
  set(pod: Pod, pods: ReadonlyMap<string, Pod>): void {
    this.#append({ set: pod }, pods);
  }

  /** Records a removed pod (`pods` no longer holds it); on disk when this returns. */
  delete(key: string, pods: ReadonlyMap<string, Pod>): void {
    this.#append({ delete: key }, pods);
  }

  /** Rewrites the file with exactly `pods`. */
  compact(pods: Iterable<Pod>): void {
    let text = '';
    let lines = 0;
    for (const pod of pods) {
      text += `${JSON.stringify({ set: pod })}\n`;
      lines++;
    }
    writeFileSync(`${this.path}.tmp`, text);
    renameSync(`${this.path}.tmp`, this.path);
    this.#lines = lines;
  }

  #append(entry: Entry, pods: ReadonlyMap<string, Pod>): void {
    if (this.#lines >= 2 * pods.size + SLACK_LINES) {
      this.compact(pods.values());
      return;
    }
    appendFileSync(this.path, `${JSON.stringify(entry)}\n`);
    this.#lines++;
  }
}
