import { AlreadyExistsError, MeshNotFoundError, NotFoundError, VersionConflictError } from '../errors/api-error.js';
import type { EventBus, ResourceChangedEvent } from '../events/event-bus.js';
import { descriptorOf, type ResourceKind } from '../resources/registry.js';
import { keyString, type ResourceKey, type StoredResource } from '../resources/resource.js';
import { clampLimit, type CommitResult, type ListOptions, type ListResult, type ResourceStore, type WriteOp } from './resource-store.js';



/**
 * The default store: everything in maps, nothing on disk. A commit is checked against an overlay of
 * its own earlier ops before anything is applied, so a failing op leaves the store untouched.
 */
export class MemoryStore implements ResourceStore {
  readonly backend = 'memory' as const;
  readonly #byType = new Map<ResourceKind, Map<string, StoredResource>>();
  #revision = 0;

  constructor(private readonly bus?: EventBus) {}

  async get(key: ResourceKey): Promise<StoredResource | undefined> {
    return this.#table(key.type).get(rowKey(key));
  }

  async list(type: ResourceKind, options: ListOptions = {}): Promise<ListResult> {
    let rows = [...this.#table(type).values()];
    if (options.mesh !== undefined) rows = rows.filter((r) => r.mesh === options.mesh);
    rows.sort(compareRows);
    const offset = Math.max(0, options.offset ?? 0);
    const limit = clampLimit(options.limit);
    const items = rows.slice(offset, offset + limit);
    const next = offset + limit < rows.length ? offset + limit : undefined;
    return { items, total: rows.length, ...(next !== undefined ? { next } : {}) };
  }

  async commit(ops: readonly WriteOp[]): Promise<CommitResult> {
    // Overlay of this commit's effects: key -> resource (or null when deleted here).
    const overlay = new Map<string, { key: ResourceKey; row: StoredResource | null }>();
    const read = (k: ResourceKey) => {
      const o = overlay.get(keyString(k));
      return o ? o.row ?? undefined : this.#table(k.type).get(rowKey(k));
    };
    const now = new Date().toISOString();
    const written: StoredResource[] = [];
    const events: ResourceChangedEvent[] = [];
    let revision = this.#revision;
    const at = Date.now();

    for (const op of ops) {
      if (op.op === 'put') {
        const r = op.resource;
        const current = read(r);
        checkVersion(r, current, op.expectedVersion);
        if (r.mesh !== undefined && !read({ type: 'Mesh', name: r.mesh })) throw new MeshNotFoundError(r.mesh);
        const row: StoredResource = {
          type: r.type, name: r.name, ...(r.mesh !== undefined ? { mesh: r.mesh } : {}),
          labels: { ...r.labels }, spec: structuredClone(r.spec) as Record<string, unknown>,
          version: String(++revision),
          creationTime: current?.creationTime ?? now,
          modificationTime: now,
        };
        overlay.set(keyString(r), { key: r, row });
        written.push(row);
        events.push(event(current ? 'update' : 'create', row, at));
      } else {
        const current = read(op.key);
        if (!current) throw new NotFoundError(`${op.key.type} "${op.key.name}"${op.key.mesh ? ` in mesh "${op.key.mesh}"` : ''} does not exist`);
        if (op.expectedVersion !== undefined && op.expectedVersion !== current.version) {
          throw new VersionConflictError(`${op.key.type} "${op.key.name}" is at version ${current.version}, not ${op.expectedVersion}`);
        }
        overlay.set(keyString(op.key), { key: op.key, row: null });
        events.push(event('delete', { ...current, version: String(++revision) }, at));
        if (op.key.type === 'Mesh') {
          for (const [type, table] of this.#byType) {
            if (descriptorOf(type).scope !== 'mesh') continue;
            for (const row of table.values()) {
              if (row.mesh !== op.key.name || overlay.get(keyString(row))?.row === null) continue;
              overlay.set(keyString(row), { key: row, row: null });
              events.push(event('delete', { ...row, version: String(++revision) }, at));
            }
          }
          // Puts earlier in this commit into the deleted mesh go with it.
          // A watcher saw their create events, so it must see them go too.
          for (const [k, o] of overlay) {
            if (!o.row || o.row.mesh !== op.key.name) continue;
            overlay.set(k, { key: o.key, row: null });
            events.push(event('delete', { ...o.row, version: String(++revision) }, at));
          }
        }
      }
    }

    for (const { key, row } of overlay.values()) {
      if (row) this.#table(key.type).set(rowKey(key), row);
      else this.#table(key.type).delete(rowKey(key));
    }
    this.#revision = revision;
    this.bus?.publish(events);
    return { written, events };
  }

  async healthy(): Promise<boolean> {
    return true;
  }

  async close(): Promise<void> {}

  #table(type: ResourceKind): Map<string, StoredResource> {
    let t = this.#byType.get(type);
    if (!t) this.#byType.set(type, (t = new Map()));
    return t;
  }
}

function rowKey(k: ResourceKey): string {
  return `${k.mesh ?? ''}\u0000${k.name}`;
}

function compareRows(a: StoredResource, b: StoredResource): number {
  // Byte order, like Postgres with COLLATE "C", so both stores page identically.
  const am = a.mesh ?? '', bm = b.mesh ?? '';
  if (am !== bm) return am < bm ? -1 : 1;
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}

export function checkVersion(r: ResourceKey, current: StoredResource | undefined, expected: string | null | undefined): void {
  const what = `${r.type} "${r.name}"${r.mesh ? ` in mesh "${r.mesh}"` : ''}`;
  if (expected === null && current) throw new AlreadyExistsError(`${what} already exists`);
  if (typeof expected === 'string') {
    if (!current) throw new NotFoundError(`${what} does not exist`);
    if (current.version !== expected) throw new VersionConflictError(`${what} is at version ${current.version}, not ${expected}: read it again and retry`);
  }
}

export function event(op: ResourceChangedEvent['op'], r: StoredResource, at: number): ResourceChangedEvent {
  return { op, type: r.type, name: r.name, ...(r.mesh !== undefined ? { mesh: r.mesh } : {}), version: r.version, labels: r.labels, at };
}
