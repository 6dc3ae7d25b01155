import type { EventBus } from '../events/event-bus.js';
import { AccessRoleBindingSpec, AccessRoleSpec } from '../resources/access-role.js';
import { MAX_PAGE_SIZE, type ResourceStore } from '../store/resource-store.js';
import type { Logger } from '../telemetry/logger.js';
import { type AccessGrants, NO_GRANTS } from './authorization.js';

/** Roles and bindings beyond this are not read: RBAC is for teams, not for one rule per user. */
const MAX_ITEMS = 10 * MAX_PAGE_SIZE;

/**
 * The AccessRoles and AccessRoleBindings in force, read from the store at start and again whenever
 * one of them changes (an event on the bus, so every replica follows): requests read it without I/O.
 */
export class AccessGrantsCache {
  private grants: AccessGrants = NO_GRANTS;
  private unsubscribe: () => void = () => undefined;
  private reloading: Promise<void> = Promise.resolve();
  private dirty = false;

  private constructor(
    private readonly store: ResourceStore,
    private readonly log: Logger,
  ) {}

  static async start(o: { store: ResourceStore; bus: EventBus; log: Logger }): Promise<AccessGrantsCache> {
    const cache = new AccessGrantsCache(o.store, o.log);
    cache.unsubscribe = o.bus.subscribe((events) => {
      if (events.some((e) => e.type === 'AccessRole' || e.type === 'AccessRoleBinding')) cache.reload();
    });
    await cache.load();
    return cache;
  }

  current(): AccessGrants {
    return this.grants;
  }

  /** Resolves once every change seen so far is in force (tests wait on it). */
  settled(): Promise<void> {
    return this.reloading;
  }

  close(): void {
    this.unsubscribe();
  }

  // Changes that arrive during a reload are folded into one more reload, never one per event.
  private reload(): void {
    if (this.dirty) return;
    this.dirty = true;
    this.reloading = this.reloading.then(async () => {
      this.dirty = false;
      await this.load().catch((err: unknown) => this.log.error({ err }, 'could not reload access roles: the previous ones stay in force'));
    });
  }

  private async load(): Promise<void> {
    const roles = new Map<string, AccessRoleSpec>();
    for (const r of await this.all('AccessRole')) {
      const spec = AccessRoleSpec.safeParse(r.spec);
      if (spec.success) roles.set(r.name, spec.data);
    }
    const bindings: AccessRoleBindingSpec[] = [];
    for (const r of await this.all('AccessRoleBinding')) {
      const spec = AccessRoleBindingSpec.safeParse(r.spec);
      if (spec.success) bindings.push(spec.data);
    }
    this.grants = { roles, bindings };
  }

  private async all(type: 'AccessRole' | 'AccessRoleBinding') {
    const items = [];
    let offset: number | undefined = 0;
    while (offset !== undefined && items.length < MAX_ITEMS) {
      const page = await this.store.list(type, { limit: MAX_PAGE_SIZE, offset });
      items.push(...page.items);
      offset = page.next;
    }
    if (offset !== undefined) this.log.warn({ type, read: items.length }, `more than ${MAX_ITEMS} ${type}s: the rest are not in force`);
    return items;
  }
}
