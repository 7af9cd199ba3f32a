/**
 * The live heap a V8 heap snapshot holds (the sum of its objects' own sizes; V8 collects garbage
 * before it writes one), so two snapshots around a burst give the heap each cached pod costs.
 *
 * `node bench/heap.ts FILE.heapsnapshot` prints it.
 */
import { readFileSync } from 'node:fs';

interface HeapSnapshot {
  snapshot: { meta: { node_fields: string[] } };
  nodes: number[];
}

/** Bytes of live objects in a `.heapsnapshot` file. */
export function liveHeapBytes(path: string): number {
  const snapshot = JSON.parse(readFileSync(path, 'utf8')) as HeapSnapshot;
  const fields = snapshot.snapshot.meta.node_fields;
  const selfSize = fields.indexOf('self_size');
  if (selfSize < 0) throw new Error(`${path}: no self_size in the snapshot's node fields`);
  let total = 0;
  for (let i = selfSize; i < snapshot.nodes.length; i += fields.length) total += snapshot.nodes[i] ?? 0;
  return total;
}

if (import.meta.main) {
  const path = process.argv[2];
  if (!path) {
    process.stderr.write('usage: node bench/heap.ts FILE.heapsnapshot\n');
    process.exit(2);
  }
  process.stdout.write(`${(liveHeapBytes(path) / 2 ** 20).toFixed(1)} MiB live\n`);
}
