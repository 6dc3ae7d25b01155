import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import pg from 'pg';
import { StoreUnavailableError } from '../errors/api-error.js';
import { InProcessEventBus } from '../events/in-process-event-bus.js';
import type { Resource } from '../resources/resource.js';
import { parseResource } from '../resources/validate.js';
import { MemoryStore } from '../store/memory-store.js';
import { PostgresStore } from '../store/postgres/postgres-store.js';
import type { ResourceStore } from '../store/resource-store.js';
import { createLogger } from '../telemetry/logger.js';
import { defaultPoliciesFor } from './default-policies.js';
import { MeshDefaultsManager, type MeshDefaultsOutcome } from './mesh-defaults-manager.js';

const PG_URL = process.env.MESHFED_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const POLICY_TYPES = ['MeshTimeout', 'MeshCircuitBreaker', 'MeshRetry'] as const;
const names = (mesh: string) => [
  `mesh-circuit-breaker-all-${mesh}`, `mesh-gateways-timeout-all-${mesh}`, `mesh-retry-all-${mesh}`, `mesh-timeout-all-${mesh}`,
];

function logger() {
  const lines: Record<string, unknown>[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString().split('\n')) if (l.trim()) lines.push(JSON.parse(l) as Record<string, unknown>);
      cb();
    },
  });
  return { log: createLogger({ component: 'test', level: 'debug', destination }), lines };
}

function setup(store?: ResourceStore, shared?: InProcessEventBus) {
  const bus = shared ?? new InProcessEventBus();
  const s = store ?? new MemoryStore(bus);
  const { log, lines } = logger();
  const managers: MeshDefaultsManager[] = [];
  const manager = (o: { retryBaseMs?: number } = {}) => {
    const m = new MeshDefaultsManager({ store: s, bus, log, ...o });
    managers.push(m);
    return m;
  };
  const putMesh = (name: string, spec: Record<string, unknown> = {}) =>
    s.commit([{ op: 'put', resource: parseResource({ type: 'Mesh', name, ...spec }) }]);
  const policies = async (mesh: string) => {
    const all = await Promise.all(POLICY_TYPES.map(async (t) => (await s.list(t, { mesh })).items));
    return all.flat().sort((a, b) => a.name.localeCompare(b.name));
  };
  const idle = () => Promise.all(managers.map((m) => m.idle()));
  const stop = () => Promise.all(managers.map((m) => m.stop()));
  return { bus, store: s, log, lines, manager, putMesh, policies, idle, stop };
}

test('a new mesh gets the four default policies of Kuma 2.x, with their content, valid for their schemas', async () => {
  const t = setup();
  t.manager().start();
  await t.putMesh('payments');
  await t.idle();
  const got = await t.policies('payments');
  assert.deepEqual(got.map((p) => `${p.type}/${p.name}`), [
    'MeshCircuitBreaker/mesh-circuit-breaker-all-payments',
    'MeshTimeout/mesh-gateways-timeout-all-payments',
    'MeshRetry/mesh-retry-all-payments',
    'MeshTimeout/mesh-timeout-all-payments',
  ]);
  const byName = new Map(got.map((p) => [p.name, p]));
  const mesh = { kind: 'Mesh' };
  assert.deepEqual(byName.get('mesh-timeout-all-payments')?.spec, {
    spec: {
      targetRef: { kind: 'Mesh', proxyTypes: ['Sidecar'] },
      from: [{ targetRef: mesh, default: { connectionTimeout: '10s', idleTimeout: '2h', http: { requestTimeout: '0s', streamIdleTimeout: '1h', maxStreamDuration: '0s' } } }],
      to: [{ targetRef: mesh, default: { connectionTimeout: '5s', idleTimeout: '1h', http: { requestTimeout: '15s', streamIdleTimeout: '30m' } } }],
    },
  });
  assert.deepEqual(byName.get('mesh-gateways-timeout-all-payments')?.spec, {
    spec: {
      targetRef: { kind: 'Mesh', proxyTypes: ['Gateway'] },
      from: [{ targetRef: mesh, default: { idleTimeout: '5m', http: { streamIdleTimeout: '5s', requestHeadersTimeout: '500ms' } } }],
      to: [{ targetRef: mesh, default: { idleTimeout: '1h', http: { streamIdleTimeout: '5s' } } }],
    },
  });
  assert.deepEqual(byName.get('mesh-circuit-breaker-all-payments')?.spec, {
    spec: { targetRef: mesh, to: [{ targetRef: mesh, default: { connectionLimits: { maxConnections: 1024, maxPendingRequests: 1024, maxRequests: 1024, maxRetries: 3 } } }] },
  });
  const backOff = { baseInterval: '25ms', maxInterval: '250ms' };
  assert.deepEqual(byName.get('mesh-retry-all-payments')?.spec, {
    spec: {
      targetRef: mesh,
      to: [{ targetRef: mesh, default: { tcp: { maxConnectAttempt: 5 }, http: { numRetries: 5, perTryTimeout: '16s', backOff }, grpc: { numRetries: 5, perTryTimeout: '16s', backOff } } }],
    },
  });
  for (const p of got) {
    assert.equal(p.mesh, 'payments');
    assert.deepEqual(p.labels, {}, 'no labels, as Kuma on Universal');
    // What is stored is what the API would store for the same document.
    const again = parseResource({ type: p.type, name: p.name, mesh: p.mesh, ...p.spec });
    assert.deepEqual(again.spec, p.spec, `${p.name} is valid and in its parsed form`);
  }
  assert.ok(t.lines.some((l) => l['msg'] === 'mesh default policies' && (l['created'] as string[]).length === 4));
  await t.stop();
});

test('skipCreatingInitialPolicies: by type (both timeouts for MeshTimeout), "*" for all, unknown types ignored', async () => {
  const t = setup();
  t.manager().start();
  await t.putMesh('no-retry', { skipCreatingInitialPolicies: ['MeshRetry'] });
  await t.putMesh('no-timeouts', { skipCreatingInitialPolicies: ['MeshTimeout', 'MeshCircuitBreaker'] });
  await t.putMesh('bare', { skipCreatingInitialPolicies: ['*'] });
  await t.putMesh('legacy', { skipCreatingInitialPolicies: ['TrafficPermission'] });
  await t.putMesh('empty', { skipCreatingInitialPolicies: [] });
  await t.idle();
  assert.deepEqual((await t.policies('no-retry')).map((p) => p.name), ['mesh-circuit-breaker-all-no-retry', 'mesh-gateways-timeout-all-no-retry', 'mesh-timeout-all-no-retry']);
  assert.deepEqual((await t.policies('no-timeouts')).map((p) => p.name), ['mesh-retry-all-no-timeouts']);
  assert.deepEqual(await t.policies('bare'), []);
  assert.deepEqual((await t.policies('legacy')).map((p) => p.name), names('legacy'));
  assert.deepEqual((await t.policies('empty')).map((p) => p.name), names('empty'));
  assert.deepEqual(defaultPoliciesFor('x', ['*', 'MeshRetry']).skipped.length, 4);
  await t.stop();
});

test('the skip list is validated with field paths', () => {
  const bad = (skip: unknown) => {
    try {
      parseResource({ type: 'Mesh', name: 'm', skipCreatingInitialPolicies: skip });
      return undefined;
    } catch (err) {
      return (err as { causes?: { field: string; message: string }[] }).causes;
    }
  };
  assert.deepEqual(bad(['MeshRetry', '']), [{ field: 'skipCreatingInitialPolicies[1]', message: 'must not be empty: a policy type such as MeshRetry, or "*"' }]);
  assert.deepEqual(bad([7])?.map((c) => c.field), ['skipCreatingInitialPolicies[0]']);
  assert.deepEqual(bad('*')?.map((c) => c.field), ['skipCreatingInitialPolicies']);
  assert.equal(bad(['*']), undefined);
});

test('created once: not recreated after an operator deletes one, nor on mesh updates or a restart', async () => {
  const t = setup();
  const first = t.manager();
  first.start();
  await t.putMesh('m');
  await t.idle();
  await t.store.commit([{ op: 'delete', key: { type: 'MeshRetry', mesh: 'm', name: 'mesh-retry-all-m' } }]);
  await t.putMesh('m', { routing: { localityAwareLoadBalancing: true } });
  await t.idle();
  // A replica starting later does not scan existing meshes either.
  t.manager().start();
  await t.idle();
  assert.deepEqual((await t.policies('m')).map((p) => p.name), ['mesh-circuit-breaker-all-m', 'mesh-gateways-timeout-all-m', 'mesh-timeout-all-m']);
  // A mesh deleted and created again is a new mesh: it gets them again.
  await t.store.commit([{ op: 'delete', key: { type: 'Mesh', name: 'm' } }]);
  assert.deepEqual(await t.policies('m'), [], 'the mesh took its policies along');
  await t.putMesh('m');
  await t.idle();
  assert.deepEqual((await t.policies('m')).map((p) => p.name), names('m'));
  await t.stop();
});

test('one that exists is not overwritten; the others are still created', async () => {
  const t = setup();
  t.manager().start();
  const mine: Resource = parseResource({
    type: 'MeshRetry', mesh: 'm', name: 'mesh-retry-all-m',
    spec: { targetRef: { kind: 'Mesh' }, to: [{ targetRef: { kind: 'Mesh' }, default: { tcp: { maxConnectAttempt: 1 } } }] },
  });
  // The operator applies the mesh and their own retry default in one transaction.
  await t.store.commit([{ op: 'put', resource: parseResource({ type: 'Mesh', name: 'm' }) }, { op: 'put', resource: mine }]);
  const before = await t.store.get({ type: 'MeshRetry', mesh: 'm', name: 'mesh-retry-all-m' });
  await t.idle();
  const after = await t.store.get({ type: 'MeshRetry', mesh: 'm', name: 'mesh-retry-all-m' });
  assert.equal(after?.version, before?.version);
  assert.deepEqual(after?.spec, mine.spec);
  assert.deepEqual((await t.policies('m')).map((p) => p.name), names('m'));
  const manager = new MeshDefaultsManager({ store: t.store, bus: t.bus, log: t.log });
  const again = await manager.ensure('m');
  assert.deepEqual(again, { status: 'done', created: [], existing: names('m').sort(orderOfCreation), skipped: [] });
  await t.stop();
});

/** The order defaults are written in (as Kuma lists them): gateway timeout, timeout, circuit breaker, retry. */
function orderOfCreation(a: string, b: string): number {
  const rank = (n: string) => ['mesh-gateways-timeout-all', 'mesh-timeout-all', 'mesh-circuit-breaker-all', 'mesh-retry-all'].findIndex((p) => n.startsWith(`${p}-`));
  return rank(a) - rank(b);
}

test('a mesh gone before its turn: nothing written, no error', async () => {
  const t = setup();
  const m = t.manager();
  assert.deepEqual(await m.ensure('ghost'), { status: 'no-mesh' });
  await t.stop();
});

test('two managers racing on one memory store: each default written once, by exactly one of them', async () => {
  const t = setup();
  const a = t.manager();
  const b = t.manager();
  a.start();
  b.start();
  await t.putMesh('m');
  await t.idle();
  const all = await t.policies('m');
  assert.deepEqual(all.map((p) => p.name), names('m'));
  const created = t.lines.filter((l) => l['msg'] === 'mesh default policies').flatMap((l) => l['created'] as string[]);
  assert.deepEqual(created.sort(), names('m'), 'each created once in all');
  await t.stop();
});

test('two replicas racing on one Postgres store: each default written once, by exactly one of them', async (ctx) => {
  const schema = `t_${randomBytes(6).toString('hex')}`;
  const bus = new InProcessEventBus();
  let a: PostgresStore;
  let b: PostgresStore;
  try {
    a = await PostgresStore.open({ url: PG_URL, schema, bus, maxConnections: 4 });
    b = await PostgresStore.open({ url: PG_URL, schema, maxConnections: 4 });
  } catch (err) {
    ctx.skip(`Postgres unavailable: ${(err as Error).message}`);
    return;
  }
  const admin = new pg.Pool({ connectionString: PG_URL, max: 1 });
  try {
    const { log } = logger();
    const ma = new MeshDefaultsManager({ store: a, bus, log });
    const mb = new MeshDefaultsManager({ store: b, bus, log });
    for (let round = 0; round < 5; round++) {
      const mesh = `race-${round}`;
      await a.commit([{ op: 'put', resource: parseResource({ type: 'Mesh', name: mesh }) }]);
      const outcomes = await Promise.all([ma.ensure(mesh), mb.ensure(mesh)]) as Extract<MeshDefaultsOutcome, { status: 'done' }>[];
      const created = outcomes.flatMap((o) => o.created).sort();
      assert.deepEqual(created, names(mesh), `round ${round}: each created by exactly one replica`);
      for (const o of outcomes) assert.deepEqual([...o.created, ...o.existing].sort(), names(mesh));
      const stored = (await Promise.all(POLICY_TYPES.map(async (t) => (await b.list(t, { mesh })).items))).flat();
      assert.equal(stored.length, 4);
    }
  } finally {
    await a.close();
    await b.close();
    await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await admin.end();
  }
});

test('a store failure is retried with backoff', async () => {
  const bus = new InProcessEventBus();
  const inner = new MemoryStore(bus);
  let failing = 2;
  const store: ResourceStore = {
    backend: 'memory', get: (k) => inner.get(k), list: (ty, o) => inner.list(ty, o), healthy: () => inner.healthy(), close: () => inner.close(),
    commit: async (ops) => {
      if (ops.some((o) => o.op === 'put' && o.resource.type !== 'Mesh') && failing > 0) {
        failing--;
        throw new StoreUnavailableError('test: store down');
      }
      return inner.commit(ops);
    },
  };
  const t = setup(store, bus);
  t.manager({ retryBaseMs: 5 }).start();
  await t.putMesh('m');
  const deadline = Date.now() + 3000;
  while ((await t.policies('m')).length < 4) {
    assert.ok(Date.now() < deadline, 'defaults after retries');
    await new Promise((r) => setTimeout(r, 5));
  }
  assert.equal(t.lines.filter((l) => l['msg'] === 'mesh default policies: check failed').length, 2);
  await t.stop();
});

test('stopped: later meshes get nothing', async () => {
  const t = setup();
  const m = t.manager();
  m.start();
  await m.stop();
  await t.putMesh('after');
  await new Promise((r) => setTimeout(r, 20));
  assert.deepEqual(await t.policies('after'), []);
});
