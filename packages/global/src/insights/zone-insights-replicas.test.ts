// Two global replicas write the same zone's insight at once, on one Postgres (each with its own store,
// as two processes would), and on one MemoryStore. Neither may lose the other's subscription.
//
// Postgres: MESHFED_TEST_POSTGRES_URL, default postgres://postgres@127.0.0.1:5432/test; the test makes
// its own schema and drops it at the end.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test, type TestContext } from 'node:test';
import { MemoryStore, PostgresStore, type ResourceStore, ZoneInsightSpec } from '@meshfed/shared';
import pg from 'pg';
import { capturingLogger, countingStore } from './testing.js';
import { ZoneInsights } from './zone-insights.js';

const PG_URL = process.env.MESHFED_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const ROUNDS = 25;

async function dropSchema(schema: string): Promise<void> {
  const admin = new pg.Pool({ connectionString: PG_URL, max: 1, connectionTimeoutMillis: 5000 });
  admin.on('error', () => {});
  try {
    await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  } finally {
    await admin.end();
  }
}

async function postgresStores(t: TestContext): Promise<[ResourceStore, ResourceStore]> {
  const schema = `t_${randomBytes(6).toString('hex')}`;
  t.after(() => dropSchema(schema)); // runs last: after hooks run in reverse order
  const a = await PostgresStore.open({ url: PG_URL, schema, maxConnections: 3, connectTimeoutMs: 5000, applicationName: 'meshfed-test-replica-a' });
  t.after(() => a.close());
  const b = await PostgresStore.open({ url: PG_URL, schema, maxConnections: 3, connectTimeoutMs: 5000, applicationName: 'meshfed-test-replica-b' });
  t.after(() => b.close());
  return [a, b];
}

async function twoReplicasKeepBothSubscriptions(t: TestContext, stores: [ResourceStore, ResourceStore]): Promise<void> {
  const counted = stores.map((s) => countingStore(s));
  const logs = counted.map(() => capturingLogger());
  const replicas = counted.map(({ store }, i) => {
    const zi = new ZoneInsights({ store, log: logs[i]!.log, instanceId: `global-${i}`, cpVersion: '1.0.0', healthCheckIntervalMs: 10_000, flushIntervalMs: 1 });
    zi.start();
    t.after(() => zi.stop());
    return zi;
  });
  // The same stream id on both replicas: subscriptions are told apart by replica too.
  const sessions = replicas.map((zi) => zi.connect('zone-1', { zoneCpVersion: '0.9.0', streamId: 'stream-1' }));

  // Both replicas flush the same resource concurrently, round after round: every flush is a
  // read-modify-write that races the other replica's.
  for (let round = 1; round <= ROUNDS; round++) {
    await Promise.all(replicas.map(async (zi, i) => {
      sessions[i]!.observer.acked('Mesh', 'global-to-zone', { nonce: `n${round}`, version: `v${round}`, latencyMs: 1 });
      await zi.flush();
    }));
    // Each flush, once it returned, is in the store: a lost race was retried inside it.
    const stored = await stores[0].get({ type: 'ZoneInsight', name: 'zone-1' });
    const acked = ZoneInsightSpec.parse(stored?.spec).subscriptions.map((s) => s.status.stat.Mesh?.['global-to-zone']?.acked);
    assert.deepEqual(acked, [round, round], `round ${round}: both replicas' updates are stored`);
  }

  const stored = await stores[0].get({ type: 'ZoneInsight', name: 'zone-1' });
  assert.ok(stored);
  const subs = ZoneInsightSpec.parse(stored.spec).subscriptions;
  assert.deepEqual(subs.map((s) => s.globalInstanceId).sort(), ['global-0', 'global-1'], 'both replicas kept their subscription');
  for (const s of subs) {
    assert.equal(s.status.stat.Mesh?.['global-to-zone']?.acked, ROUNDS, `${s.globalInstanceId} lost no update`);
    assert.equal(s.status.stat.Mesh?.['global-to-zone']?.lastAckedVersion, `v${ROUNDS}`);
  }
  const commits = counted.reduce((n, c) => n + c.insightCommits.length, 0);
  const conflicts = counted.reduce((n, c) => n + c.insightConflicts(), 0);
  assert.ok(conflicts > 0, 'the replicas did race (otherwise this test shows nothing)');
  assert.equal(commits - conflicts, 2 * ROUNDS, 'one successful write per flush (the connect coalesced into the first)');
  assert.deepEqual(logs.flatMap((l) => l.lines.filter((x) => x.level === 'warn')), [], 'no write failed for good');

  // Each replica ends its own stream; the other's entry stays as it was.
  sessions[0]!.disconnect('zone went away');
  await replicas[0]!.flush();
  const after = ZoneInsightSpec.parse((await stores[1].get({ type: 'ZoneInsight', name: 'zone-1' }))!.spec).subscriptions;
  const byReplica = new Map(after.map((s) => [s.globalInstanceId, s]));
  assert.equal(byReplica.get('global-0')?.disconnectReason, 'zone went away');
  assert.equal(byReplica.get('global-1')?.disconnectTime, undefined);
}

test('two replicas on one Postgres write the same zone insight concurrently and keep both subscriptions', { timeout: 60_000 }, async (t) => {
  await twoReplicasKeepBothSubscriptions(t, await postgresStores(t));
});

test('two replicas on one MemoryStore keep both subscriptions', { timeout: 30_000 }, async (t) => {
  const store = new MemoryStore();
  await twoReplicasKeepBothSubscriptions(t, [store, store]);
});
