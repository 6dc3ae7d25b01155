/**
 * Merging `default` blocks, as Kuma documents it ("We then build configuration by merging each level
 * using JSON patch merge", policies/targetref.md) and implements it (core/rules/merge.go):
 *
 * - confs are merged in order, least specific first: a later (more specific) value wins;
 * - objects are merged field by field, recursively;
 * - lists are replaced as a whole (MADR 017: "Our current strategy is to replace list from the most
 *   specific policy"), except lists whose field name starts with `append`, which are concatenated
 *   (MADR 017's chosen "Name convention");
 * - a missing field, `undefined` or `null` never overrides (see README: Kuma's typed confs drop nulls
 *   before the merge patch, so the documented "null deletes" never reaches a proxy);
 * - per-kind exceptions (`MergeExceptions`, declared only in policy-kinds.ts) reproduce Kuma's
 *   `policyMerge` tags: `mergeValuesByKey`, `mergeKey` and `mergeValues`.
 *
 * Pure: inputs are never mutated; the result shares no object with them.
 */
import { canonicalJson } from '@meshfed/shared';

/** Kuma's MADR 017 prefix for lists that are concatenated rather than replaced. */
export const APPEND_PREFIX = 'append';

export interface MergeExceptions {
  /**
   * A list field (Kuma: `policyMerge:"mergeValuesByKey"`) whose entries are concatenated across
   * confs, then entries with an equal `key` field (Kuma: `policyMerge:"mergeKey"`, compared deeply)
   * are merged into one: their `valueField` (Kuma: `Default`) merged in order, placed where the last
   * of them appeared.
   */
  readonly byKey?: { readonly field: string; readonly key: string; readonly valueField: string };
  /**
   * A list-of-strings field (Kuma: `policyMerge:"mergeValues"`): confs are grouped by each of its
   * values and merged per group, giving one merged conf per value (an empty or missing list is the
   * group of "no value").
   */
  readonly splitBy?: string;
  /** A list field reversed after the merge (Kuma: `TransformDefaultAfterMerge`). */
  readonly reverseAfterMerge?: string;
}

type Obj = Record<string, unknown>;

const isObject = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

function clone<T>(v: T): T {
  if (Array.isArray(v)) return v.map(clone) as T;
  if (isObject(v)) {
    const out: Obj = {};
    for (const [k, x] of Object.entries(v)) if (x !== undefined && x !== null) out[k] = clone(x);
    return out as T;
  }
  return v;
}

/** Merges `patch` over `base`: objects field by field, lists replaced or (append*) concatenated. */
function mergeTwo(base: unknown, patch: unknown, key?: string): unknown {
  if (patch === undefined || patch === null) return base === undefined ? undefined : clone(base);
  if (Array.isArray(patch)) {
    if (key?.startsWith(APPEND_PREFIX) && Array.isArray(base)) return [...clone(base), ...clone(patch)];
    return clone(patch);
  }
  if (isObject(patch)) {
    const out: Obj = isObject(base) ? clone(base) : {};
    for (const [k, v] of Object.entries(patch)) {
      const merged = mergeTwo(out[k], v, k);
      if (merged !== undefined) out[k] = merged;
    }
    return out;
  }
  return patch;
}

/**
 * The merge of `confs` (least specific first). Returns one conf, or several when `exceptions.splitBy`
 * groups them (Kuma's MergeConfs returns a list for the same reason); empty for no confs.
 */
export function mergeConfs<T>(confs: readonly T[], exceptions: MergeExceptions = {}): T[] {
  if (confs.length === 0) return [];
  const groups = exceptions.splitBy ? splitByValues(confs as readonly Obj[], exceptions.splitBy) : [confs as readonly Obj[]];
  return groups.map((group) => mergeGroup(group, exceptions) as T);
}

function mergeGroup(confs: readonly Obj[], ex: MergeExceptions): Obj {
  let merged: Obj = {};
  for (const c of confs) merged = mergeTwo(merged, c) as Obj;
  if (ex.byKey) {
    const { field, key, valueField } = ex.byKey;
    const all: Obj[] = [];
    for (const c of confs) {
      const list = c[field];
      if (Array.isArray(list)) all.push(...(list as Obj[]));
    }
    if (all.length > 0 || merged[field] !== undefined) merged[field] = mergeByKey(all, key, valueField);
  }
  if (ex.reverseAfterMerge && Array.isArray(merged[ex.reverseAfterMerge])) merged[ex.reverseAfterMerge] = [...(merged[ex.reverseAfterMerge] as unknown[])].reverse();
  return merged;
}

/** Kuma's mergeByKey: equal keys merged, each at the position of its last appearance. */
function mergeByKey(entries: readonly Obj[], key: string, valueField: string): Obj[] {
  const byKey = new Map<string, { last: number; values: unknown[]; key: unknown }>();
  entries.forEach((e, i) => {
    const k = canonicalJson(e[key] ?? null);
    const acc = byKey.get(k);
    if (acc) {
      acc.last = i;
      acc.values.push(e[valueField]);
    } else byKey.set(k, { last: i, values: [e[valueField]], key: e[key] });
  });
  return [...byKey.values()]
    .sort((a, b) => a.last - b.last)
    .map((acc) => {
      const [value] = mergeConfs(acc.values.filter((v) => v !== undefined && v !== null));
      return { [key]: clone(acc.key), [valueField]: value ?? {} };
    });
}

function splitByValues(confs: readonly Obj[], field: string): Obj[][] {
  const groups = new Map<string, Obj[]>();
  for (const c of confs) {
    const values = Array.isArray(c[field]) && (c[field] as unknown[]).length > 0 ? (c[field] as string[]) : [''];
    for (const v of values) {
      const copy: Obj = { ...c };
      if (v === '') delete copy[field];
      else copy[field] = [v];
      const g = groups.get(v);
      if (g) g.push(copy);
      else groups.set(v, [copy]);
    }
  }
  return [...groups.values()];
}
