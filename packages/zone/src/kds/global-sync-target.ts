import {
  type ApplyResult, existingCopies, isRejected, kdsKey, kdsVersion, LABEL_ORIGIN, listAll, parseKdsKey, type Rejected, type ResourceKind,
  type ResourceStore, type ResponsePlan, splitByMesh, type SyncTarget, validateReceived, type WriteOp,
} from '@meshfed/shared';

/** Whether a zone's resource was received from global (and so is global's to change). */
export const fromGlobal = (r: { labels: Readonly<Record<string, string>> }) => r.labels[LABEL_ORIGIN] === 'global';

/**
 * Where a zone keeps what global sends down: under global's names, labelled `kuma.io/origin: global`.
 * It never overwrites or deletes what originated in the zone itself.
 */
export class GlobalSyncTarget implements SyncTarget {
  /** Types whose resources were refused for want of a mesh: subscribed again when a mesh arrives. */
  readonly #waitingForMesh = new Set<ResourceKind>();

  constructor(
    private readonly store: ResourceStore,
    private readonly zone: string,
  ) {}

  async initialVersions(type: ResourceKind): Promise<ReadonlyMap<string, string>> {
    const out = new Map<string, string>();
    for (const r of await listAll(this.store, type)) if (fromGlobal(r)) out.set(kdsKey(r), kdsVersion(r));
    return out;
  }

  async apply(plan: ResponsePlan): Promise<ApplyResult> {
    const rejected: Rejected[] = [];
    const ops: { op: WriteOp; key: string; version: string; mesh?: string }[] = [];
    const existingOf = await existingCopies(this.store, plan.type, [...plan.upserts, ...plan.removals.map(parseKdsKey)]);
    for (const u of plan.upserts) {
      const parsed = validateReceived(u, u.name, { ...u.labels, [LABEL_ORIGIN]: 'global' }, u.spec);
      if (isRejected(parsed)) {
        rejected.push(parsed);
        continue;
      }
      const existing = existingOf(parsed);
      if (existing && !fromGlobal(existing)) {
        rejected.push({ name: u.key, version: u.version, error: `${u.type} "${u.name}" exists locally in zone "${this.zone}"; a zone never overwrites its own resources (delete it there to receive global's)` });
        continue;
      }
      ops.push({ op: { op: 'put', resource: parsed }, key: u.key, version: u.version, ...(u.mesh !== undefined ? { mesh: u.mesh } : {}) });
    }
    for (const key of plan.removals) {
      const existing = existingOf(parseKdsKey(key));
      if (existing && fromGlobal(existing)) ops.push({ op: { op: 'delete', key: existing }, key, version: '' });
    }
    const { ok, missing } = await splitByMesh(this.store, ops);
    rejected.push(...missing);
    if (missing.length > 0) this.#waitingForMesh.add(plan.type);
    if (ok.length > 0) await this.store.commit(ok);
    // A mesh arrived: types refused for want of it are asked for again, which also clears their refusals.
    if (plan.type === 'Mesh' && plan.upserts.length > 0 && this.#waitingForMesh.size > 0) {
      const again = [...this.#waitingForMesh];
      this.#waitingForMesh.clear();
      return { rejected, resubscribe: again };
    }
    return { rejected };
  }
}
