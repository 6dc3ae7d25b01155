import { type Kysely, sql } from 'kysely';

/**
 * The schema, as an append-only list: a migration is never edited once released, a change is a new
 * entry. Each runs once per schema, inside the transaction that records it in `meshfed_migrations`.
 */
export interface Migration {
  readonly id: number;
  readonly name: string;
  readonly statements: readonly string[];
}

export const MIGRATIONS: readonly Migration[] = [
  {
    id: 1,
    name: 'resources',
    statements: [
      // One sequence for the whole store: versions are unique across types and only ever increase,
      // like the memory store's revision counter.
      `CREATE SEQUENCE meshfed_version_seq AS bigint`,
      // COLLATE "C" compares bytes, so list order (and paging) is the same as the memory store's and
      // does not depend on the database's locale. mesh is '' for global-scoped types, so the key has
      // no NULLs and one primary key covers both scopes.
      `CREATE TABLE resources (
        type              text COLLATE "C" NOT NULL,
        mesh              text COLLATE "C" NOT NULL DEFAULT '',
        name              text COLLATE "C" NOT NULL,
        spec              jsonb NOT NULL,
        labels            jsonb NOT NULL DEFAULT '{}'::jsonb,
        version           bigint NOT NULL,
        creation_time     timestamptz NOT NULL,
        modification_time timestamptz NOT NULL,
        PRIMARY KEY (type, mesh, name)
      )`,
      // Deleting a Mesh removes every row of that mesh, whatever its type.
      `CREATE INDEX resources_mesh_idx ON resources (mesh) WHERE mesh <> ''`,
    ],
  },
];

/** Both ints of the advisory lock key: a fixed namespace ('mshf') and a hash of the schema name. */
const LOCK_NAMESPACE = 0x6d736866;

/**
 * Brings the schema up to date. Runs in one transaction holding a transaction-scoped advisory lock, so
 * two processes starting together apply each migration once: the second waits, then finds it recorded.
 * Returns the ids applied by this call.
 */
export async function migrate<DB>(db: Kysely<DB>, schema: string | undefined): Promise<number[]> {
  return db.transaction().execute(async (trx) => {
    await sql`SELECT pg_advisory_xact_lock(${LOCK_NAMESPACE}::int4, hashtext(${schema ?? ''}))`.execute(trx);
    if (schema !== undefined) await sql`CREATE SCHEMA IF NOT EXISTS ${sql.id(schema)}`.execute(trx);
    await sql`CREATE TABLE IF NOT EXISTS meshfed_migrations (
      id         integer PRIMARY KEY,
      name       text NOT NULL,
      applied_at timestamptz NOT NULL DEFAULT now()
    )`.execute(trx);
    const done = await sql<{ id: number }>`SELECT id FROM meshfed_migrations`.execute(trx);
    const applied = new Set(done.rows.map((r) => r.id));
    const ran: number[] = [];
    for (const m of MIGRATIONS) {
      if (applied.has(m.id)) continue;
      for (const statement of m.statements) await sql.raw(statement).execute(trx);
      await sql`INSERT INTO meshfed_migrations (id, name) VALUES (${m.id}, ${m.name})`.execute(trx);
      ran.push(m.id);
    }
    return ran;
  });
}
