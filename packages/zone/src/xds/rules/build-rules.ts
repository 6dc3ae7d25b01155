/**
 * Rules: from a list of (subset → conf) items, ordered least specific first, the list of
 * (subset → merged conf) Kuma's xDS plugins read. Kuma 2.7 core/rules/rules.go `BuildRules`
 * ("BuildRules creates a list of rules with negations sorted by the number of positive tags",
 * algorithm from MADR 007):
 *
 * 1. items whose subsets may intersect are grouped (connected components);
 * 2. in each group, every consistent combination of its tags, each either required or negated, is a
 *    candidate subset (for one key at most one value can be required);
 * 3. a candidate's conf is the merge, in order, of the items whose subset contains it; candidates no
 *    item contains give no rule;
 * 4. rules are sorted by their number of positive tags, most first, so the first rule containing a
 *    point is its rule (`computeRule`).
 *
 * Bounded: the candidates of one group are the product over its keys of (values + 1), not Kuma's
 * 2^tags iteration, and a group with more than MAX_CANDIDATES is skipped with a warning.
 */
import { intersects, isSubset, numPositive, type Subset, subsetKey, type Tag } from './subset.js';

export interface RuleItem<C> {
  readonly subset: Subset;
  readonly conf: C;
  /** The policy the item comes from. */
  readonly origin: string;
}

export interface Rule<C> {
  readonly subset: Subset;
  readonly conf: C;
  /** Every policy that contributed to `conf`, by name, sorted (Kuma's Rule.Origin). */
  readonly origins: readonly string[];
}

export const MAX_CANDIDATES = 4096;

export interface BuiltRules<C> {
  readonly rules: Rule<C>[];
  readonly warnings: string[];
}

export function buildRules<C>(items: readonly RuleItem<C>[], merge: (confs: C[]) => C[]): BuiltRules<C> {
  const warnings: string[] = [];
  const rules: Rule<C>[] = [];
  for (const group of components(items)) {
    const byKey = new Map<string, Set<string>>();
    for (const i of group) {
      for (const t of items[i]!.subset) {
        let vs = byKey.get(t.key);
        if (!vs) byKey.set(t.key, (vs = new Set()));
        vs.add(t.value);
      }
    }
    const keys = [...byKey.keys()].sort();
    const values = keys.map((k) => [...byKey.get(k)!].sort());
    const count = values.reduce((n, vs) => n * (vs.length + 1), 1);
    if (count > MAX_CANDIDATES) {
      const names = [...new Set(group.map((i) => items[i]!.origin))].sort();
      warnings.push(`rules of ${names.join(', ')} combine ${keys.length} tag keys into ${count} subsets (more than ${MAX_CANDIDATES}): skipped`);
      continue;
    }
    for (const candidate of candidates(keys, values)) {
      const confs: C[] = [];
      const origins = new Set<string>();
      for (const i of group) {
        const item = items[i]!;
        if (isSubset(item.subset, candidate)) {
          confs.push(item.conf);
          origins.add(item.origin);
        }
      }
      if (confs.length === 0) continue;
      for (const conf of merge(confs)) rules.push({ subset: candidate, conf, origins: [...origins].sort() });
    }
  }
  // Kuma: sort.SliceStable by NumPositive, most first. Rules with equal counts never both contain a
  // point with different confs (groups do not intersect, candidates of a group are disjoint), so the
  // tie-break only makes the output deterministic.
  return {
    rules: rules
      .map((r, i) => ({ r, i, k: subsetKey(r.subset) }))
      .sort((a, b) => numPositive(b.r.subset) - numPositive(a.r.subset) || (a.k < b.k ? -1 : a.k > b.k ? 1 : a.i - b.i))
      .map((x) => x.r),
    warnings,
  };
}

/** Indices of items grouped by possible intersection (union-find), each group in item order. */
function components<C>(items: readonly RuleItem<C>[]): number[][] {
  const parent = items.map((_, i) => i);
  const find = (i: number): number => (parent[i] === i ? i : (parent[i] = find(parent[i]!)));
  for (let i = 0; i < items.length; i++) {
    for (let j = i + 1; j < items.length; j++) {
      if (find(i) !== find(j) && intersects(items[i]!.subset, items[j]!.subset)) parent[find(i)] = find(j);
    }
  }
  const groups = new Map<number, number[]>();
  items.forEach((_, i) => {
    const r = find(i);
    const g = groups.get(r);
    if (g) g.push(i);
    else groups.set(r, [i]);
  });
  return [...groups.values()];
}

/** Every consistent subset: per key, one value required, or every value negated. */
function* candidates(keys: readonly string[], values: readonly string[][]): Generator<Subset> {
  const choice = keys.map(() => 0);
  for (;;) {
    const ss: Tag[] = [];
    keys.forEach((key, k) => {
      const vs = values[k]!;
      const c = choice[k]!;
      if (c < vs.length) ss.push({ key, value: vs[c]! });
      else for (const value of vs) ss.push({ key, value, not: true });
    });
    yield ss;
    let k = keys.length - 1;
    while (k >= 0 && choice[k] === values[k]!.length) choice[k--] = 0;
    if (k < 0) return;
    choice[k] = choice[k]! + 1;
  }
}

/** The rule for a point or a subset: the first whose subset contains it (Kuma's Rules.Compute). */
export function computeRule<C>(rules: readonly Rule<C>[], subset: Subset): Rule<C> | undefined {
  return rules.find((r) => isSubset(r.subset, subset));
}

/** An inbound's `from` rule for any client: Kuma computes `from` for the whole mesh (the empty subset), not per client. */
export function computeForAnyClient<C>(from: readonly Rule<C>[] | undefined): Rule<C> | undefined {
  return from ? computeRule(from, []) : undefined;
}
