import type { ProviderView, XdsKind } from '@meshfed/shared';

interface TypeSubscription {
  wildcard: boolean;
  readonly names: Set<string>;
}

/** What one delta request changed in a type's subscription. */
export interface SubscriptionChange {
  /** Names the proxy no longer holds (it unsubscribed them, or left the wildcard): forget it has them. */
  readonly dropped: readonly string[];
  /** Names to send (again): newly subscribed, or unsubscribed but still wanted through the wildcard; `all` when the wildcard was just turned on. */
  readonly wanted: readonly string[] | 'all';
}

/**
 * What one delta xDS stream subscribed to, per type, by Envoy's rules: a type's first request that names
 * nothing (legacy) or names `*` is a wildcard subscription (CDS, LDS); otherwise only the names
 * subscribed are served (EDS, RDS), and `resource_names_subscribe` / `resource_names_unsubscribe`
 * change them later, `*` included. A plain value: no I/O.
 */
export class DeltaSubscriptions {
  readonly #types = new Map<XdsKind, TypeSubscription>();

  /** Applies one request's subscribe and unsubscribe lists; `allKeys` lists what the type has now. */
  apply(type: XdsKind, subscribe: readonly string[], unsubscribe: readonly string[], allKeys: () => Iterable<string>): SubscriptionChange {
    let sub = this.#types.get(type);
    if (!sub) {
      sub = { wildcard: subscribe.length === 0 || subscribe.includes('*'), names: new Set() };
      this.#types.set(type, sub);
    }
    const wasWildcard = sub.wildcard;
    const added: string[] = [];
    for (const n of subscribe) {
      if (n === '*') sub.wildcard = true;
      else if (!sub.names.has(n)) {
        sub.names.add(n);
        added.push(n);
      }
    }
    const dropped: string[] = [];
    for (const n of unsubscribe) {
      if (n === '*') sub.wildcard = false;
      else {
        sub.names.delete(n);
        dropped.push(n);
      }
    }
    if (wasWildcard && !sub.wildcard) for (const k of allKeys()) if (!sub.names.has(k)) dropped.push(k);
    if (!wasWildcard && sub.wildcard) return { dropped, wanted: 'all' };
    // Under a wildcard the names added were already served; but Envoy forgets what it unsubscribes even
    // when the wildcard still covers it, and expects it again.
    return { dropped, wanted: sub.wildcard ? dropped : added };
  }

  includes(type: XdsKind, key: string): boolean {
    const sub = this.#types.get(type);
    return sub !== undefined && (sub.wildcard || sub.names.has(key));
  }

  /** Per type: `*` for a wildcard subscription (names may be added to it), else the names. */
  status(): Map<XdsKind, { wildcard: boolean; names: string[] }> {
    return new Map([...this.#types].map(([t, s]) => [t, { wildcard: s.wildcard, names: [...s.names].sort() }]));
  }

  /** `inner` seen through the subscriptions: a delta session sends only what the proxy subscribed. */
  view(inner: ProviderView<XdsKind>): ProviderView<XdsKind> {
    return {
      get: (type, key) => (this.includes(type, key) ? inner.get(type, key) : undefined),
      keys: (type) => {
        const sub = this.#types.get(type);
        if (!sub) return [];
        return sub.wildcard ? inner.keys(type) : sub.names;
      },
    };
  }
}
