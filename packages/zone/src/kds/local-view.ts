import type { Envelope, ProviderView, ResourceCache, ResourceKind } from '@meshfed/shared';
import { fromGlobal } from './global-sync-target.js';

/** What a zone sends up: its own resources of the synced types, never what it received from global. */
export function localView(cache: ResourceCache): ProviderView {
  return {
    get(type: ResourceKind, key: string): Envelope | undefined {
      const e = cache.get(type, key);
      return e && !fromGlobal(e) ? e : undefined;
    },
    *keys(type: ResourceKind): Iterable<string> {
      for (const e of cache.values(type)) if (!fromGlobal(e)) yield e.key;
    },
  };
}
