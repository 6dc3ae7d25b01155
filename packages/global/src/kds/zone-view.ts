import { type Envelope, type ProviderView, type ResourceCache, type ResourceKind, sentToZones } from '@meshfed/shared';
import { fromZone } from './zone-sync-target.js';

/**
 * What global sends one zone: everything of the synced types except what came from that zone, and
 * except global's own revocation lists but the zone tokens' (a zone keeps its dataplane tokens' itself).
 */
export function zoneView(cache: ResourceCache, zone: string): ProviderView {
  const fromThere = fromZone(zone);
  const mine = (e: Envelope) => fromThere(e) || !sentToZones(e);
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
