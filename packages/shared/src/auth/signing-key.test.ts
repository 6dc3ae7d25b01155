// Global's signing key on Postgres: the same key after a restart, and one key when replicas start together.
//
// Postgres: MESHFED_TEST_POSTGRES_URL, default postgres://postgres@127.0.0.1:5432/test. Each test gets its
// own schema and drops it, so tests run in parallel and leave nothing behind.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, describe, test, type TestContext } from 'node:test';
import pg from 'pg';
import { PostgresStore } from '../store/postgres/postgres-store.js';
import { loadOrCreateSigningKey } from './signing-key.js';
import { ZoneTokens } from './zone-token.js';

const PG_URL = process.env.MESHFED_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const TIMEOUT_MS = 30_000;

const admin = new pg.Pool({ connectionString: PG_URL, max: 2, connectionTimeoutMillis: 5000 });
admin.on('error', () => {});
after(() => admin.end());

async function bounded<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

/** A fresh schema dropped when the test ends, after the stores it opened are closed. */
function schemaFor(t: TestContext): { schema: string; open(): Promise<PostgresStore> } {
  const schema = `t_${randomBytes(6).toString('hex')}`;
  const stores: PostgresStore[] = [];
  t.after(async () => {
    for (const s of stores) await bounded(s.close(), 10_000, 'closing a store').catch(() => {});
    await bounded(admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`), 10_000, 'dropping the schema');
  });
  return {
    schema,
    async open() {
      const s = await PostgresStore.open({ url: PG_URL, schema, maxConnections: 4, connectTimeoutMs: 5000 });
      stores.push(s);
      return s;
    },
  };
}

describe('zone token signing key on Postgres', { concurrency: 2, timeout: 2 * TIMEOUT_MS }, () => {
  test('survives a restart: tokens issued before still verify, with the same key id', { timeout: TIMEOUT_MS }, async (t) => {
    const db = schemaFor(t);
    const before = await db.open();
    const issuer = await ZoneTokens.open(before);
    const token = await issuer.issue({ zone: 'zone-1', scopes: ['zone'], validForMs: 3_600_000 });
    await before.close();

    const afterRestart = await db.open();
    const reopened = await ZoneTokens.open(afterRestart);
    assert.equal(reopened.kid, issuer.kid);
    assert.deepEqual(reopened.publicJwk(), issuer.publicJwk());
    assert.equal((await reopened.verify(token, { zone: 'zone-1', scope: 'zone' })).zone, 'zone-1');
    assert.equal((await afterRestart.list('GlobalSecret')).total, 1);
  });

  test('replicas starting at once on one database end with one key', { timeout: TIMEOUT_MS }, async (t) => {
    const db = schemaFor(t);
    // Opened one after the other: the first runs the migrations.
    const a = await db.open();
    const b = await db.open();
    const keys = await Promise.all(Array.from({ length: 8 }, (_, i) => loadOrCreateSigningKey(i % 2 === 0 ? a : b)));
    assert.equal(new Set(keys.map((k) => k.kid)).size, 1, `one key id, got ${[...new Set(keys.map((k) => k.kid))].join(', ')}`);
    assert.equal((await a.list('GlobalSecret')).total, 1);

    const fromA = await ZoneTokens.open(a);
    const fromB = await ZoneTokens.open(b);
    const token = await fromA.issue({ zone: 'zone-1', scopes: ['zone'], validForMs: 3_600_000 });
    assert.equal((await fromB.verify(token, { zone: 'zone-1', scope: 'zone' })).zone, 'zone-1', 'a token of one replica verifies on the other');
  });
});
