import { adsCodec, type DeltaObserver, type DeltaWire, type ProviderView, XDS_KINDS, XDS_TYPE_URL, type XdsKind, xdsKindOf } from '@meshfed/shared';
import type { XdsSnapshot, XdsTypeSnapshot } from './snapshot.js';

/** Envoy's delta xDS on the wire for ProviderSession: Envoy type URLs, each resource in its own Any. */
export const XDS_WIRE: DeltaWire<XdsKind> = {
  typeOf: xdsKindOf,
  typeUrl: (kind) => XDS_TYPE_URL[kind],
  resourceTypeUrl: (kind) => XDS_TYPE_URL[kind],
  encodeResponse: (r) => adsCodec.encodeDeltaResponse(r),
  // Envoy's NACK names no resources: the whole response is refused.
  rejected: () => [],
  messageName: 'xDS message',
};

/** The one direction of xDS: the control plane to a proxy. */
export type XdsDirection = 'cp-to-proxy';

export type XdsObserver = DeltaObserver<XdsKind, XdsDirection>;

/** What a delta session sends a proxy: its current snapshot, read on each push (nothing before the first). */
export function snapshotView(current: () => XdsSnapshot | undefined): ProviderView<XdsKind> {
  return {
    get: (kind, key) => current()?.types[kind].entries.get(key),
    keys: (kind) => current()?.types[kind].entries.keys() ?? [],
  };
}

/** What changed in one type between two snapshots: names added or updated (`present`), and removed (`gone`). */
export interface TypeChange {
  readonly keys: readonly string[];
  readonly present: readonly string[];
  readonly gone: readonly string[];
}

/** Per type that changed between two snapshots, what changed, split into updates and removals. */
export function typeChanges(previous: XdsSnapshot | undefined, next: XdsSnapshot | undefined): Map<XdsKind, TypeChange> {
  const out = new Map<XdsKind, TypeChange>();
  for (const kind of XDS_KINDS) {
    const a = previous?.types[kind];
    const b = next?.types[kind];
    // A shared type snapshot (the same object for every proxy of a shape) compares without a string.
    if (a === b || a?.version === b?.version) continue;
    const change = a !== undefined && b !== undefined ? changedBetween(a, b) : namesChanged(a, b);
    if (change.keys.length > 0) out.set(kind, change);
  }
  return out;
}

/**
 * The last comparison from each type snapshot: proxies of one shape share their type snapshots and
 * move from the same old one to the same new one, so a mesh-wide change compares each pair once, not
 * once per proxy. The lists are never mutated by callers.
 */
const lastComparison = new WeakMap<XdsTypeSnapshot, { readonly next: XdsTypeSnapshot; readonly change: TypeChange }>();
function changedBetween(a: XdsTypeSnapshot, b: XdsTypeSnapshot): TypeChange {
  const last = lastComparison.get(a);
  if (last !== undefined && last.next === b) return last.change;
  const change = namesChanged(a, b);
  lastComparison.set(a, { next: b, change });
  return change;
}

const NONE: readonly string[] = Object.freeze([]);

function namesChanged(a: XdsTypeSnapshot | undefined, b: XdsTypeSnapshot | undefined): TypeChange {
  const keys: string[] = [];
  const before = a?.entries;
  // How many of b's names a has: when that is all of a's, nothing was removed and a need not be walked.
  let kept = 0;
  // forEach, not for-of: no [key, value] array per entry (this runs for every proxy of a mesh-wide change).
  b?.entries.forEach((e, k) => {
    const prev = before?.get(k);
    if (prev === undefined) keys.push(k);
    else {
      kept++;
      if (prev !== e && prev.version !== e.version) keys.push(k);
    }
  });
  const updated = keys.length;
  if (before !== undefined && kept !== before.size) {
    const after = b?.entries;
    before.forEach((_, k) => {
      if (after === undefined || !after.has(k)) keys.push(k);
    });
  }
  // Updates first, then removals: no removal (the usual case) shares the one list three ways.
  if (updated === keys.length) return { keys, present: keys, gone: NONE };
  return { keys, present: keys.slice(0, updated), gone: keys.slice(updated) };
}
