import { type StoredResource, type ZoneOverview, type ZoneSubscription, ZoneInsightSpec } from '@meshfed/shared';

/** A stored ZoneInsight spec, or an empty one when it is missing or unreadable (never throws). */
export function readZoneInsight(spec: unknown): ZoneInsightSpec {
  const parsed = ZoneInsightSpec.safeParse(spec ?? {});
  return parsed.success ? parsed.data : { subscriptions: [] };
}

/** Oldest first by connect time; ties broken by replica and stream id so every replica orders alike. */
export function compareSubscriptions(a: ZoneSubscription, b: ZoneSubscription): number {
  const ta = Date.parse(a.connectTime), tb = Date.parse(b.connectTime);
  if (ta !== tb) return (Number.isNaN(ta) ? 0 : ta) - (Number.isNaN(tb) ? 0 : tb);
  const ka = `${a.globalInstanceId}\u0000${a.id}`, kb = `${b.globalInstanceId}\u0000${b.id}`;
  return ka < kb ? -1 : ka > kb ? 1 : 0;
}

export function newestSubscription(subscriptions: readonly ZoneSubscription[]): ZoneSubscription | undefined {
  let newest: ZoneSubscription | undefined;
  for (const s of subscriptions) if (!newest || compareSubscriptions(newest, s) < 0) newest = s;
  return newest;
}

/** When the zone last showed it was alive on this subscription: its last health check, or connecting. */
export function lastSeen(s: ZoneSubscription): number {
  const connected = Date.parse(s.connectTime);
  const checked = s.lastHealthCheckTime !== undefined ? Date.parse(s.lastHealthCheckTime) : Number.NaN;
  return Math.max(Number.isNaN(connected) ? 0 : connected, Number.isNaN(checked) ? 0 : checked);
}

/**
 * Online: the newest subscription is still connected and the zone was heard from within
 * `staleAfterMs`. Computed from stored data only, so every replica answers the same.
 */
export function isZoneOnline(spec: ZoneInsightSpec, now: number, staleAfterMs: number): boolean {
  const s = newestSubscription(spec.subscriptions);
  if (!s || s.disconnectTime !== undefined) return false;
  return now - lastSeen(s) <= staleAfterMs;
}

export function zoneOverview(zone: StoredResource, insight: StoredResource | undefined, now: number, staleAfterMs: number): ZoneOverview {
  const spec = readZoneInsight(insight?.spec);
  const subscriptions = [...spec.subscriptions].sort(compareSubscriptions);
  const newest = subscriptions.at(-1);
  const latest = (pick: (s: ZoneSubscription) => string | undefined): string | null => {
    let best: string | null = null;
    for (const s of subscriptions) {
      const v = pick(s);
      if (v !== undefined && (best === null || Date.parse(v) > Date.parse(best))) best = v;
    }
    return best;
  };
  return {
    type: 'ZoneInsight',
    name: zone.name,
    creationTime: zone.creationTime,
    modificationTime: zone.modificationTime,
    labels: zone.labels,
    enabled: zone.spec.enabled !== false,
    online: isZoneOnline(spec, now, staleAfterMs),
    lastConnectTime: latest((s) => s.connectTime),
    lastDisconnectTime: latest((s) => s.disconnectTime),
    lastHealthCheckTime: latest((s) => s.lastHealthCheckTime),
    cpVersion: newest?.cpVersion ?? null,
    zoneCpVersion: newest?.zoneCpVersion ?? null,
    globalInstanceId: newest?.globalInstanceId ?? null,
    subscriptions,
  };
}
