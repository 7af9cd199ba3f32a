/**
 * The live heap a V8 heap snapshot holds (the sum of its objects' own sizes; V8 collects garbage
 * before it writes one), so two snapshots around a burst give the heap each cached pod costs.
 *
 * `node bench/heap.ts FILE.heapsnapshot` prints it;
 * `node bench/heap.ts AFTER.heapsnapshot --before BEFORE.heapsnapshot [--top 25]` also prints what
 * grew between the two, by kind of object (V8's node type and constructor name) and, for strings,
 * by value: the same value held many times is a string a cache could share.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

interface HeapSnapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[], ...unknown[]] } };
  nodes: number[];
  strings: string[];
}

/** Own bytes and object count per group. */
export type HeapGroups = Map<string, { count: number; bytes: number }>;

function read(path: string): HeapSnapshot {
  return JSON.parse(readFileSync(path, 'utf8')) as HeapSnapshot;
}

function fieldIndex(snapshot: HeapSnapshot, path: string, name: string): number {
  const index = snapshot.snapshot.meta.node_fields.indexOf(name);
  if (index < 0) throw new Error(`${path}: no ${name} in the snapshot's node fields`);
  return index;
}

/** Bytes of live objects in a `.heapsnapshot` file. */
export function liveHeapBytes(path: string): number {
  const snapshot = read(path);
  const width = snapshot.snapshot.meta.node_fields.length;
  const selfSize = fieldIndex(snapshot, path, 'self_size');
  let total = 0;
  for (let i = selfSize; i < snapshot.nodes.length; i += width) total += snapshot.nodes[i] ?? 0;
  return total;
}

/** The snapshot's objects grouped by kind (`object Pod`, `array (object properties)`) and strings by value. */
export function heapGroups(path: string): { kinds: HeapGroups; strings: HeapGroups } {
  const snapshot = read(path);
  const width = snapshot.snapshot.meta.node_fields.length;
  const type = fieldIndex(snapshot, path, 'type');
  const name = fieldIndex(snapshot, path, 'name');
  const selfSize = fieldIndex(snapshot, path, 'self_size');
  const typeNames = snapshot.snapshot.meta.node_types[0];
  const kinds: HeapGroups = new Map();
  const strings: HeapGroups = new Map();
  const add = (groups: HeapGroups, key: string, bytes: number) => {
    const group = groups.get(key);
    if (group) {
      group.count++;
      group.bytes += bytes;
    } else groups.set(key, { count: 1, bytes });
  };
  for (let i = 0; i < snapshot.nodes.length; i += width) {
    const kind = typeNames[snapshot.nodes[i + type] as number] ?? '?';
    const label = snapshot.strings[snapshot.nodes[i + name] as number] ?? '';
    const bytes = snapshot.nodes[i + selfSize] as number;
    if (kind === 'string' || kind === 'concatenated string' || kind === 'sliced string') {
      add(kinds, kind, bytes);
      add(strings, label.length > 60 ? `${label.slice(0, 57)}…` : label, bytes);
    } else {
      add(kinds, `${kind} ${label.length > 60 ? `${label.slice(0, 57)}…` : label}`, bytes);
    }
  }
  return { kinds, strings };
}

/** The groups that grew most from `before` to `after`, largest first. */
export function growth(before: HeapGroups, after: HeapGroups, top: number): [string, number, number][] {
  return [...after]
    .map(([key, { count, bytes }]): [string, number, number] => {
      const was = before.get(key);
      return [key, count - (was?.count ?? 0), bytes - (was?.bytes ?? 0)];
    })
    .sort((a, b) => b[2] - a[2])
    .slice(0, top);
}

if (import.meta.main) {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: { before: { type: 'string' }, top: { type: 'string', default: '25' } },
  });
  const path = positionals[0];
  if (!path) {
    process.stderr.write('usage: node bench/heap.ts FILE.heapsnapshot [--before EARLIER.heapsnapshot] [--top N]\n');
    process.exit(2);
  }
  const mib = (bytes: number) => (bytes / 2 ** 20).toFixed(1);
  process.stdout.write(`${mib(liveHeapBytes(path))} MiB live\n`);
  if (values.before) {
    const top = Number(values.top);
    const before = heapGroups(values.before);
    const after = heapGroups(path);
    process.stdout.write(`${mib(liveHeapBytes(values.before))} MiB live before\n\ngrowth by kind:\n`);
    for (const [key, count, bytes] of growth(before.kinds, after.kinds, top)) {
      process.stdout.write(`${mib(bytes).padStart(8)} MiB ${String(count).padStart(9)}  ${key}\n`);
    }
    process.stdout.write('\ngrowth of strings by value:\n');
    for (const [key, count, bytes] of growth(before.strings, after.strings, top)) {
      process.stdout.write(`${mib(bytes).padStart(8)} MiB ${String(count).padStart(9)}  ${JSON.stringify(key)}\n`);
    }
  }
}
