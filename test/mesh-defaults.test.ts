import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { eventually, FAST_GLOBAL, getJson, put, startZone, tmp } from './support/federation.js';
import { createTestDatabase } from './support/postgres.js';
import { type RunningCp, startCp } from './support/processes.js';
import { cleanups } from './support/cleanup.js';

const DEFAULTS = [
  ['meshcircuitbreakers', 'mesh-circuit-breaker-all'],
  ['meshtimeouts', 'mesh-gateways-timeout-all'],
  ['meshretries', 'mesh-retry-all'],
  ['meshtimeouts', 'mesh-timeout-all'],
] as const;

/** The default policies of `mesh` a CP serves, by name, with their spec and labels. */
async function defaults(cp: RunningCp, mesh: string): Promise<Map<string, { spec: unknown; labels: Record<string, string> }>> {
  const out = new Map<string, { spec: unknown; labels: Record<string, string> }>();
  for (const plural of ['meshtimeouts', 'meshcircuitbreakers', 'meshretries']) {
    const { status, body } = await getJson(`${cp.url}/meshes/${mesh}/${plural}`);
    if (status !== 200) continue;
    for (const p of body.items as { name: string; spec: unknown; labels: Record<string, string> }[]) out.set(p.name, { spec: p.spec, labels: p.labels });
  }
  return out;
}

describe('default policies: made once on global for a new mesh, and in every zone', () => {
  const t = tmp();
  cleanups.push(t.cleanup);

  test('a Mesh applied on global gets its MeshTimeouts, MeshCircuitBreaker and MeshRetry, on global and in the zone; skip and delete follow', async () => {
    const db = await createTestDatabase();
    const global = await startCp('global', [...FAST_GLOBAL, '--store', 'postgres', '--postgres-url', db.url]);
    const zone = await startZone(global, 'zone-1', t.dir);
    // The default mesh made at start has them already.
    assert.deepEqual([...(await defaults(global, 'default')).keys()].sort(), DEFAULTS.map(([, p]) => `${p}-default`).sort());

    assert.equal((await put(`${global.url}/meshes/bare`, { type: 'Mesh', name: 'bare', skipCreatingInitialPolicies: ['*'] })).status, 201);
    assert.equal((await put(`${global.url}/meshes/payments`, { type: 'Mesh', name: 'payments' })).status, 201);
    const expected = DEFAULTS.map(([, p]) => `${p}-payments`).sort();
    const onGlobal = await eventually('defaults of payments on global', async () => {
      const d = await defaults(global, 'payments');
      return d.size === 4 ? d : undefined;
    });
    assert.deepEqual([...onGlobal.keys()].sort(), expected);
    assert.deepEqual(onGlobal.get('mesh-retry-all-payments')?.labels, {});
    for (const [plural, prefix] of DEFAULTS) {
      assert.equal((await getJson(`${global.url}/meshes/payments/${plural}/${prefix}-payments`)).status, 200);
    }
    const inZone = await eventually('defaults of payments in zone-1', async () => {
      const d = await defaults(zone, 'payments');
      return d.size === 4 ? d : undefined;
    });
    for (const name of expected) {
      assert.deepEqual(inZone.get(name)?.spec, onGlobal.get(name)?.spec, `${name}: same content in the zone`);
      assert.equal(inZone.get(name)?.labels['kuma.io/origin'], 'global');
    }
    assert.deepEqual(inZone.get('mesh-timeout-all-payments')?.spec, {
      targetRef: { kind: 'Mesh', proxyTypes: ['Sidecar'] },
      from: [{ targetRef: { kind: 'Mesh' }, default: { connectionTimeout: '10s', idleTimeout: '2h', http: { requestTimeout: '0s', streamIdleTimeout: '1h', maxStreamDuration: '0s' } } }],
      to: [{ targetRef: { kind: 'Mesh' }, default: { connectionTimeout: '5s', idleTimeout: '1h', http: { requestTimeout: '15s', streamIdleTimeout: '30m' } } }],
    });
    assert.equal((await defaults(global, 'bare')).size, 0, 'skipCreatingInitialPolicies: ["*"]');

    // Deleted by the operator: stays deleted, also after the mesh changes.
    assert.equal((await fetch(`${global.url}/meshes/payments/meshretries/mesh-retry-all-payments`, { method: 'DELETE' })).status, 200);
    assert.equal((await put(`${global.url}/meshes/payments`, { type: 'Mesh', name: 'payments', routing: { localityAwareLoadBalancing: true } })).status, 200);
    await eventually('retry gone from zone-1', async () => !(await defaults(zone, 'payments')).has('mesh-retry-all-payments'));
    assert.deepEqual([...(await defaults(global, 'payments')).keys()].sort(), expected.filter((n) => n !== 'mesh-retry-all-payments'));

    // The mesh takes them along, on global and in the zone.
    assert.equal((await fetch(`${global.url}/meshes/payments`, { method: 'DELETE' })).status, 200);
    assert.equal((await defaults(global, 'payments')).size, 0);
    await eventually('payments gone from zone-1', async () => (await getJson(`${zone.url}/meshes/payments`)).status === 404);
    assert.equal((await defaults(zone, 'payments')).size, 0);
  });
});

describe('default policies on a standalone zone', () => {
  test('where meshes are authored without global, a new mesh gets them there', async () => {
    const zone = await startCp('zone', ['--zone', 'solo']);
    try {
      assert.deepEqual([...(await defaults(zone, 'default')).keys()].sort(), DEFAULTS.map(([, p]) => `${p}-default`).sort());
      assert.equal((await put(`${zone.url}/meshes/no-retry`, { type: 'Mesh', name: 'no-retry', skipCreatingInitialPolicies: ['MeshRetry'] })).status, 201);
      const d = await eventually('defaults of no-retry', async () => {
        const got = await defaults(zone, 'no-retry');
        return got.size === 3 ? got : undefined;
      });
      assert.deepEqual([...d.keys()].sort(), ['mesh-circuit-breaker-all-no-retry', 'mesh-gateways-timeout-all-no-retry', 'mesh-timeout-all-no-retry']);
    } finally {
      await zone.stop();
    }
  });
});
