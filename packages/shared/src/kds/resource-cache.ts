import type { EventBus, ResourceChangedEvent } from '../events/event-bus.js';
import type { ResourceKind } from '../resources/registry.js';
import type { ResourceStore } from '../store/resource-store.js';
import type { Logger } from '../telemetry/logger.js';
import { type Envelope, envelopeOf, kdsKey } from './envelope.js';

export type CacheListener = (type: ResourceKind, keys: readonly string[]) => void;

const PAGE = 1000;

/**
 * The encoded form of every resource of the synced types, kept current from change events: each
 * resource is encoded once however many streams send it. Listeners hear only about keys whose content
 * version actually changed, so a write that changes nothing pushes nothing.
 */
export class ResourceCache {
  readonly #byType = new Map<ResourceKind, Map<string, Envelope>>();
  readonly #listeners = new Set<CacheListener>();
  #queue: ResourceChangedEvent[] = [];
  #draining: Promise<void> | undefined;
  #unsubscribe: (() => void) | undefined;
  #ready = false;

  private constructor(
    private readonly store: ResourceStore,
    private readonly types: ReadonlySet<ResourceKind>,
    private readonly log: Logger,
  ) {}

  static async build(store: ResourceStore, bus: EventBus, types: readonly ResourceKind[], log: Logger): Promise<ResourceCache> {
    const cache = new ResourceCache(store, new Set(types), log);
    // Listen before loading, so nothing committed during the load is missed; queued events replay after.
    cache.#unsubscribe = bus.subscribe((events) => cache.#enqueue(events));
    await cache.refresh();
    cache.#ready = true;
    cache.#kick();
    return cache;
  }

  get(type: ResourceKind, key: string): Envelope | undefined {
    return this.#byType.get(type)?.get(key);
  }

  keys(type: ResourceKind): IterableIterator<string> {
    return (this.#byType.get(type) ?? new Map<string, Envelope>()).keys();
  }

  values(type: ResourceKind): IterableIterator<Envelope> {
    return (this.#byType.get(type) ?? new Map<string, Envelope>()).values();
  }

  size(type: ResourceKind): number {
    return this.#byType.get(type)?.size ?? 0;
  }

  onChange(listener: CacheListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Reloads every type from the store (start-up, and the periodic safety net against lost events). */
  async refresh(): Promise<void> {
    for (const type of this.types) {
      const fresh = new Map<string, Envelope>();
      for (let offset = 0; ; offset += PAGE) {
        const page = await this.store.list(type, { limit: PAGE, offset });
        for (const r of page.items) {
          const e = envelopeOf(r);
          fresh.set(e.key, e);
        }
        if (page.next === undefined) break;
      }
      const old = this.#byType.get(type) ?? new Map<string, Envelope>();
      const changed = [...fresh].filter(([k, e]) => old.get(k)?.version !== e.version).map(([k]) => k);
      for (const k of old.keys()) if (!fresh.has(k)) changed.push(k);
      this.#byType.set(type, fresh);
      if (changed.length > 0 && this.#ready) this.#notify(type, changed);
    }
  }

  close(): void {
    this.#unsubscribe?.();
    this.#listeners.clear();
  }

  #enqueue(events: readonly ResourceChangedEvent[]): void {
    for (const e of events) if (this.types.has(e.type)) this.#queue.push(e);
    if (this.#ready) this.#kick();
  }

  #kick(): void {
    if (this.#draining || this.#queue.length === 0) return;
    this.#draining = this.#drain().finally(() => {
      this.#draining = undefined;
      this.#kick();
    });
  }

  /** Applies queued events in order; each key is read back from the store once per batch. */
  async #drain(): Promise<void> {
    const batch = this.#queue;
    this.#queue = [];
    const touched = new Map<string, { type: ResourceKind; name: string; mesh?: string }>();
    for (const e of batch) touched.set(`${e.type}\u0000${kdsKey(e)}`, { type: e.type, name: e.name, ...(e.mesh !== undefined ? { mesh: e.mesh } : {}) });
    const changed = new Map<ResourceKind, string[]>();
    for (const k of touched.values()) {
      let current;
      try {
        current = await this.store.get(k);
      } catch (err) {
        // The store is unreachable: the periodic refresh will catch up.
        this.log.warn({ err, resource: kdsKey(k), type: k.type }, 'cache could not read a changed resource');
        continue;
      }
      const table = this.#table(k.type);
      const key = kdsKey(k);
      const before = table.get(key)?.version;
      if (current) {
        const e = envelopeOf(current);
        table.set(key, e);
        if (e.version === before) continue;
      } else {
        if (!table.delete(key)) continue;
      }
      let keys = changed.get(k.type);
      if (!keys) changed.set(k.type, (keys = []));
      keys.push(key);
    }
    for (const [type, keys] of changed) this.#notify(type, keys);
  }

  #notify(type: ResourceKind, keys: readonly string[]): void {
    for (const l of this.#listeners) {
      try {
        l(type, keys);
      } catch (err) {
        this.log.error({ err, type }, 'cache listener failed');
      }
    }
  }

  #table(type: ResourceKind): Map<string, Envelope> {
    let t = this.#byType.get(type);
    if (!t) this.#byType.set(type, (t = new Map()));
    return t;
  }
}
