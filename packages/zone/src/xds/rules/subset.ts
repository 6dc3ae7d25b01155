/**
 * Kuma's subsets: a group of proxies (or of clients, or of destinations) described by tags, some of
 * them negated. `{kuma.io/service: web}` is every proxy of web; `{kuma.io/service: !web}` every
 * other one; the empty subset is the whole mesh. Follows pkg/plugins/policies/core/rules/rules.go
 * (Kuma 2.7) fact for fact; see README.md.
 */
import { SERVICE_TAG } from '@meshfed/shared';

/** `key: value`, or `key: !value` when `not`. */
export interface Tag {
  readonly key: string;
  readonly value: string;
  readonly not?: true;
}

export type Subset = readonly Tag[];

/** The targetRef fields a subset is made from (top level, `from[]`, `to[]` or a backendRef). */
export interface RefLike {
  readonly kind: string;
  readonly name?: string | undefined;
  readonly tags?: Readonly<Record<string, string>> | undefined;
}

/**
 * The subset a `from`/`to` targetRef stands for (Kuma's asSubset): Mesh is everything, MeshSubset its
 * tags, MeshService the service tag, MeshServiceSubset the service tag and its tags. Undefined for
 * kinds that cannot be written as tags (MeshGateway, MeshHTTPRoute).
 */
export function subsetOf(ref: RefLike): Subset | undefined {
  const tags = (t: Readonly<Record<string, string>> | undefined): Tag[] => Object.entries(t ?? {}).map(([key, value]) => ({ key, value }));
  switch (ref.kind) {
    case 'Mesh':
      return [];
    case 'MeshSubset':
      return sortTags(tags(ref.tags));
    case 'MeshService':
      return [{ key: SERVICE_TAG, value: ref.name ?? '' }];
    case 'MeshServiceSubset':
      // A `kuma.io/service` among the tags that differs from the name leaves a contradictory subset,
      // which matches nothing (Kuma's asSubset appends both tags).
      return sortTags([{ key: SERVICE_TAG, value: ref.name ?? '' }, ...tags(ref.tags)].filter(uniqueTag()));
    default:
      return undefined;
  }
}

/** The subset of one concrete set of tags (a destination service, a client's tags). */
export function subsetFromTags(tags: Readonly<Record<string, string>>): Subset {
  return sortTags(Object.entries(tags).map(([key, value]) => ({ key, value })));
}

export const meshServiceSubset = (service: string): Subset => [{ key: SERVICE_TAG, value: service }];

function uniqueTag() {
  const seen = new Set<string>();
  return (t: Tag) => {
    const k = `${t.key}\u0000${t.value}\u0000${t.not ? 1 : 0}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  };
}

export function sortTags(tags: Tag[]): Tag[] {
  return tags.sort((a, b) => (a.key !== b.key ? (a.key < b.key ? -1 : 1) : a.value !== b.value ? (a.value < b.value ? -1 : 1) : (a.not ? 1 : 0) - (b.not ? 1 : 0)));
}

/**
 * True when every point of `other` is also in `ss` (Kuma's Subset.IsSubset: "IsSubset returns true
 * if 'other' is a subset of the current set. Empty set is a superset for all subsets.").
 */
export function isSubset(ss: Subset, other: Subset): boolean {
  if (ss.length === 0) return true;
  for (const tag of ss) {
    const same = other.filter((t) => t.key === tag.key);
    if (same.length === 0) return false;
    for (const o of same) if (!tagIsSubset(tag, o)) return false;
  }
  return true;
}

function tagIsSubset(t1: Tag, t2: Tag): boolean {
  // Same key guaranteed by the caller.
  if (!!t1.not === !!t2.not) return t1.value === t2.value; // {y: !a} ⊆ {y: !b} iff a == b
  if (t1.not) return t1.value !== t2.value; // {y: a} ⊆ {y: !b} iff a != b
  return false; // {y: !a} is never inside {y: b}
}

/**
 * False only when the two subsets provably share no point (Kuma's Subset.Intersect: "Intersect
 * returns true if there exists an element that belongs both to 'other' and current set. Empty set
 * intersects with all sets."): a positive tag of one and a positive tag of the other with the same
 * key and different values.
 */
export function intersects(a: Subset, b: Subset): boolean {
  if (a.length === 0 || b.length === 0) return true;
  const positive = new Map<string, Tag[]>();
  for (const t of b) {
    if (t.not) continue;
    const l = positive.get(t.key);
    if (l) l.push(t);
    else positive.set(t.key, [t]);
  }
  for (const t of a) {
    if (t.not) continue;
    const others = positive.get(t.key);
    // Kuma 2.7 returns true at the first key the other subset lacks, which makes the answer depend on
    // Go's map order; looking at every key instead is the order-free reading (README, "Choices").
    if (!others) continue;
    for (const o of others) if (o.value !== t.value) return false;
  }
  return true;
}

export const numPositive = (ss: Subset): number => ss.reduce((n, t) => n + (t.not ? 0 : 1), 0);

/** `k=v,k2!=v2`: a readable key for logs, tests and deterministic ordering. */
export function subsetKey(ss: Subset): string {
  return ss.map((t) => `${t.key}${t.not ? '!=' : '='}${t.value}`).join(',');
}

/** The positive tags of a subset as a record (what a concrete destination's tags look like). */
export function positiveTags(ss: Subset): Record<string, string> {
  const out: Record<string, string> = {};
  for (const t of ss) if (!t.not) out[t.key] = t.value;
  return out;
}
