import { type ColumnType, Kysely, PostgresDialect, type Selectable, sql, type Transaction } from 'kysely';
import pg from 'pg';
import type { Logger } from 'pino';
import {
  AlreadyExistsError,
  ApiError,
  MeshNotFoundError,
  NotFoundError,
  StoreUnavailableError,
  VersionConflictError,
} from '../../errors/api-error.js';
import type { EventBus, ResourceChangedEvent } from '../../events/event-bus.js';
import type { ResourceKind } from '../../resources/registry.js';
import type { Resource, ResourceKey, StoredResource } from '../../resources/resource.js';
import { checkVersion, event } from '../memory-store.js';
import { clampLimit, type CommitResult, type ListOptions, type ListResult, type ResourceStore, type WriteOp } from '../resource-store.js';
import { migrate } from './migrations.js';

export interface PostgresStoreOptions {
  /** `postgres://user:password@host:port/database`. The password never appears in errors or logs. */
  readonly url: string;
  /**
   * Schema holding the tables, created when missing; every connection uses it (search_path is set in
   * the connection's start-up options, so an `options` parameter in `url` would override it).
   * Default: the server's search_path.
   */
  readonly schema?: string;
  /** Upper bound of the connection pool. Default 10. */
  readonly maxConnections?: number;
  readonly bus?: EventBus;
  /** How long opening a connection (or waiting for a free one) may take. Default 5000. */
  readonly connectTimeoutMs?: number;
  /** Server-side bound on any one statement, lock waits included. Default 30000. */
  readonly statementTimeoutMs?: number;
  /** Shown in pg_stat_activity. Default `meshfed`. */
  readonly applicationName?: string;
  readonly log?: Logger;
}

interface ResourcesTable {
  type: ResourceKind;
  mesh: string;
  name: string;
  spec: ColumnType<Record<string, unknown>, string, string>;
  labels: ColumnType<Record<string, string>, string, string>;
  /** bigint: pg hands it back as a decimal string, which is what versions are. */
  version: ColumnType<string, string, string>;
  creation_time: ColumnType<Date, Date | string, Date | string>;
  modification_time: ColumnType<Date, Date | string, Date | string>;
}

interface Database {
  resources: ResourcesTable;
}

type Row = Selectable<ResourcesTable>;
type Trx = Transaction<Database>;

const DEFAULT_MAX_CONNECTIONS = 10;
const DEFAULT_CONNECT_TIMEOUT_MS = 5000;
const DEFAULT_STATEMENT_TIMEOUT_MS = 30_000;
const HEALTH_TIMEOUT_MS = 2000;
/** Attempts of a commit that lost a deadlock or serialization race (nothing of it was applied). */
const COMMIT_ATTEMPTS = 3;
/** Commits of at least this many ops (on distinct keys) are applied in bulk; smaller ones op by op. */
const BULK_MIN_OPS = 2;
/**
 * Keys per statement of a bulk commit. Keys and values travel as a few array parameters, so the
 * bind-parameter limit (65,535) never applies; this only bounds the size of one statement.
 */
const BULK_CHUNK = 1000;
/** Bulk attempts of a commit that found a key absent which a concurrent commit then created. */
const BULK_RACE_ATTEMPTS = 2;
const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

// bigint; pg returns int8 as a decimal string.
const NEXT_VERSION = sql<string>`nextval('meshfed_version_seq')`;

/**
 * The durable store. Same contract as MemoryStore, enforced by the database: a commit is one
 * transaction, rows it reads are locked (`FOR UPDATE`, and `FOR KEY SHARE` on the Mesh a put goes into: it blocks a mesh delete but neither other writers nor mesh updates)
 * so concurrent writers serialize per key, and events are published only after COMMIT returned.
 */
export class PostgresStore implements ResourceStore {
  readonly backend = 'postgres' as const;
  #closed = false;

  private constructor(
    private readonly db: Kysely<Database>,
    private readonly pool: pg.Pool,
    private readonly where: string,
    private readonly redact: (s: string) => string,
    private readonly bus?: EventBus,
  ) {}

  static async open(options: PostgresStoreOptions): Promise<PostgresStore> {
    const { schema } = options;
    if (schema !== undefined && !SCHEMA_NAME.test(schema)) {
      throw new Error(`invalid Postgres schema name "${schema}": use lowercase letters, digits and '_', at most 63`);
    }
    const target = describeTarget(options.url);
    const pool = new pg.Pool({
      connectionString: options.url,
      max: options.maxConnections ?? DEFAULT_MAX_CONNECTIONS,
      connectionTimeoutMillis: options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
      idleTimeoutMillis: 30_000,
      keepAlive: true,
      application_name: options.applicationName ?? 'meshfed',
      statement_timeout: options.statementTimeoutMs ?? DEFAULT_STATEMENT_TIMEOUT_MS,
      // A transaction left open by a stalled process must not hold its row locks forever.
      idle_in_transaction_session_timeout: 60_000,
      // Set at connection start-up, so no query can ever run on the wrong schema.
      ...(schema !== undefined ? { options: `-c search_path=${schema}` } : {}),
    });
    // A connection that dies (server restart, network) emits 'error'; unhandled, it would kill the
    // process. Idle ones are dropped by the pool, busy ones fail their query, which we map to 503.
    pool.on('error', (err) => options.log?.warn({ err: target.redact(oneLine(err)) }, 'idle Postgres connection failed'));
    pool.on('connect', (client) => client.on('error', () => {}));

    const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
    try {
      const client = await pool.connect();
      client.release();
    } catch (err) {
      await db.destroy().catch(() => {});
      throw new StoreUnavailableError(`cannot connect to Postgres at ${target.where}: ${target.redact(causeOf(err))}`, { cause: err });
    }
    try {
      const ran = await migrate(db, schema);
      if (ran.length > 0) options.log?.info({ migrations: ran, schema }, 'applied Postgres migrations');
    } catch (err) {
      await db.destroy().catch(() => {});
      if (isUnavailable(err)) {
        throw new StoreUnavailableError(`cannot connect to Postgres at ${target.where}: ${target.redact(causeOf(err))}`, { cause: err });
      }
      throw new Error(`migrating the Postgres store at ${target.where} failed: ${target.redact(causeOf(err))}`, { cause: err });
    }
    return new PostgresStore(db, pool, target.where, target.redact, options.bus);
  }

  async get(key: ResourceKey): Promise<StoredResource | undefined> {
    return this.#guard(async () => {
      const row = await this.db
        .selectFrom('resources')
        .selectAll()
        .where('type', '=', key.type)
        .where('mesh', '=', key.mesh ?? '')
        .where('name', '=', key.name)
        .executeTakeFirst();
      return row ? toStored(row) : undefined;
    });
  }

  async list(type: ResourceKind, options: ListOptions = {}): Promise<ListResult> {
    // Same arithmetic as MemoryStore, including its answers to odd offsets.
    const offset = Math.max(0, options.offset ?? 0);
    const limit = clampLimit(options.limit);
    // Global-scoped rows are stored with mesh '', which no mesh-scoped row can have; the memory store
    // never matches them on a mesh filter, so neither does this one.
    if (options.mesh === '') return { items: [], total: 0 };
    const skip = Number.isNaN(offset) ? 0 : Math.min(Math.floor(offset), Number.MAX_SAFE_INTEGER);
    return this.#guard(async () => {
      let q = this.db.selectFrom('resources').where('type', '=', type);
      if (options.mesh !== undefined) q = q.where('mesh', '=', options.mesh);
      const rows = await q
        .selectAll()
        .select(sql<string>`count(*) OVER ()`.as('total'))
        .orderBy(sql`mesh COLLATE "C"`)
        .orderBy(sql`name COLLATE "C"`)
        .limit(limit)
        .offset(skip)
        .execute();
      let total = 0;
      if (rows[0]) total = Number(rows[0].total);
      else if (skip > 0) {
        // A page past the end carries no window count.
        const c = await q.select(sql<string>`count(*)`.as('total')).executeTakeFirstOrThrow();
        total = Number(c.total);
      }
      const items = rows.map(toStored);
      const next = offset + limit < total ? offset + limit : undefined;
      return { items, total, ...(next !== undefined ? { next } : {}) };
    });
  }

  async commit(ops: readonly WriteOp[]): Promise<CommitResult> {
    if (ops.length === 0) return { written: [], events: [] };
    const changes = await this.#guard(async () => {
      let bulk = ops.length >= BULK_MIN_OPS && distinctKeys(ops);
      let races = 0;
      for (let attempt = 1; ; ) {
        try {
          return await this.db.transaction().execute((trx) => (bulk ? applyBulk(trx, ops) : applyOps(trx, ops)));
        } catch (err) {
          // A key the bulk path found absent was created by a concurrent commit before this one could
          // insert it: rolled back, nothing applied. Run again, now seeing (and locking) that row; op by
          // op, which handles such races within the transaction, if it keeps happening.
          if (err instanceof BulkRace) {
            if (++races >= BULK_RACE_ATTEMPTS) bulk = false;
            continue;
          }
          // Lost a deadlock to another commit: the transaction was rolled back, so running it again
          // is safe, and its version checks are done afresh against what the winner wrote.
          if (attempt++ < COMMIT_ATTEMPTS && (pgCode(err) === '40P01' || pgCode(err) === '40001')) continue;
          throw err;
        }
      }
    });
    // Durable now: publish the whole commit at once, stamped with the time it became visible. (If the
    // connection died during COMMIT itself the outcome is unknown to us: the caller gets a 503 and no
    // event is published; a reader of the store sees the truth.)
    const at = Date.now();
    const events = changes.events.map(([op, row]) => event(op, row, at));
    this.bus?.publish(events);
    return { written: changes.written, events };
  }

  async healthy(): Promise<boolean> {
    if (this.#closed) return false;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<false>((resolve) => {
      timer = setTimeout(() => resolve(false), HEALTH_TIMEOUT_MS);
    });
    const probe = this.pool.query('select 1').then(
      () => true,
      () => false,
    );
    try {
      return await Promise.race([probe, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.db.destroy();
  }

  /** Runs one store operation: ApiErrors pass, a lost or unreachable server becomes StoreUnavailableError. */
  async #guard<T>(fn: () => Promise<T>): Promise<T> {
    if (this.#closed) throw new StoreUnavailableError('the Postgres store is closed');
    try {
      return await fn();
    } catch (err) {
      if (err instanceof ApiError) throw err;
      if (pgCode(err) === '23505') throw new AlreadyExistsError('the resource already exists');
      if (isUnavailable(err)) {
        throw new StoreUnavailableError(`Postgres at ${this.where} is unavailable: ${this.redact(causeOf(err))}`, { cause: err });
      }
      throw err;
    }
  }
}

type Change = readonly [ResourceChangedEvent['op'], StoredResource];
type PutOp = Extract<WriteOp, { op: 'put' }>;
type DeleteOp = Extract<WriteOp, { op: 'delete' }>;
interface Applied {
  written: StoredResource[];
  events: Change[];
}

/** The body of a commit, inside its transaction. Throws (and so rolls back) on the first failing op. */
async function applyOps(trx: Trx, ops: readonly WriteOp[]): Promise<Applied> {
  const written: StoredResource[] = [];
  const events: Change[] = [];
  for (const op of ops) {
    if (op.op === 'put') {
      const { current, row } = await put(trx, op);
      const stored = toStored(row);
      written.push(stored);
      events.push([current ? 'update' : 'create', stored]);
    } else {
      events.push(...(await deleteOne(trx, op)));
    }
  }
  return { written, events };
}

async function deleteOne(trx: Trx, op: DeleteOp): Promise<Change[]> {
  const { key, expectedVersion } = op;
  const current = await lockRow(trx, key);
  checkDelete(key, current, expectedVersion);
  const events: Change[] = [];
  await trx.deleteFrom('resources').where('type', '=', key.type).where('mesh', '=', key.mesh ?? '').where('name', '=', key.name).execute();
  events.push(['delete', { ...current, version: await nextVersion(trx) }]);
  if (key.type === 'Mesh') {
    // Everything inside the mesh goes in the same transaction. Puts into it hold FOR KEY SHARE on the
    // Mesh row, which the lockRow above waited for, so no row can be added behind this delete.
    const gone = await trx.deleteFrom('resources').where('mesh', '=', key.name).returningAll().execute();
    gone.sort((a, b) => compare(a.type, b.type) || compare(a.name, b.name));
    const versions = gone.length > 0 ? await nextVersions(trx, gone.length) : [];
    gone.forEach((row, i) => events.push(['delete', { ...toStored(row), version: versions[i]! }]));
  }
  return events;
}

function checkDelete(key: ResourceKey, current: StoredResource | undefined, expectedVersion: string | undefined): asserts current is StoredResource {
  if (!current) throw new NotFoundError(`${key.type} "${key.name}"${key.mesh ? ` in mesh "${key.mesh}"` : ''} does not exist`);
  if (expectedVersion !== undefined && expectedVersion !== current.version) {
    throw new VersionConflictError(`${key.type} "${key.name}" is at version ${current.version}, not ${expectedVersion}`);
  }
}

// ---------------------------------------------------------------------------------------------------
// Bulk commits: the same outcome as applyOps, in a handful of statements per thousand ops.

/** A bulk commit found a key absent that a concurrent commit created before this one inserted it. */
class BulkRace extends Error {}

/** What a bulk commit does for one op, decided (and checked) before anything is written. */
type Step =
  | { readonly kind: 'insert'; readonly resource: Resource }
  | { readonly kind: 'update'; readonly resource: Resource }
  | { readonly kind: 'delete'; readonly current: StoredResource }
  | { readonly kind: 'deleteMesh'; readonly op: DeleteOp };
/** Steps that are written in bulk: all but Mesh deletes. */
type RowStep = Exclude<Step, { kind: 'deleteMesh' }>;

/**
 * A commit whose ops all have different keys, applied in bulk: lock every target row (and the Mesh of
 * every mesh-scoped put) up front, in key order; check the ops in order against that snapshot, like
 * MemoryStore's overlay, so the first failing op throws before anything is written; then write with
 * a few multi-row statements. Mesh deletes (and their cascade) run one at a time, in their place.
 */
async function applyBulk(trx: Trx, ops: readonly WriteOp[]): Promise<Applied> {
  const keys = ops.map((op) => (op.op === 'put' ? op.resource : op.key));
  const targets = new Set(keys.map(tableKey));
  const found = new Map<string, StoredResource>();
  for (const row of await lockRows(trx, keys)) found.set(tableKey(row), row);
  const meshes = new Set<string>();
  for (const op of ops) {
    const m = op.op === 'put' ? op.resource.mesh : undefined;
    if (m !== undefined && !targets.has(tableKey({ type: 'Mesh', name: m }))) meshes.add(m);
  }
  for (const row of await lockMeshes(trx, [...meshes])) found.set(tableKey(row), row);

  const steps = planBulk(ops, found);

  const written: StoredResource[] = [];
  const events: Change[] = [];
  let segment: RowStep[] = [];
  const flush = async () => {
    if (segment.length === 0) return;
    const done = await writeSegment(trx, segment);
    segment = [];
    for (const [op, row] of done) {
      if (op !== 'delete') written.push(row);
      events.push([op, row]);
    }
  };
  for (const step of steps) {
    if (step.kind !== 'deleteMesh') {
      segment.push(step);
      continue;
    }
    // The cascade takes whatever is in the mesh by now, including rows this commit wrote before.
    await flush();
    events.push(...(await deleteOne(trx, step.op)));
  }
  await flush();
  return { written, events };
}

/** Checks the ops of a bulk commit in order, throwing the error applyOps would; returns what to write. */
function planBulk(ops: readonly WriteOp[], found: ReadonlyMap<string, StoredResource>): Step[] {
  // Keys are distinct, so no op sees its own key changed by an earlier op, except through the cascade
  // of a Mesh delete; an earlier op can only change whether a Mesh exists.
  const goneMeshes = new Set<string>();
  const meshesWritten = new Map<string, boolean>();
  const current = (k: ResourceKey) => (goneMeshes.has(k.mesh ?? '') ? undefined : found.get(tableKey(k)));
  const meshExists = (name: string) => meshesWritten.get(name) ?? current({ type: 'Mesh', name }) !== undefined;
  const steps: Step[] = [];
  for (const op of ops) {
    if (op.op === 'put') {
      const r = op.resource;
      const cur = current(r);
      checkVersion(r, cur, op.expectedVersion);
      if (r.mesh !== undefined && !meshExists(r.mesh)) throw new MeshNotFoundError(r.mesh);
      if (r.type === 'Mesh') meshesWritten.set(r.name, true);
      steps.push({ kind: cur ? 'update' : 'insert', resource: r });
    } else {
      const cur = current(op.key);
      checkDelete(op.key, cur, op.expectedVersion);
      if (op.key.type === 'Mesh') {
        meshesWritten.set(op.key.name, false);
        goneMeshes.add(op.key.name);
        steps.push({ kind: 'deleteMesh', op });
      } else {
        steps.push({ kind: 'delete', current: cur });
      }
    }
  }
  return steps;
}

/**
 * Writes a run of steps (no Mesh delete among them), all rows of which are locked or absent: one
 * version each, handed out in step order, then inserts, updates and deletes in key-ordered chunks.
 * Returns each step's change, in step order.
 */
async function writeSegment(trx: Trx, steps: readonly RowStep[]): Promise<Change[]> {
  const versions = await nextVersions(trx, steps.length);
  const inserts: Versioned<Resource>[] = [];
  const updates: Versioned<Resource>[] = [];
  const deletes: Versioned<StoredResource>[] = [];
  steps.forEach((step, i) => {
    const version = versions[i]!;
    if (step.kind === 'insert') inserts.push({ item: step.resource, version });
    else if (step.kind === 'update') updates.push({ item: step.resource, version });
    else deletes.push({ item: step.current, version });
  });
  const rows = new Map<string, Row>();
  for (const chunk of keyChunks(inserts)) {
    const got = await insertRows(trx, chunk);
    // DO NOTHING skipped a row: a concurrent commit created the key after it was found absent.
    if (got.length !== chunk.length) throw new BulkRace();
    for (const row of got) rows.set(rowKey(row.type, row.mesh, row.name), row);
  }
  // Updated and deleted rows are locked by this transaction, so they are all there; should one not
  // be, start over rather than report what did not happen.
  for (const chunk of keyChunks(updates)) {
    const got = await updateRows(trx, chunk);
    if (got.length !== chunk.length) throw new BulkRace();
    for (const row of got) rows.set(rowKey(row.type, row.mesh, row.name), row);
  }
  for (const chunk of keyChunks(deletes)) {
    if ((await deleteRows(trx, chunk)) !== chunk.length) throw new BulkRace();
  }
  return steps.map((step, i): Change => {
    if (step.kind === 'delete') return ['delete', { ...step.current, version: versions[i]! }];
    const row = rows.get(tableKey(step.resource));
    if (!row) throw new BulkRace();
    return [step.kind === 'insert' ? 'create' : 'update', toStored(row)];
  });
}

interface Versioned<T extends ResourceKey> {
  readonly item: T;
  readonly version: string;
}

/** `n` fresh versions, ascending. */
async function nextVersions(trx: Trx, n: number): Promise<string[]> {
  const { rows } = await sql<{ v: string }>`SELECT ${NEXT_VERSION} AS v FROM generate_series(1, ${n}::int)`.execute(trx);
  return rows.map((r) => r.v).sort((a, b) => a.length - b.length || compare(a, b));
}

/**
 * The rows of `keys` that exist, locked FOR UPDATE in key order, so that bulk commits never deadlock
 * on each other. One index probe per key whatever the size of the table (a join could hash all of it),
 * and LATERAL locks the rows in the order of the keys given.
 */
async function lockRows(trx: Trx, keys: readonly ResourceKey[]): Promise<StoredResource[]> {
  const out: StoredResource[] = [];
  for (const chunk of chunks([...keys].sort(compareKeys), BULK_CHUNK)) {
    const { rows } = await sql<Row>`
      SELECT r.* FROM unnest(${chunk.map((k) => k.type)}::text[], ${chunk.map((k) => k.mesh ?? '')}::text[], ${chunk.map((k) => k.name)}::text[]) AS k(type, mesh, name)
      CROSS JOIN LATERAL (SELECT * FROM resources AS r WHERE r.type = k.type AND r.mesh = k.mesh AND r.name = k.name FOR UPDATE) AS r`.execute(trx);
    for (const row of rows) out.push(toStored(row));
  }
  return out;
}

/** The Meshes of `names` that exist, locked FOR KEY SHARE like a single put's mesh check. */
async function lockMeshes(trx: Trx, names: readonly string[]): Promise<StoredResource[]> {
  const out: StoredResource[] = [];
  for (const chunk of chunks([...names].sort(compareBytes), BULK_CHUNK)) {
    const rows = await trx
      .selectFrom('resources')
      .selectAll()
      .where('type', '=', 'Mesh')
      .where('mesh', '=', '')
      .where('name', '=', sql<string>`ANY(${chunk}::text[])`)
      .orderBy('name')
      .forKeyShare()
      .execute();
    for (const row of rows) out.push(toStored(row));
  }
  return out;
}

/** Inserts rows that were absent; a key created concurrently meanwhile is skipped (not returned). */
async function insertRows(trx: Trx, items: readonly Versioned<Resource>[]): Promise<Row[]> {
  const { rows } = await sql<Row>`
    INSERT INTO resources (type, mesh, name, spec, labels, version, creation_time, modification_time)
    SELECT x.type, x.mesh, x.name, x.spec::jsonb, x.labels::jsonb, x.version::bigint, now(), now()
    FROM unnest(${columns(items)}) AS x(type, mesh, name, spec, labels, version)
    ON CONFLICT (type, mesh, name) DO NOTHING
    RETURNING *`.execute(trx);
  return rows;
}

/** Updates rows this transaction holds locked; the creation time stays. */
async function updateRows(trx: Trx, items: readonly Versioned<Resource>[]): Promise<Row[]> {
  const { rows } = await sql<Row>`
    UPDATE resources AS r
    SET spec = x.spec::jsonb, labels = x.labels::jsonb, version = x.version::bigint, modification_time = now()
    FROM unnest(${columns(items)}) AS x(type, mesh, name, spec, labels, version)
    WHERE r.type = x.type AND r.mesh = x.mesh AND r.name = x.name
    RETURNING r.*`.execute(trx);
  return rows;
}

async function deleteRows(trx: Trx, items: readonly Versioned<StoredResource>[]): Promise<number> {
  const keys = items.map((i) => i.item);
  const result = await sql`
    DELETE FROM resources AS r
    USING unnest(${keys.map((k) => k.type)}::text[], ${keys.map((k) => k.mesh ?? '')}::text[], ${keys.map((k) => k.name)}::text[]) AS x(type, mesh, name)
    WHERE r.type = x.type AND r.mesh = x.mesh AND r.name = x.name`.execute(trx);
  return Number(result.numAffectedRows ?? 0n);
}

/** The six array parameters of a multi-row write: key, spec and labels as JSON text (as a single put sends them), version. */
function columns(items: readonly Versioned<Resource>[]) {
  const text = (values: readonly string[]) => sql`${values}::text[]`;
  return sql.join([
    text(items.map((i) => i.item.type)),
    text(items.map((i) => i.item.mesh ?? '')),
    text(items.map((i) => i.item.name)),
    text(items.map((i) => JSON.stringify(i.item.spec))),
    text(items.map((i) => JSON.stringify(i.item.labels))),
    text(items.map((i) => i.version)),
  ]);
}

/** Items in key order (the order rows are locked in), in chunks of BULK_CHUNK. */
function keyChunks<T extends ResourceKey>(items: readonly Versioned<T>[]): Versioned<T>[][] {
  return chunks([...items].sort((a, b) => compareKeys(a.item, b.item)), BULK_CHUNK);
}

function chunks<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

function distinctKeys(ops: readonly WriteOp[]): boolean {
  const seen = new Set<string>();
  for (const op of ops) {
    const k = tableKey(op.op === 'put' ? op.resource : op.key);
    if (seen.has(k)) return false;
    seen.add(k);
  }
  return true;
}

/** A key as the table identifies it: global-scoped rows have mesh ''. */
function tableKey(k: ResourceKey): string {
  return rowKey(k.type, k.mesh ?? '', k.name);
}

function rowKey(type: string, mesh: string, name: string): string {
  return `${type}\u0000${mesh}\u0000${name}`;
}

/** The table's key order: (type, mesh, name), each compared as bytes like COLLATE "C". */
function compareKeys(a: ResourceKey, b: ResourceKey): number {
  return compareBytes(a.type, b.type) || compareBytes(a.mesh ?? '', b.mesh ?? '') || compareBytes(a.name, b.name);
}

/**
 * UTF-8 byte order, which is code point order. UTF-16 code units agree with it except between a
 * surrogate (a code point above U+FFFF) and a unit in U+E000..U+FFFF, so those two ranges swap places.
 */
function compareBytes(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x !== y) return codeUnitRank(x) - codeUnitRank(y);
  }
  return a.length - b.length;
}

function codeUnitRank(u: number): number {
  if (u >= 0xe000) return u - 0x800;
  if (u >= 0xd800) return u + 0x2000;
  return u;
}

async function put(trx: Trx, op: PutOp): Promise<{ current: StoredResource | undefined; row: Row }> {
  const r = op.resource;
  const mesh = r.mesh ?? '';
  const spec = JSON.stringify(r.spec);
  const labels = JSON.stringify(r.labels);
  // Two rounds at most in practice: a create that loses to a concurrent create of the same key finds
  // the winner's row on the second round and is then judged by its expectedVersion like any update.
  for (let round = 0; round < 5; round++) {
    const current = await lockRow(trx, r);
    checkVersion(r, current, op.expectedVersion);
    if (r.mesh !== undefined) {
      const m = await trx
        .selectFrom('resources')
        .select('name')
        .where('type', '=', 'Mesh')
        .where('mesh', '=', '')
        .where('name', '=', r.mesh)
        .forKeyShare()
        .executeTakeFirst();
      if (!m) throw new MeshNotFoundError(r.mesh);
    }
    if (current) {
      const row = await trx
        .updateTable('resources')
        .set({ spec, labels, version: NEXT_VERSION, modification_time: sql<Date>`now()` })
        .where('type', '=', r.type)
        .where('mesh', '=', mesh)
        .where('name', '=', r.name)
        .returningAll()
        .executeTakeFirstOrThrow();
      return { current, row };
    }
    // DO NOTHING waits for a concurrent insert of the key to finish instead of failing the
    // transaction with a unique violation; no row back means that insert committed.
    const row = await trx
      .insertInto('resources')
      .values({ type: r.type, mesh, name: r.name, spec, labels, version: NEXT_VERSION, creation_time: sql<Date>`now()`, modification_time: sql<Date>`now()` })
      .onConflict((oc) => oc.columns(['type', 'mesh', 'name']).doNothing())
      .returningAll()
      .executeTakeFirst();
    if (row) return { current: undefined, row };
  }
  throw new VersionConflictError(`${r.type} "${r.name}" is being written concurrently: retry`);
}

async function lockRow(trx: Trx, key: ResourceKey): Promise<StoredResource | undefined> {
  const row = await trx
    .selectFrom('resources')
    .selectAll()
    .where('type', '=', key.type)
    .where('mesh', '=', key.mesh ?? '')
    .where('name', '=', key.name)
    .forUpdate()
    .executeTakeFirst();
  return row ? toStored(row) : undefined;
}

async function nextVersion(trx: Trx): Promise<string> {
  const { rows } = await sql<{ v: string }>`SELECT ${NEXT_VERSION} AS v`.execute(trx);
  return rows[0]!.v;
}

function toStored(row: Row): StoredResource {
  return {
    type: row.type,
    name: row.name,
    ...(row.mesh !== '' ? { mesh: row.mesh } : {}),
    labels: row.labels,
    spec: row.spec,
    version: row.version,
    creationTime: row.creation_time.toISOString(),
    modificationTime: row.modification_time.toISOString(),
  };
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** `host:port` for messages, and a scrubber that removes the password should a cause ever echo it. */
function describeTarget(url: string): { where: string; redact: (s: string) => string } {
  let host = 'localhost';
  let port = '5432';
  let password = '';
  try {
    const u = new URL(url);
    host = decodeURIComponent(u.hostname) || u.searchParams.get('host') || host;
    port = u.port || u.searchParams.get('port') || port;
    password = decodeURIComponent(u.password);
  } catch {
    // Not a URL (e.g. a key=value string): describe it by defaults, never by echoing it.
  }
  const redact = (s: string) => (password.length > 0 ? s.split(password).join('***') : s);
  return { where: `${host}:${port}`, redact };
}

function pgCode(err: unknown): string | undefined {
  if (typeof err === 'object' && err !== null && 'code' in err && typeof err.code === 'string') return err.code;
  return undefined;
}

const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'ECONNABORTED']);

/**
 * Whether an error means "the database cannot serve us now" (503) rather than a bug or a bad query:
 * network failures, pool timeouts, connections ended by the server, shutdowns, statement timeouts.
 */
function isUnavailable(err: unknown): boolean {
  if (err instanceof AggregateError) return err.errors.some(isUnavailable);
  const code = pgCode(err);
  if (code !== undefined) {
    if (NETWORK_CODES.has(code)) return true;
    // 08: connection exception; 53: insufficient resources (too many connections…); 57P0x: admin
    // shutdown, crash shutdown, cannot connect now; 57014: statement timeout; 55P03: lock timeout.
    if (/^(08|53)/.test(code) || /^57P0/.test(code) || code === '57014' || code === '55P03') return true;
  }
  const message = err instanceof Error ? err.message : '';
  return /connection terminated|timeout exceeded when trying to connect|not queryable|connection (?:is )?closed|pool after calling end|Query read timeout/i.test(message);
}

/** A cause in one line: `connect ECONNREFUSED` rather than a stack or an aggregate of attempts. */
function causeOf(err: unknown): string {
  if (err instanceof AggregateError && err.errors.length > 0) return causeOf(err.errors[0]);
  if (err instanceof Error) {
    const code = pgCode(err);
    const syscall = 'syscall' in err && typeof err.syscall === 'string' ? err.syscall : undefined;
    if (syscall !== undefined && code !== undefined) return `${syscall} ${code}`;
    if (err.message) return oneLine(err);
    return code ?? err.name;
  }
  return String(err);
}

function oneLine(err: unknown): string {
  const m = err instanceof Error ? err.message : String(err);
  return m.replace(/\s*\n\s*/g, ' ').trim();
}
