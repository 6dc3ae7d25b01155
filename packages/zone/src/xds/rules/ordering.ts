/**
 * The order policies are merged in: least specific first, so that the last one, the most specific,
 * wins. Kuma 2.7 pkg/plugins/policies/core/matchers/dataplane.go `ByTargetRef`:
 *
 * 1. the top-level targetRef kind, api/common/v1alpha1/ref.go `order`: Mesh (1) < MeshSubset (2) <
 *    MeshGateway (3) < MeshService (4) < MeshServiceSubset (5) < MeshHTTPRoute (6) — the documents:
 *    "Mesh > MeshSubset > MeshService > MeshServiceSubset (the more a targetRef is focused the
 *    higher priority it has)";
 * 2. the origin (label `kuma.io/origin`): global < none < zone — the 2.10 documents' table: "Origin
 *    ... global (less priority), zone";
 * 3. for MeshGateway only, the number of listener tags: more tags, more specific;
 * 4. the display name (label `kuma.io/display-name`, else the name), in inverted lexicographic order
 *    — "If levels are equal the lexicographic order of policy names is used"; the 2.10 table spells
 *    the direction out: "Inverted lexicographical order, i.e; zzzzz (less priority) … aaa", so `a`
 *    beats `b`.
 *
 * Then, which Kuma leaves to its sort's stability, the stored name, inverted the same way.
 */
import { LABEL_DISPLAY_NAME, LABEL_ORIGIN } from '@meshfed/shared';
import type { AnyPolicy } from './policy-kinds.js';

export const KIND_ORDER: Readonly<Record<string, number>> = {
  Mesh: 1,
  MeshSubset: 2,
  MeshGateway: 3,
  MeshService: 4,
  MeshServiceSubset: 5,
  MeshHTTPRoute: 6,
};

export function originRank(labels: Readonly<Record<string, string>>): number {
  const o = labels[LABEL_ORIGIN];
  return o === 'global' ? -1 : o === 'zone' ? 1 : 0;
}

export const displayName = (p: { name: string; labels: Readonly<Record<string, string>> }): string => p.labels[LABEL_DISPLAY_NAME] ?? p.name;

/** Negative when `a` is merged before (loses to) `b`. */
export function compareBySpecificity(a: AnyPolicy, b: AnyPolicy): number {
  const ra = a.spec.targetRef;
  const rb = b.spec.targetRef;
  const ka = KIND_ORDER[ra.kind] ?? 0;
  const kb = KIND_ORDER[rb.kind] ?? 0;
  if (ka !== kb) return ka - kb;
  const oa = originRank(a.labels);
  const ob = originRank(b.labels);
  if (oa !== ob) return oa - ob;
  if (ra.kind === 'MeshGateway') {
    const ta = Object.keys(ra.tags ?? {}).length;
    const tb = Object.keys(rb.tags ?? {}).length;
    if (ta !== tb) return ta - tb;
  }
  const da = displayName(a);
  const db = displayName(b);
  if (da !== db) return da > db ? -1 : 1;
  return a.name === b.name ? 0 : a.name > b.name ? -1 : 1;
}

/** A sorted copy: least specific first, most specific (the winner of every conflict) last. */
export function sortBySpecificity<P extends AnyPolicy>(policies: readonly P[]): P[] {
  return [...policies].sort(compareBySpecificity);
}
