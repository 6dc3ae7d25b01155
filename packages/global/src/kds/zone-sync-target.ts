import {
  type ApplyResult, existingCopies, isRejected, kdsKey, parseKdsKey, kdsVersion, LABEL_DISPLAY_NAME, LABEL_ORIGIN, LABEL_ZONE, listAll, type Rejected,
  type ResourceKind, type ResourceStore, type ResponsePlan, splitByMesh, type SyncTarget, validateReceived,
  type WriteOp, zoneResourceName,
} from '@meshfed/shared';

/** Whether a resource on global came up from this zone. */
export const fromZone = (zone: string) => (r: { labels: Readonly<Record<string, string>> }) =>
  r.labels[LABEL_ORIGIN] === 'zone' && r.labels[LABEL_ZONE] === zone;

/**
 * Where global keeps what one zone sends up. Global decides names and labels itself: a zone cannot
 * write under another zone's label, over a global resource, or outside the names derived for it.
 */
export class ZoneSyncTarget implements SyncTarget {
  readonly #isMine: (r: { labels: Readonly<Record<string, string>> }) => boolean;

  constructor(
    private readonly store: ResourceStore,
    private readonly zone: string,
  ) {
    this.#isMine = fromZone(zone);
  }

  async initialVersions(type: ResourceKind): Promise<ReadonlyMap<string, string>> {
    const out = new Map<string, string>();
    for (const r of await listAll(this.store, type)) {
      if (!this.#isMine(r)) continue;
      const original = r.labels[LABEL_DISPLAY_NAME];
      if (original) out.set(kdsKey({ name: original, mesh: r.mesh }), kdsVersion(r));
    }
    return out;
  }

  async apply(plan: ResponsePlan): Promise<ApplyResult> {
    const rejected: Rejected[] = [];
    const ops: { op: WriteOp; key: string; version: string; mesh?: string }[] = [];
    const localKey = (key: string) => {
      const { name, mesh } = parseKdsKey(key);
      return { name: zoneResourceName(this.zone, mesh, name), mesh };
    };
    const existingOf = await existingCopies(this.store, plan.type, [...plan.upserts.map((u) => localKey(u.key)), ...plan.removals.map(localKey)]);
    for (const u of plan.upserts) {
      const name = zoneResourceName(this.zone, u.mesh, u.name);
      const labels = { ...u.labels, [LABEL_ORIGIN]: 'zone', [LABEL_ZONE]: this.zone, [LABEL_DISPLAY_NAME]: u.name };
      // A zone's ingress or egress is in that zone, whatever the zone claims.
      const spec = (u.type === 'ZoneIngress' || u.type === 'ZoneEgress') && u.spec && typeof u.spec === 'object' ? { ...(u.spec as object), zone: this.zone } : u.spec;
      const parsed = validateReceived(u, name, labels, spec);
      if (isRejected(parsed)) {
        rejected.push(parsed);
        continue;
      }
      const existing = existingOf(parsed);
      if (existing && !this.#isMine(existing)) {
        rejected.push({ name: u.key, version: u.version, error: `${u.type} "${name}" on global does not belong to zone "${this.zone}"` });
        continue;
      }
      ops.push({ op: { op: 'put', resource: parsed }, key: u.key, version: u.version, ...(u.mesh !== undefined ? { mesh: u.mesh } : {}) });
    }
    for (const key of plan.removals) {
      const existing = existingOf(localKey(key));
      if (existing && this.#isMine(existing)) ops.push({ op: { op: 'delete', key: existing }, key, version: '' });
    }
    const { ok, missing } = await splitByMesh(this.store, ops);
    rejected.push(...missing);
    if (ok.length > 0) await this.store.commit(ok);
    return { rejected };
  }
}
