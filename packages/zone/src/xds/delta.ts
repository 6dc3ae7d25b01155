import { adsCodec, type DeltaObserver, type DeltaWire, type ProviderView, XDS_KINDS, XDS_TYPE_URL, type XdsKind, xdsKindOf } from '@meshfed/shared';
import type { XdsSnapshot } from './snapshot.js';

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

/** Per type, the names whose version differs between two snapshots (added, changed or removed). */
export function changedKeys(previous: XdsSnapshot | undefined, next: XdsSnapshot | undefined): Map<XdsKind, string[]> {
  const out = new Map<XdsKind, string[]>();
  for (const kind of XDS_KINDS) {
    const a = previous?.types[kind];
    const b = next?.types[kind];
    if (a?.version === b?.version) continue;
    const keys: string[] = [];
    for (const [k, e] of b?.entries ?? []) if (a?.entries.get(k)?.version !== e.version) keys.push(k);
    for (const k of a?.entries.keys() ?? []) if (!b?.entries.has(k)) keys.push(k);
    if (keys.length > 0) out.set(kind, keys);
  }
  return out;
}
