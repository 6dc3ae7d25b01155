import type { Envelope, ProviderView, ResourceCache, ResourceKind } from '@meshfed/shared';
import { fromZone } from './zone-sync-target.js';

/** What global sends one zone: everything of the synced types except what came from that zone. */
export function zoneView(cache: ResourceCache, zone: string): ProviderView {
  const mine = fromZone(zone);
  return {
    get(type: ResourceKind, key: string): Envelope | undefined {
      const e = cache.get(type, key);
      return e && !mine(e) ? e : undefined;
    },
    *keys(type: ResourceKind): Iterable<string> {
      for (const e of cache.values(type)) if (!mine(e)) yield e.key;
    },
  };
}
