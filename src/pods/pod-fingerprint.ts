/**
 * What in a pod, when it changes, must reach the provider through `updatePod`. A pod's spec is
 * mostly immutable; what can change while it runs is its labels and annotations, container
 * images, resources (in-place resize), `activeDeadlineSeconds` and added tolerations. Status
 * changes never reach the provider.
 */
import { hash } from 'node:crypto';
import type { Container, EphemeralContainer, Pod } from 'kubernetes-types/core/v1.js';

function sortedEntries(map: Record<string, string> | undefined): [string, string][] {
  return Object.entries(map ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

function containerParts(containers: (Container | EphemeralContainer)[] | undefined): unknown[] {
  return (containers ?? []).map((c) => [c.name, c.image ?? '', c.resources ?? null]);
}

/** A short string that changes exactly when something `updatePod` must hear about changes. */
export function podUpdateFingerprint(pod: Pod): string {
  const spec = pod.spec;
  const parts = JSON.stringify([
    sortedEntries(pod.metadata?.labels),
    sortedEntries(pod.metadata?.annotations),
    spec?.activeDeadlineSeconds ?? null,
    spec?.tolerations ?? [],
    containerParts(spec?.containers),
    containerParts(spec?.initContainers),
    containerParts(spec?.ephemeralContainers),
  ]);
  return shortDigest(parts);
}

/**
 * A short digest of an object's JSON: records keep this rather than the JSON itself, which at
 * ten thousand pods would cost megabytes.
 */
export function contentDigest(value: unknown): string {
  return shortDigest(JSON.stringify(value));
}

function shortDigest(text: string): string {
  return hash('sha1', text, 'base64');
}

/** The container images of a pod, in order: what adoption compares with the provider's copy. */
export function podImages(pod: Pod): string {
  const spec = pod.spec;
  return JSON.stringify([
    (spec?.initContainers ?? []).map((c) => c.image ?? ''),
    (spec?.containers ?? []).map((c) => c.image ?? ''),
  ]);
}
