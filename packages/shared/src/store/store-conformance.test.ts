// One contract, every backend: the same tests run against MemoryStore and PostgresStore, plus a few
// that only make sense for a database (restart, migrations, an unreachable or vanishing server).
//
//   node --import tsx --test packages/shared/src/store/store-conformance.test.ts
//
// Postgres: MESHFED_TEST_POSTGRES_URL, default postgres://postgres@127.0.0.1:5432/test. Each test gets
// its own schema (t_<hex>) and drops it afterwards, so tests run in parallel and leave nothing behind.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { after, describe, test, type TestContext } from 'node:test';
import pg from 'pg';
import { AlreadyExistsError, MeshNotFoundError, NotFoundError, StoreUnavailableError, VersionConflictError } from '../errors/api-error.js';
import type { ResourceChangedEvent } from '../events/event-bus.js';
import { InProcessEventBus } from '../events/in-process-event-bus.js';
import type { ResourceKind } from '../resources/registry.js';
import type { Resource, StoredResource } from '../resources/resource.js';
import { parseResource } from '../resources/validate.js';
import { MemoryStore } from './memory-store.js';
import { MIGRATIONS } from './postgres/migrations.js';
import { PostgresStore } from './postgres/postgres-store.js';
import { MAX_PAGE_SIZE, type ResourceStore, type WriteOp } from './resource-store.js';
import { createResource, deleteResource, putResource } from './store-ops.js';

const PG_URL = process.env.MESHFED_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const TEST_TIMEOUT_MS = 60_000;
const BACKENDS = ['memory', 'postgres'] as const;
type Backend = (typeof BACKENDS)[number];

// ---------------------------------------------------------------------------------------------------
// Fixtures: real resources, built through the same validation the API uses.

function mesh(name = 'default', labels: Record<string, string> = {}): Resource {
  return parseResource({ type: 'Mesh', name, labels });
}

function dataplane(name: string, meshName = 'default', port = 8080, labels: Record<string, string> = {}): Resource {
  return parseResource({
    type: 'Dataplane', mesh: meshName, name, labels,
    networking: { address: '10.0.0.1', inbound: [{ port, tags: { 'kuma.io/service': 'web', version: 'v1' } }] },
  });
}

function externalService(name: string, meshName: string): Resource {
  return parseResource({ type: 'ExternalService', mesh: meshName, name, tags: { 'kuma.io/service': name }, networking: { address: 'httpbin.org:443' } });
}

function zone(name: string): Resource {
  return parseResource({ type: 'Zone', name });
}

// ---------------------------------------------------------------------------------------------------
// Harness.

let admin: pg.Pool | undefined;
function adminPool(): pg.Pool {
  if (!admin) {
    admin = new pg.Pool({ connectionString: PG_URL, max: 2, connectionTimeoutMillis: 5000 });
    admin.on('error', () => {});
  }
  return admin;
}
after(async () => {
  await admin?.end();
});

const cleanupStacks = new WeakMap<TestContext, (() => Promise<unknown>)[]>();

/** Cleanups of one test, run last-in first-out in a single after hook (stores close before schemas drop). */
function cleanups(t: TestContext): (fn: () => Promise<unknown>) => void {
  let stack = cleanupStacks.get(t);
  if (!stack) {
    const fns: (() => Promise<unknown>)[] = [];
    cleanupStacks.set(t, (stack = fns));
    t.after(async () => {
      // Bounded, so a broken store cannot hang the run in its cleanup.
      for (const fn of fns.reverse()) await withTimeout(fn(), 15_000).catch(() => {});
    });
  }
  const target = stack;
  return (fn) => {
    target.push(fn);
  };
}

async function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms}ms`)), ms);
  });
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

function newSchemaName(): string {
  return `t_${randomBytes(6).toString('hex')}`;
}

interface Subject {
  readonly store: ResourceStore;
  /** Every published batch, in order. */
  readonly batches: ResourceChangedEvent[][];
  readonly schema?: string;
}

interface OpenOptions {
  readonly schema?: string;
  readonly maxConnections?: number;
  readonly url?: string;
  readonly applicationName?: string;
  readonly connectTimeoutMs?: number;
}

/** A fresh store of `backend`. For Postgres: a new schema unless one is given, dropped after the test. */
async function open(backend: Backend, t: TestContext, options: OpenOptions = {}): Promise<Subject> {
  const defer = cleanups(t);
  const bus = new InProcessEventBus();
  const batches: ResourceChangedEvent[][] = [];
  bus.subscribe((events) => batches.push([...events]));
  if (backend === 'memory') return { store: new MemoryStore(bus), batches };

  let schema = options.schema;
  if (schema === undefined) {
    const fresh = newSchemaName();
    schema = fresh;
    defer(() => dropSchema(fresh));
  }
  const store = await PostgresStore.open({
    url: options.url ?? PG_URL,
    schema,
    bus,
    maxConnections: options.maxConnections ?? 5,
    connectTimeoutMs: options.connectTimeoutMs ?? 5000,
    ...(options.applicationName !== undefined ? { applicationName: options.applicationName } : {}),
  });
  defer(() => store.close());
  return { store, batches, schema };
}

/** A schema name that the test owns and drops at its end, whether or not a store created it. */
function ownedSchema(t: TestContext): string {
  const schema = newSchemaName();
  cleanups(t)(() => dropSchema(schema));
  return schema;
}

async function dropSchema(schema: string): Promise<void> {
  await adminPool().query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
}

function versionOf(v: string): bigint {
  assert.match(v, /^[1-9][0-9]*$/, `version ${v} is a positive integer`);
  return BigInt(v);
}

function assertIncreasing(versions: readonly string[], what: string): void {
  for (let i = 1; i < versions.length; i++) {
    assert.ok(versionOf(versions[i]!) > versionOf(versions[i - 1]!), `${what}: ${versions.join(', ')} must strictly increase`);
  }
}

function sameKeys(events: readonly { type: string; mesh?: string; name: string; op?: string }[]): string[] {
  return events.map((e) => `${e.op ?? ''}:${e.type}/${e.mesh ?? ''}/${e.name}`).sort();
}

/** Every resource of a type, page by page, in list order. */
async function everything(store: ResourceStore, type: ResourceKind): Promise<StoredResource[]> {
  const out: StoredResource[] = [];
  for (let offset: number | undefined = 0; offset !== undefined; ) {
    const page: Awaited<ReturnType<ResourceStore['list']>> = await store.list(type, { limit: MAX_PAGE_SIZE, offset });
    out.push(...page.items);
    offset = page.next;
  }
  return out;
}

/** List order (mesh, then name, as bytes) for ASCII names. */
function byName(a: StoredResource, b: StoredResource): number {
  const x = `${a.mesh ?? ''}\u0000${a.name}`;
  const y = `${b.mesh ?? ''}\u0000${b.name}`;
  return x < y ? -1 : x > y ? 1 : 0;
}

async function settle<T>(promises: readonly Promise<T>[]): Promise<{ ok: T[]; failed: unknown[] }> {
  const results = await Promise.allSettled(promises);
  const ok: T[] = [];
  const failed: unknown[] = [];
  for (const r of results) {
    if (r.status === 'fulfilled') ok.push(r.value);
    else failed.push(r.reason);
  }
  return { ok, failed };
}

// ---------------------------------------------------------------------------------------------------
// The suite.

for (const backend of BACKENDS) {
  describe(`ResourceStore conformance: ${backend}`, { concurrency: 4, timeout: 5 * TEST_TIMEOUT_MS }, () => {
    const it = (name: string, fn: (t: TestContext) => Promise<void>) => test(name, { timeout: TEST_TIMEOUT_MS }, fn);

    it('creates, reads, updates and deletes a resource', async (t) => {
      const { store } = await open(backend, t);
      const m = await createResource(store, mesh('default', { team: 'core' }));
      assert.deepEqual({ type: m.type, name: m.name, labels: m.labels, spec: m.spec }, { type: 'Mesh', name: 'default', labels: { team: 'core' }, spec: {} });
      assert.equal(m.mesh, undefined);
      assert.deepEqual(await store.get({ type: 'Mesh', name: 'default' }), m);

      const input = dataplane('web-1', 'default', 8080, { env: 'prod' });
      const created = await createResource(store, input);
      assert.equal(created.mesh, 'default');
      assert.deepEqual(created.spec, input.spec);
      assert.deepEqual(created.labels, { env: 'prod' });
      assert.ok(versionOf(created.version) > versionOf(m.version));
      assert.ok(!Number.isNaN(Date.parse(created.creationTime)));
      assert.equal(created.creationTime, created.modificationTime);
      assert.deepEqual(await store.get({ type: 'Dataplane', mesh: 'default', name: 'web-1' }), created);
      // Keys include the mesh and the type.
      assert.equal(await store.get({ type: 'Dataplane', mesh: 'other', name: 'web-1' }), undefined);
      assert.equal(await store.get({ type: 'Dataplane', name: 'web-1' }), undefined);
      assert.equal(await store.get({ type: 'ExternalService', mesh: 'default', name: 'web-1' }), undefined);

      await new Promise((r) => setTimeout(r, 5));
      const changed = dataplane('web-1', 'default', 9090, { env: 'staging' });
      const updated = await putResource(store, changed, created.version);
      assert.ok(versionOf(updated.version) > versionOf(created.version));
      assert.equal(updated.creationTime, created.creationTime);
      assert.ok(Date.parse(updated.modificationTime) >= Date.parse(created.modificationTime));
      assert.deepEqual(updated.spec, changed.spec);
      assert.deepEqual(updated.labels, { env: 'staging' });
      assert.deepEqual(await store.get(changed), updated);

      await deleteResource(store, changed, updated.version);
      assert.equal(await store.get(changed), undefined);
      assert.equal((await store.list('Dataplane')).total, 0);
      assert.ok(await store.healthy());
    });

    it('put without expectedVersion creates, then overwrites', async (t) => {
      const { store, batches } = await open(backend, t);
      const a = await putResource(store, zone('zone-1'));
      const b = await putResource(store, zone('zone-1'));
      assert.ok(versionOf(b.version) > versionOf(a.version));
      assert.equal(b.creationTime, a.creationTime);
      assert.deepEqual(batches.map((b) => b.map((e) => e.op)), [['create'], ['update']]);
    });

    it('create of an existing resource is AlreadyExists and changes nothing', async (t) => {
      const { store, batches } = await open(backend, t);
      const first = await createResource(store, zone('zone-1'));
      await assert.rejects(createResource(store, zone('zone-1')), AlreadyExistsError);
      assert.deepEqual(await store.get({ type: 'Zone', name: 'zone-1' }), first);
      assert.equal(batches.length, 1);
    });

    it('a stale version is a VersionConflict, for update and for delete', async (t) => {
      const { store, batches } = await open(backend, t);
      await createResource(store, mesh());
      const v1 = await createResource(store, dataplane('dp-1'));
      const v2 = await putResource(store, dataplane('dp-1', 'default', 9000), v1.version);
      await assert.rejects(putResource(store, dataplane('dp-1', 'default', 9001), v1.version), (err: unknown) => {
        assert.ok(err instanceof VersionConflictError);
        assert.equal(err.status, 409);
        assert.match(err.message, new RegExp(`version ${v2.version}`));
        return true;
      });
      await assert.rejects(deleteResource(store, dataplane('dp-1'), v1.version), VersionConflictError);
      assert.deepEqual(await store.get(dataplane('dp-1')), v2);
      assert.equal(batches.length, 3);
    });

    it('missing resources: get is undefined, delete and versioned put are NotFound', async (t) => {
      const { store, batches } = await open(backend, t);
      await createResource(store, mesh());
      assert.equal(await store.get({ type: 'Dataplane', mesh: 'default', name: 'nope' }), undefined);
      await assert.rejects(deleteResource(store, { type: 'Dataplane', mesh: 'default', name: 'nope' }), NotFoundError);
      await assert.rejects(putResource(store, dataplane('nope'), '1'), NotFoundError);
      await assert.rejects(deleteResource(store, { type: 'Zone', name: 'nope' }), NotFoundError);
      assert.equal(batches.length, 1);
    });

    it('lists by type and by mesh, ordered by mesh then name', async (t) => {
      const { store } = await open(backend, t);
      await store.commit([
        { op: 'put', resource: mesh('b') },
        { op: 'put', resource: mesh('a') },
        { op: 'put', resource: dataplane('web', 'b') },
        { op: 'put', resource: dataplane('web', 'a') },
        { op: 'put', resource: dataplane('api', 'b') },
        { op: 'put', resource: dataplane('db', 'a') },
        { op: 'put', resource: externalService('httpbin', 'a') },
        { op: 'put', resource: zone('zone-2') },
        { op: 'put', resource: zone('zone-1') },
      ]);
      const names = (r: { items: readonly StoredResource[] }) => r.items.map((i) => `${i.mesh ?? ''}/${i.name}`);

      const all = await store.list('Dataplane');
      assert.deepEqual(names(all), ['a/db', 'a/web', 'b/api', 'b/web']);
      assert.equal(all.total, 4);
      assert.equal(all.next, undefined);
      assert.ok(all.items.every((i) => i.type === 'Dataplane'));

      const inA = await store.list('Dataplane', { mesh: 'a' });
      assert.deepEqual(names(inA), ['a/db', 'a/web']);
      assert.equal(inA.total, 2);
      assert.deepEqual(names(await store.list('ExternalService', { mesh: 'a' })), ['a/httpbin']);
      assert.deepEqual(names(await store.list('ExternalService', { mesh: 'b' })), []);
      assert.deepEqual(names(await store.list('Mesh')), ['/a', '/b']);
      assert.deepEqual(names(await store.list('Zone')), ['/zone-1', '/zone-2']);
      const none = await store.list('ZoneIngress');
      assert.deepEqual(none, { items: [], total: 0 });
      // Global-scoped resources never match a mesh filter.
      assert.deepEqual(await store.list('Zone', { mesh: 'a' }), { items: [], total: 0 });
      assert.deepEqual(await store.list('Zone', { mesh: '' }), { items: [], total: 0 });
      // What list returns is what get returns.
      for (const item of all.items) assert.deepEqual(await store.get(item), item);
    });

    it('pages in byte order with limit, offset, next and total', async (t) => {
      const { store } = await open(backend, t);
      // Punctuation and digits sort differently under locale collations; byte order is the contract.
      const meshNames = ['m-2', 'm1', 'm_1'];
      const dpNames = ['a', 'a-1', 'a-b', 'a.1', 'a1', 'a_1', 'ab', 'b', 'z.z', '0', '9-x'];
      await store.commit([
        ...meshNames.map((n) => ({ op: 'put' as const, resource: mesh(n) })),
        ...meshNames.flatMap((m) => dpNames.map((n) => ({ op: 'put' as const, resource: dataplane(n, m) }))),
      ]);
      const bytes = (s: string) => Buffer.from(s, 'utf8');
      const expected = meshNames
        .flatMap((m) => dpNames.map((n) => [m, n] as const))
        .sort(([am, an], [bm, bn]) => Buffer.compare(bytes(am), bytes(bm)) || Buffer.compare(bytes(an), bytes(bn)))
        .map(([m, n]) => `${m}/${n}`);
      const total = expected.length;

      const seen: string[] = [];
      let offset: number | undefined = 0;
      let pages = 0;
      while (offset !== undefined) {
        const page = await store.list('Dataplane', { limit: 7, offset });
        assert.equal(page.total, total);
        assert.ok(page.items.length <= 7);
        seen.push(...page.items.map((i) => `${i.mesh}/${i.name}`));
        if (page.next !== undefined) {
          assert.equal(page.next, offset + 7);
          assert.equal(page.items.length, 7);
        }
        offset = page.next;
        assert.ok(++pages <= Math.ceil(total / 7), 'paging terminates');
      }
      assert.deepEqual(seen, expected);

      // A mesh filter pages within the mesh, in the same order.
      const m1 = await store.list('Dataplane', { mesh: 'm1', limit: 4, offset: 4 });
      assert.deepEqual(m1.items.map((i) => `${i.mesh}/${i.name}`), expected.filter((e) => e.startsWith('m1/')).slice(4, 8));
      assert.equal(m1.total, dpNames.length);
      assert.equal(m1.next, 8);

      const last = await store.list('Dataplane', { limit: 10, offset: total - 3 });
      assert.equal(last.items.length, 3);
      assert.equal(last.next, undefined);
      const past = await store.list('Dataplane', { limit: 10, offset: total + 5 });
      assert.deepEqual(past, { items: [], total });
      // Pages are stable: asking again gives the same answer.
      assert.deepEqual(await store.list('Dataplane', { limit: 7, offset: 14 }), await store.list('Dataplane', { limit: 7, offset: 14 }));
    });

    it(`caps the page size at MAX_PAGE_SIZE (${MAX_PAGE_SIZE})`, async (t) => {
      const { store } = await open(backend, t);
      const n = MAX_PAGE_SIZE + 5;
      const names = Array.from({ length: n }, (_, i) => `zone-${String(i).padStart(5, '0')}`);
      await store.commit(names.map((name) => ({ op: 'put' as const, resource: zone(name) })));
      const page = await store.list('Zone', { limit: MAX_PAGE_SIZE * 10 });
      assert.equal(page.items.length, MAX_PAGE_SIZE);
      assert.equal(page.total, n);
      assert.equal(page.next, MAX_PAGE_SIZE);
      const rest = await store.list('Zone', { limit: MAX_PAGE_SIZE * 10, offset: page.next });
      assert.deepEqual(rest.items.map((i) => i.name), names.slice(MAX_PAGE_SIZE));
      assert.equal(rest.next, undefined);
    });

    it('mesh-scoped puts need their Mesh, existing or put earlier in the same commit', async (t) => {
      const { store, batches } = await open(backend, t);
      await assert.rejects(createResource(store, dataplane('dp-1', 'missing')), (err: unknown) => {
        assert.ok(err instanceof MeshNotFoundError);
        assert.equal(err.status, 400);
        return true;
      });
      assert.equal(batches.length, 0);
      const r = await store.commit([
        { op: 'put', resource: mesh('fresh'), expectedVersion: null },
        { op: 'put', resource: dataplane('dp-1', 'fresh'), expectedVersion: null },
      ]);
      assert.equal(r.written.length, 2);
      assert.ok(await store.get({ type: 'Dataplane', mesh: 'fresh', name: 'dp-1' }));
      // A Mesh deleted earlier in the commit is gone for the ops after it, and the commit fails whole.
      await assert.rejects(
        store.commit([
          { op: 'delete', key: { type: 'Mesh', name: 'fresh' } },
          { op: 'put', resource: dataplane('dp-2', 'fresh') },
        ]),
        MeshNotFoundError,
      );
      assert.ok(await store.get({ type: 'Mesh', name: 'fresh' }));
      assert.ok(await store.get({ type: 'Dataplane', mesh: 'fresh', name: 'dp-1' }));
      assert.equal(batches.length, 1);
    });

    it('deleting a Mesh deletes everything in it, and only in it', async (t) => {
      const { store, batches } = await open(backend, t);
      await store.commit([
        { op: 'put', resource: mesh('a') },
        { op: 'put', resource: mesh('b') },
        { op: 'put', resource: dataplane('web', 'a') },
        { op: 'put', resource: dataplane('api', 'a') },
        { op: 'put', resource: externalService('httpbin', 'a') },
        { op: 'put', resource: dataplane('web', 'b') },
        { op: 'put', resource: zone('zone-1') },
      ]);
      const before = (await store.list('Dataplane', { mesh: 'a' })).items;
      const { events } = await store.commit([{ op: 'delete', key: { type: 'Mesh', name: 'a' } }]);

      assert.deepEqual(events[0] && { op: events[0].op, type: events[0].type, name: events[0].name }, { op: 'delete', type: 'Mesh', name: 'a' });
      assert.deepEqual(sameKeys(events), sameKeys([
        { op: 'delete', type: 'Mesh', name: 'a' },
        { op: 'delete', type: 'Dataplane', mesh: 'a', name: 'web' },
        { op: 'delete', type: 'Dataplane', mesh: 'a', name: 'api' },
        { op: 'delete', type: 'ExternalService', mesh: 'a', name: 'httpbin' },
      ]));
      assertIncreasing(events.map((e) => e.version), 'delete event versions');
      for (const b of before) {
        const e = events.find((x) => x.type === 'Dataplane' && x.name === b.name);
        assert.ok(e && versionOf(e.version) > versionOf(b.version), 'a delete event has a version newer than the row');
      }
      assert.deepEqual(batches.at(-1), events);

      assert.equal((await store.list('Dataplane', { mesh: 'a' })).total, 0);
      assert.equal((await store.list('ExternalService')).total, 0);
      assert.equal(await store.get({ type: 'Mesh', name: 'a' }), undefined);
      assert.ok(await store.get({ type: 'Mesh', name: 'b' }));
      assert.ok(await store.get({ type: 'Dataplane', mesh: 'b', name: 'web' }));
      assert.ok(await store.get({ type: 'Zone', name: 'zone-1' }));
      // The mesh can be created again, empty.
      await createResource(store, mesh('a'));
      assert.equal((await store.list('Dataplane', { mesh: 'a' })).total, 0);
    });

    it('a commit is atomic: when its last op fails nothing changes and nothing is published', async (t) => {
      const { store, batches } = await open(backend, t);
      const m = await createResource(store, mesh());
      const dp = await createResource(store, dataplane('dp-1'));
      const before = {
        meshes: await store.list('Mesh'),
        dps: await store.list('Dataplane'),
        zones: await store.list('Zone'),
      };
      const published = batches.length;

      const failing: [string, Parameters<ResourceStore['commit']>[0], new (...args: never[]) => Error][] = [
        ['put of a resource deleted earlier in the commit', [
          { op: 'put', resource: mesh('other') },
          { op: 'put', resource: dataplane('dp-2', 'other') },
          { op: 'put', resource: zone('zone-1') },
          { op: 'delete', key: dataplane('dp-1') },
          { op: 'put', resource: dataplane('dp-1', 'default', 9999), expectedVersion: dp.version },
        ], NotFoundError],
        ['version conflict', [
          { op: 'put', resource: zone('zone-1') },
          { op: 'put', resource: dataplane('dp-1', 'default', 7777), expectedVersion: dp.version },
          { op: 'put', resource: mesh(), expectedVersion: dp.version },
        ], VersionConflictError],
        ['missing delete', [
          { op: 'delete', key: { type: 'Mesh', name: 'default' }, expectedVersion: m.version },
          { op: 'delete', key: { type: 'Zone', name: 'nope' } },
        ], NotFoundError],
        ['already exists', [
          { op: 'put', resource: zone('zone-9'), expectedVersion: null },
          { op: 'put', resource: zone('zone-9'), expectedVersion: null },
        ], AlreadyExistsError],
      ];
      for (const [what, ops, error] of failing) {
        await assert.rejects(store.commit(ops), error, what);
        assert.equal(batches.length, published, `${what}: no event`);
        assert.deepEqual(await store.list('Mesh'), before.meshes, `${what}: meshes unchanged`);
        assert.deepEqual(await store.list('Dataplane'), before.dps, `${what}: dataplanes unchanged`);
        assert.deepEqual(await store.list('Zone'), before.zones, `${what}: zones unchanged`);
      }
      // The store still works, and versions keep increasing past everything it has handed out.
      const after = await createResource(store, zone('zone-1'));
      assert.ok(versionOf(after.version) > versionOf(dp.version));
    });

    it('publishes one batch per commit, after it, with the ops and versions of the commit', async (t) => {
      const { store, batches } = await open(backend, t);
      const m = await createResource(store, mesh());
      assert.equal(batches.length, 1);
      const old = await createResource(store, dataplane('old'));
      const upd = await createResource(store, dataplane('upd'));

      const result = await store.commit([
        { op: 'put', resource: dataplane('new') },
        { op: 'put', resource: dataplane('upd', 'default', 9000, { v: '2' }), expectedVersion: upd.version },
        { op: 'delete', key: dataplane('old'), expectedVersion: old.version },
      ]);
      assert.equal(batches.length, 4, 'exactly one batch for the commit');
      const batch = batches.at(-1)!;
      assert.deepEqual(batch, result.events);
      assert.deepEqual(batch.map((e) => [e.op, e.type, e.mesh, e.name]), [
        ['create', 'Dataplane', 'default', 'new'],
        ['update', 'Dataplane', 'default', 'upd'],
        ['delete', 'Dataplane', 'default', 'old'],
      ]);
      assert.deepEqual(batch.slice(0, 2).map((e) => e.version), result.written.map((w) => w.version));
      assert.deepEqual(batch[1]!.labels, { v: '2' });
      assertIncreasing([m.version, old.version, upd.version, ...batch.map((e) => e.version)], 'versions');
      const at = new Set(batch.map((e) => e.at));
      assert.equal(at.size, 1, 'one commit, one timestamp');
      assert.ok(Math.abs([...at][0]! - Date.now()) < 60_000);
      // Reads agree with the events.
      assert.equal((await store.get(dataplane('new')))!.version, batch[0]!.version);
      assert.equal((await store.get(dataplane('upd')))!.version, batch[1]!.version);
      // An empty commit publishes nothing.
      await store.commit([]);
      assert.equal(batches.length, 4);
    });

    it('versions are unique and strictly increasing across commits and types', async (t) => {
      const { store, batches } = await open(backend, t);
      const versions: string[] = [];
      versions.push((await createResource(store, mesh())).version);
      for (let i = 0; i < 5; i++) {
        const { written } = await store.commit([
          { op: 'put', resource: zone(`zone-${i}`) },
          { op: 'put', resource: dataplane(`dp-${i}`) },
        ]);
        versions.push(...written.map((w) => w.version));
      }
      await deleteResource(store, zone('zone-0'));
      versions.push(batches.at(-1)![0]!.version);
      versions.push((await putResource(store, zone('zone-1'))).version);
      assertIncreasing(versions, 'versions');
      assert.equal(new Set(versions).size, versions.length);
      assertIncreasing(batches.flat().map((e) => e.version), 'event versions');
    });

    it('concurrent updates with the same expectedVersion: exactly one wins', async (t) => {
      const { store, batches } = await open(backend, t, { maxConnections: 10 });
      await createResource(store, mesh());
      const base = await createResource(store, dataplane('dp-1'));
      const published = batches.length;
      const { ok, failed } = await settle(
        Array.from({ length: 20 }, (_, i) => putResource(store, dataplane('dp-1', 'default', 10_000 + i), base.version)),
      );
      assert.equal(ok.length, 1, 'one update wins');
      assert.equal(failed.length, 19);
      for (const err of failed) assert.ok(err instanceof VersionConflictError, `loser fails with VersionConflictError, got ${String(err)}`);
      const now = await store.get(dataplane('dp-1'));
      assert.deepEqual(now, ok[0]);
      assert.equal(batches.length, published + 1);
    });

    it('concurrent deletes with the same expectedVersion: exactly one wins', async (t) => {
      const { store } = await open(backend, t, { maxConnections: 10 });
      const z = await createResource(store, zone('zone-1'));
      const { ok, failed } = await settle(Array.from({ length: 10 }, () => deleteResource(store, z, z.version)));
      assert.equal(ok.length, 1);
      for (const err of failed) assert.ok(err instanceof NotFoundError, `loser fails with NotFoundError, got ${String(err)}`);
    });

    it('concurrent creates of one name: exactly one wins', async (t) => {
      const { store, batches } = await open(backend, t, { maxConnections: 10 });
      await createResource(store, mesh());
      const { ok, failed } = await settle(Array.from({ length: 10 }, (_, i) => createResource(store, dataplane('dp-1', 'default', 20_000 + i))));
      assert.equal(ok.length, 1, 'one create wins');
      for (const err of failed) assert.ok(err instanceof AlreadyExistsError, `loser fails with AlreadyExistsError, got ${String(err)}`);
      assert.deepEqual(await store.get(dataplane('dp-1')), ok[0]);
      assert.equal(batches.flat().filter((e) => e.type === 'Dataplane').length, 1);
    });

    it('concurrent unconditional puts of a new name: all succeed, one create, the rest updates', async (t) => {
      const { store, batches } = await open(backend, t, { maxConnections: 10 });
      const { ok, failed } = await settle(Array.from({ length: 10 }, () => putResource(store, zone('zone-1'))));
      assert.deepEqual(failed, []);
      assert.equal(ok.length, 10);
      const ops = batches.flat().map((e) => e.op);
      assert.deepEqual([...ops].sort(), ['create', ...Array<string>(9).fill('update')]);
      assert.equal(new Set(ok.map((r) => r.version)).size, 10);
      assert.equal(new Set(ok.map((r) => r.creationTime)).size, 1, 'the creation time is kept by the updates');
    });

    it('a Mesh deleted while puts race into it leaves no orphans', async (t) => {
      const { store, batches } = await open(backend, t, { maxConnections: 10 });
      await createResource(store, mesh('doomed'));
      const puts = Array.from({ length: 12 }, (_, i) => createResource(store, dataplane(`dp-${i}`, 'doomed')));
      const del = deleteResource(store, { type: 'Mesh', name: 'doomed' });
      const { ok, failed } = await settle(puts);
      await del;
      for (const err of failed) assert.ok(err instanceof MeshNotFoundError, `a put after the delete fails with MeshNotFoundError, got ${String(err)}`);
      assert.equal((await store.list('Dataplane', { mesh: 'doomed' })).total, 0, 'no orphans');
      // Every put that committed did so before the delete, which then published its removal.
      const meshDelete = batches.find((b) => b.some((e) => e.op === 'delete' && e.type === 'Mesh'));
      assert.ok(meshDelete);
      assert.deepEqual(
        meshDelete.filter((e) => e.type === 'Dataplane').map((e) => e.name).sort(),
        ok.map((r) => r.name).sort(),
      );
    });

    // Large commits: what a KDS full sync writes. Same contract as small ones, op for op.

    it('commits 2,000 creates, then 2,000 updates with expected versions', async (t) => {
      const { store, batches } = await open(backend, t);
      const m = await createResource(store, mesh());
      const n = 2000;
      // Op order is not key order: versions and events follow the ops.
      const names = Array.from({ length: n }, (_, i) => `dp-${String((i * 7919) % n).padStart(4, '0')}`);
      const first = names.map((name, i) => dataplane(name, 'default', 1000 + i, { gen: '1', i: String(i) }));
      const created = await store.commit(first.map((resource) => ({ op: 'put' as const, resource, expectedVersion: null })));
      assert.equal(batches.length, 2, 'one batch for the commit');
      assert.deepEqual(batches[1], created.events);
      assert.deepEqual(created.written.map((w) => w.name), names);
      assert.deepEqual(created.events.map((e) => [e.op, e.type, e.mesh, e.name, e.version]), created.written.map((w) => ['create', 'Dataplane', 'default', w.name, w.version]));
      assertIncreasing([m.version, ...created.written.map((w) => w.version)], 'create versions');
      created.written.forEach((w, i) => {
        assert.deepEqual({ spec: w.spec, labels: w.labels }, { spec: first[i]!.spec, labels: first[i]!.labels });
        assert.equal(w.creationTime, w.modificationTime);
      });
      assert.deepEqual(await everything(store, 'Dataplane'), [...created.written].sort(byName));

      const second = names.map((name, i) => dataplane(name, 'default', 5000 + i, { gen: '2' }));
      const updated = await store.commit(second.map((resource, i) => ({ op: 'put' as const, resource, expectedVersion: created.written[i]!.version })));
      assert.equal(batches.length, 3);
      assert.deepEqual(batches[2], updated.events);
      assert.deepEqual(updated.events.map((e) => [e.op, e.name, e.version, e.labels]), updated.written.map((w) => ['update', w.name, w.version, { gen: '2' }]));
      assertIncreasing([...created.written.map((w) => w.version), ...updated.written.map((w) => w.version)], 'versions across both commits');
      updated.written.forEach((w, i) => {
        assert.equal(w.name, names[i]);
        assert.deepEqual(w.spec, second[i]!.spec);
        assert.equal(w.creationTime, created.written[i]!.creationTime, 'the creation time stays');
      });
      const stored = await everything(store, 'Dataplane');
      assert.deepEqual(stored, [...updated.written].sort(byName));
      for (const r of stored.filter((_, i) => i % 97 === 0)) assert.deepEqual(await store.get(r), r);
    });

    it('a large commit whose last op fails changes nothing and publishes nothing', async (t) => {
      const { store, batches } = await open(backend, t);
      await createResource(store, mesh());
      await createResource(store, mesh('other'));
      const existing = (await store.commit(Array.from({ length: 1500 }, (_, i) => ({ op: 'put' as const, resource: dataplane(`dp-${i}`) })))).written;
      const z1 = await createResource(store, zone('zone-1'));
      const z2 = await putResource(store, zone('zone-1'), z1.version);
      const snapshot = async () => ({ meshes: await everything(store, 'Mesh'), dps: await everything(store, 'Dataplane'), zones: await everything(store, 'Zone') });
      const before = await snapshot();
      const published = batches.length;

      const updates = existing.map((r, i) => ({ op: 'put' as const, resource: dataplane(r.name, 'default', 9000 + i), expectedVersion: r.version }));
      const creates = (mesh: string) => Array.from({ length: 1000 }, (_, i) => ({ op: 'put' as const, resource: dataplane(`new-${i}`, mesh), expectedVersion: null }));
      const deletes = existing.slice(0, 500).map((r) => ({ op: 'delete' as const, key: r, expectedVersion: r.version }));
      const failing: [string, WriteOp[], new (...args: never[]) => Error][] = [
        ['stale version', [...updates, ...creates('default'), { op: 'put', resource: zone('zone-1'), expectedVersion: z1.version }], VersionConflictError],
        ['missing mesh', [...creates('default'), ...updates, { op: 'put', resource: dataplane('lost', 'missing') }], MeshNotFoundError],
        ['missing delete', [...deletes, { op: 'put', resource: mesh('fresh') }, ...creates('fresh'), { op: 'delete', key: { type: 'Zone', name: 'nope' } }], NotFoundError],
        ['already exists', [...creates('other'), ...deletes, { op: 'put', resource: zone('zone-1'), expectedVersion: null }], AlreadyExistsError],
        ['stale delete', [...creates('default'), { op: 'delete', key: { type: 'Mesh', name: 'other' } }, { op: 'delete', key: existing[1499]!, expectedVersion: existing[0]!.version }], VersionConflictError],
        ['put into a mesh deleted earlier', [...updates, { op: 'delete', key: { type: 'Mesh', name: 'other' } }, ...creates('default'), { op: 'put', resource: dataplane('late', 'other') }], MeshNotFoundError],
      ];
      for (const [what, ops, error] of failing) {
        await assert.rejects(store.commit(ops), error, what);
        assert.equal(batches.length, published, `${what}: no event`);
        assert.deepEqual(await snapshot(), before, `${what}: nothing changed`);
      }
      // The store still works, and versions keep increasing past everything it has handed out.
      const after = await putResource(store, zone('zone-1'), z2.version);
      assert.ok(versionOf(after.version) > versionOf(z2.version));
      assertIncreasing(batches.flat().map((e) => e.version), 'event versions');
    });

    it('a large commit mixes creates, updates, deletes, a new mesh with resources and a mesh delete', async (t) => {
      const { store, batches } = await open(backend, t);
      const meshes = (await store.commit([{ op: 'put', resource: mesh() }, { op: 'put', resource: mesh('old') }])).written;
      const dps = (await store.commit(Array.from({ length: 600 }, (_, i) => ({ op: 'put' as const, resource: dataplane(`dp-${i}`) })))).written;
      const zones = (await store.commit(Array.from({ length: 20 }, (_, i) => ({ op: 'put' as const, resource: zone(`zone-${i}`) })))).written;
      const inOld = (await store.commit([
        ...Array.from({ length: 50 }, (_, i) => ({ op: 'put' as const, resource: dataplane(`old-${i}`, 'old') })),
        ...Array.from({ length: 5 }, (_, i) => ({ op: 'put' as const, resource: externalService(`es-${i}`, 'old') })),
      ])).written;
      const published = batches.length;

      // Every third existing Dataplane updated with its version, every third unconditionally, the rest
      // deleted (half with a version); interleaved with creates, a new mesh and what goes into it.
      const ops: WriteOp[] = [];
      dps.forEach((r, i) => {
        if (i % 3 === 0) ops.push({ op: 'put', resource: dataplane(r.name, 'default', 7000 + i, { u: 'v' }), expectedVersion: r.version });
        else if (i % 3 === 1) ops.push({ op: 'put', resource: dataplane(r.name, 'default', 7000 + i) });
        else ops.push({ op: 'delete', key: r, ...(i % 2 === 0 ? { expectedVersion: r.version } : {}) });
        if (i % 2 === 0) ops.push({ op: 'put', resource: dataplane(`new-${i}`, 'default'), ...(i % 4 === 0 ? { expectedVersion: null } : {}) });
        if (i === 300) ops.push({ op: 'put', resource: mesh('fresh', { team: 'x' }), expectedVersion: null });
        if (i > 300 && i % 3 === 0) ops.push({ op: 'put', resource: dataplane(`fresh-${i}`, 'fresh'), expectedVersion: null });
        if (i === 400) ops.push({ op: 'put', resource: dataplane('doomed', 'old') }, { op: 'delete', key: { type: 'Mesh', name: 'old' } });
        if (i === 450) ops.push({ op: 'put', resource: externalService('es', 'fresh') });
      });
      zones.forEach((z, i) => ops.push(i % 2 === 0 ? { op: 'delete', key: z } : { op: 'put', resource: zone(z.name), expectedVersion: z.version }));
      ops.push(...Array.from({ length: 10 }, (_, i) => ({ op: 'put' as const, resource: zone(`zone-new-${i}`) })));

      const { written, events } = await store.commit(ops);
      assert.equal(batches.length, published + 1, 'one batch');
      assert.deepEqual(batches.at(-1), events);
      assertIncreasing(events.map((e) => e.version), 'event versions');

      // Events: one per op, in op order, the mesh delete followed by everything it took along.
      const keyOfOp = (op: WriteOp) => (op.op === 'put' ? op.resource : op.key);
      const existed = new Set([...dps, ...zones].map((r) => `${r.type}/${r.mesh ?? ''}/${r.name}`));
      const expectedOps = ops.map((op) => {
        const k = keyOfOp(op);
        return `${op.op === 'delete' ? 'delete' : existed.has(`${k.type}/${k.mesh ?? ''}/${k.name}`) ? 'update' : 'create'}:${k.type}/${k.mesh ?? ''}/${k.name}`;
      });
      const at = events.findIndex((e) => e.type === 'Mesh' && e.op === 'delete');
      const cascade = events.slice(at + 1, at + 1 + inOld.length + 1);
      assert.deepEqual(sameKeys(cascade), sameKeys([...inOld, dataplane('doomed', 'old')].map((r) => ({ op: 'delete', type: r.type, mesh: r.mesh, name: r.name }))));
      const own = [...events.slice(0, at + 1), ...events.slice(at + 1 + cascade.length)];
      assert.deepEqual(own.map((e) => `${e.op}:${e.type}/${e.mesh ?? ''}/${e.name}`), expectedOps);

      // Written: every put, in op order, as stored.
      const puts = ops.flatMap((op) => (op.op === 'put' ? [op.resource] : []));
      assert.deepEqual(written.map((w) => [w.type, w.mesh, w.name]), puts.map((r) => [r.type, r.mesh, r.name]));
      written.forEach((w, i) => assert.deepEqual({ spec: w.spec, labels: w.labels }, { spec: puts[i]!.spec, labels: puts[i]!.labels }));
      const putEvents = own.filter((e) => e.op !== 'delete');
      assert.deepEqual(putEvents.map((e) => e.version), written.map((w) => w.version));

      // The store holds exactly what the commit says.
      const survivors = new Map<string, StoredResource>();
      for (const r of [...meshes, ...dps, ...zones, ...inOld]) survivors.set(`${r.type}/${r.mesh ?? ''}/${r.name}`, r);
      for (const w of written) survivors.set(`${w.type}/${w.mesh ?? ''}/${w.name}`, w);
      for (const e of events.filter((e) => e.op === 'delete')) survivors.delete(`${e.type}/${e.mesh ?? ''}/${e.name}`);
      for (const type of ['Mesh', 'Dataplane', 'ExternalService', 'Zone'] as const) {
        const expected = [...survivors.values()].filter((r) => r.type === type).sort(byName);
        assert.deepEqual(await everything(store, type), expected, type);
      }
      const freshDp = written.find((w) => w.name === 'fresh-303');
      assert.ok(freshDp && freshDp.mesh === 'fresh');
      assert.equal((await store.list('Dataplane', { mesh: 'old' })).total, 0);
      for (const w of written.filter((w) => w.type === 'Dataplane' && w.mesh === 'default' && existed.has(`Dataplane/default/${w.name}`))) {
        const was = dps.find((d) => d.name === w.name)!;
        assert.equal(w.creationTime, was.creationTime);
        assert.ok(versionOf(w.version) > versionOf(was.version));
      }
    });

    it('concurrent large commits with the same expected versions: exactly one wins', async (t) => {
      const { store, batches } = await open(backend, t, { maxConnections: 10 });
      await createResource(store, mesh());
      const base = (await store.commit(Array.from({ length: 200 }, (_, i) => ({ op: 'put' as const, resource: dataplane(`dp-${i}`) })))).written;
      const published = batches.length;
      const { ok, failed } = await settle(
        Array.from({ length: 8 }, (_, c) => {
          const ops = base.map((r, i) => ({ op: 'put' as const, resource: dataplane(r.name, 'default', 10_000 + c * 1000 + i), expectedVersion: r.version }));
          return store.commit(c % 2 === 0 ? ops : ops.reverse());
        }),
      );
      assert.equal(ok.length, 1, 'one commit wins');
      for (const err of failed) assert.ok(err instanceof VersionConflictError, `loser fails with VersionConflictError, got ${String(err)}`);
      assert.deepEqual(await everything(store, 'Dataplane'), [...ok[0]!.written].sort(byName));
      assert.equal(batches.length, published + 1);
    });

    it('concurrent large commits creating the same names: exactly one wins', async (t) => {
      const { store, batches } = await open(backend, t, { maxConnections: 10 });
      await createResource(store, mesh());
      const { ok, failed } = await settle(
        Array.from({ length: 8 }, (_, c) => {
          const ops = Array.from({ length: 100 }, (_, i) => ({ op: 'put' as const, resource: dataplane(`dp-${i}`, 'default', 20_000 + c), expectedVersion: null }));
          return store.commit(c % 2 === 0 ? ops : ops.reverse());
        }),
      );
      assert.equal(ok.length, 1, 'one commit wins');
      for (const err of failed) assert.ok(err instanceof AlreadyExistsError, `loser fails with AlreadyExistsError, got ${String(err)}`);
      assert.deepEqual(await everything(store, 'Dataplane'), [...ok[0]!.written].sort(byName));
      assert.equal(batches.flat().filter((e) => e.type === 'Dataplane').length, 100);
    });

    it('concurrent large unconditional puts of new names: all succeed, one create per name', async (t) => {
      const { store, batches } = await open(backend, t, { maxConnections: 10 });
      await createResource(store, mesh());
      const { ok, failed } = await settle(
        Array.from({ length: 6 }, (_, c) => store.commit(Array.from({ length: 100 }, (_, i) => ({ op: 'put' as const, resource: dataplane(`dp-${i}`, 'default', 30_000 + c) })))),
      );
      assert.deepEqual(failed, []);
      const dpEvents = batches.flat().filter((e) => e.type === 'Dataplane');
      for (let i = 0; i < 100; i++) {
        const mine = dpEvents.filter((e) => e.name === `dp-${i}`);
        assert.deepEqual(mine.map((e) => e.op).sort(), ['create', ...Array<string>(5).fill('update')], `dp-${i}`);
        assertIncreasing(mine.map((e) => e.version).sort((a, b) => (versionOf(a) < versionOf(b) ? -1 : 1)), `dp-${i} versions`);
      }
      assert.equal(new Set(dpEvents.map((e) => e.version)).size, dpEvents.length, 'versions are unique');
      const creation = new Set(ok.flatMap((r) => r.written.filter((w) => w.name === 'dp-7').map((w) => w.creationTime)));
      assert.equal(creation.size, 1, 'the creation time is kept by the updates');
    });

    it('a Mesh deleted while large commits put into it leaves no orphans', async (t) => {
      const { store, batches } = await open(backend, t, { maxConnections: 10 });
      await createResource(store, mesh('doomed'));
      const commits = Array.from({ length: 6 }, (_, c) => store.commit(Array.from({ length: 50 }, (_, i) => ({ op: 'put' as const, resource: dataplane(`dp-${c}-${i}`, 'doomed'), expectedVersion: null }))));
      const del = deleteResource(store, { type: 'Mesh', name: 'doomed' });
      const { ok, failed } = await settle(commits);
      await del;
      for (const err of failed) assert.ok(err instanceof MeshNotFoundError, `a commit after the delete fails with MeshNotFoundError, got ${String(err)}`);
      assert.equal((await store.list('Dataplane', { mesh: 'doomed' })).total, 0, 'no orphans');
      const meshDelete = batches.find((b) => b.some((e) => e.op === 'delete' && e.type === 'Mesh'));
      assert.ok(meshDelete);
      assert.deepEqual(
        meshDelete.filter((e) => e.type === 'Dataplane').map((e) => e.name).sort(),
        ok.flatMap((r) => r.written.map((w) => w.name)).sort(),
      );
    });

    if (backend === 'postgres') {
      it('survives a restart: data and versions persist, new versions keep increasing', async (t) => {
        const schema = ownedSchema(t);
        const first = await PostgresStore.open({ url: PG_URL, schema, maxConnections: 2 });
        let stored: StoredResource[];
        try {
          await createResource(first, mesh());
          const { written } = await first.commit([
            { op: 'put', resource: dataplane('dp-1', 'default', 8080, { app: 'web' }) },
            { op: 'put', resource: zone('zone-1') },
          ]);
          stored = [...written];
        } finally {
          await first.close();
        }
        await assert.rejects(first.get({ type: 'Zone', name: 'zone-1' }), StoreUnavailableError, 'a closed store refuses work');
        assert.equal(await first.healthy(), false);

        const { store: second } = await open('postgres', t, { schema });
        for (const r of stored) assert.deepEqual(await second.get(r), r);
        const max = stored.map((r) => versionOf(r.version)).reduce((a, b) => (a > b ? a : b));
        const next = await putResource(second, zone('zone-1'), stored[1]!.version);
        assert.ok(versionOf(next.version) > max);
        assert.equal(next.creationTime, stored[1]!.creationTime);
        await assert.rejects(putResource(second, zone('zone-1'), stored[1]!.version), VersionConflictError);
      });

      it('migrations are idempotent when stores open the same schema concurrently', async (t) => {
        const schema = ownedSchema(t);
        const opened = await Promise.allSettled(Array.from({ length: 4 }, () => PostgresStore.open({ url: PG_URL, schema, maxConnections: 2 })));
        const stores = opened.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
        for (const s of stores) cleanups(t)(() => s.close());
        assert.deepEqual(opened.filter((r) => r.status === 'rejected'), []);
        const { rows } = await adminPool().query<{ id: number }>(`SELECT id FROM "${schema}".meshfed_migrations ORDER BY id`);
        assert.deepEqual(rows.map((r) => r.id), MIGRATIONS.map((m) => m.id));
        // They share one table and one version sequence.
        const a = await createResource(stores[0]!, zone('zone-1'));
        assert.deepEqual(await stores[3]!.get(a), a);
        const b = await putResource(stores[2]!, zone('zone-1'), a.version);
        assert.ok(versionOf(b.version) > versionOf(a.version));
        // And a later open finds nothing to do.
        const { store: late } = await open('postgres', t, { schema });
        assert.deepEqual(await late.get(a), b);
        const again = await adminPool().query<{ n: string }>(`SELECT count(*) AS n FROM "${schema}".meshfed_migrations`);
        assert.equal(Number(again.rows[0]!.n), MIGRATIONS.length);
      });

      it('an unreachable server is a one-line StoreUnavailableError, quickly', async () => {
        const started = Date.now();
        const url = 'postgres://postgres:s3cr3t-pw@127.0.0.1:1/test';
        await assert.rejects(PostgresStore.open({ url, connectTimeoutMs: 2000 }), (err: unknown) => {
          assert.ok(err instanceof StoreUnavailableError, `got ${String(err)}`);
          assert.equal(err.status, 503);
          assert.match(err.message, /^cannot connect to Postgres at 127\.0\.0\.1:1: \S/);
          assert.doesNotMatch(err.message, /\n/);
          assert.doesNotMatch(err.message, /s3cr3t/);
          assert.doesNotMatch(JSON.stringify(err.toBody()), /s3cr3t/);
          assert.doesNotMatch(err.message, /\bat .*\(.*:\d+:\d+\)/, 'no stack frames');
          return true;
        });
        assert.ok(Date.now() - started < 5000, 'fails within a few seconds');
      });

      it('a server that goes away mid-life turns operations into StoreUnavailableError', async (t) => {
        const proxy = await startProxy(5432);
        cleanups(t)(() => proxy.close());
        const { store } = await open('postgres', t, { url: PG_URL.replace('127.0.0.1:5432', `127.0.0.1:${proxy.port}`), connectTimeoutMs: 1000 });
        const m = await createResource(store, mesh());
        assert.equal(await store.healthy(), true);

        await proxy.close();
        const started = Date.now();
        await assert.rejects(store.get(m), StoreUnavailableError);
        await assert.rejects(store.list('Mesh'), StoreUnavailableError);
        await assert.rejects(store.commit([{ op: 'put', resource: zone('zone-1') }]), (err: unknown) => {
          assert.ok(err instanceof StoreUnavailableError, `got ${String(err)}`);
          assert.equal(err.status, 503);
          assert.doesNotMatch(err.message, /\n/);
          return true;
        });
        assert.equal(await store.healthy(), false);
        assert.ok(Date.now() - started < 15_000, 'fails within the connect timeout');
      });

      it('connections killed by the server are replaced; failures are 503, never crashes', async (t) => {
        const app = `meshfed-test-${randomBytes(4).toString('hex')}`;
        const { store } = await open('postgres', t, { applicationName: app, maxConnections: 3 });
        await createResource(store, mesh());
        await Promise.all([store.list('Mesh'), store.list('Mesh'), store.list('Mesh')]);
        const killed = await adminPool().query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1`, [app]);
        assert.ok((killed.rowCount ?? 0) > 0);
        await new Promise((r) => setTimeout(r, 100));
        for (let i = 0; i < 3; i++) {
          try {
            await putResource(store, zone(`zone-${i}`));
          } catch (err) {
            assert.ok(err instanceof StoreUnavailableError, `got ${String(err)}`);
          }
        }
        const z = await putResource(store, zone('zone-final'));
        assert.deepEqual(await store.get(z), z);
        assert.equal(await store.healthy(), true);
      });
    }
  });
}

/** A TCP forwarder to the database that the test can pull the plug on. */
async function startProxy(targetPort: number): Promise<{ port: number; close: () => Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(targetPort, '127.0.0.1');
    sockets.add(client).add(upstream);
    const drop = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(0, '127.0.0.1', () => resolve()));
  const address = server.address();
  assert.ok(address && typeof address === 'object');
  let closed: Promise<void> | undefined;
  return {
    port: address.port,
    close: () =>
      (closed ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const s of sockets) s.destroy();
      })),
  };
}
