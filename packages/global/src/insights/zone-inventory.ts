import { AlreadyExistsError, ApiError, parseResource, type ResourceStore, type StoredResource } from '@meshfed/shared';

export type Admission = { readonly ok: true } | { readonly ok: false; readonly reason: string };

/** Attempts at creating a Zone that a concurrent writer keeps deleting under us. */
const ADMIT_ATTEMPTS = 3;

/**
 * The zones global knows. A zone that connects for the first time gets its Zone resource (enabled);
 * an operator disables a zone by setting `enabled: false` on it, and the zone is then refused.
 */
export class ZoneInventory {
  readonly #store: ResourceStore;

  constructor(options: { readonly store: ResourceStore }) {
    this.#store = options.store;
  }

  /**
   * Whether `zone` may sync, creating its Zone on first connect. Safe against concurrent connects of
   * the same zone to several replicas (create-if-absent, then read what won). A store that cannot be
   * reached rejects the promise: that is not a verdict on the zone.
   */
  async admit(zone: string): Promise<Admission> {
    try {
      parseResource({ type: 'Zone', name: zone });
    } catch (err) {
      const why = err instanceof ApiError && err.causes[0] ? err.causes[0].message : (err as Error).message;
      return { ok: false, reason: `invalid zone name "${zone}": ${why}` };
    }
    for (let attempt = 1; ; attempt++) {
      const existing = await this.#store.get({ type: 'Zone', name: zone });
      if (existing) return verdict(existing);
      try {
        await this.#store.commit([{ op: 'put', resource: { type: 'Zone', name: zone, labels: {}, spec: { enabled: true } }, expectedVersion: null }]);
        return { ok: true };
      } catch (err) {
        // Another replica created it first: its Zone (maybe already disabled) decides; read it again.
        if (!(err instanceof AlreadyExistsError) || attempt >= ADMIT_ATTEMPTS) throw err;
      }
    }
  }
}

function verdict(z: StoredResource): Admission {
  if (z.spec.enabled === false) return { ok: false, reason: `zone "${z.name}" is disabled on the global control plane` };
  return { ok: true };
}
