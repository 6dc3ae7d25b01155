// Incremental recomputation equals a full rebuild: a reconciler that follows random changes by events
// (dataplanes added, moved, deleted; policies added, changed, deleted; mTLS turned on and off) holds,
// after each batch, exactly the snapshots a fresh reconciler computes from the same store.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createLogger, generateCa, InProcessEventBus, MemoryStore, type Resource, type ResourceStore, Telemetry } from '@meshfed/shared';
import { meshCaSecretNames } from '../mesh-ca/ca-secrets.js';
import { WorkloadCertificateCache } from '../mesh-ca/workload-certificate-cache.js';
import { SnapshotCache } from './snapshot-cache.js';
import { startXdsReconciler } from './xds-reconciler.js';

const global = { 'kuma.io/origin': 'global' };
const SERVICES = ['web', 'backend', 'db', 'cache', 'auth'];

/** A small deterministic PRNG (mulberry32): a failing seed can be replayed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function reconcilerOn(store: ResourceStore, bus: InProcessEventBus, certificates: WorkloadCertificateCache) {
  const cache = new SnapshotCache();
  const reconciler = startXdsReconciler({
    store, bus, cache, certificates, zone: 'zone-1', resyncIntervalMs: 0,
    log: createLogger({ component: 'test', level: 'silent' }), telemetry: new Telemetry({ service: 'test' }),
  });
  return { cache, reconciler };
}

function randomChange(rnd: () => number, step: number): { put?: Resource; del?: { type: Resource['type']; mesh?: string; name: string } } {
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(rnd() * xs.length)]!;
  const r = rnd();
  const service = pick(SERVICES);
  if (r < 0.45) {
    const i = Math.floor(rnd() * 12);
    if (rnd() < 0.2) return { del: { type: 'Dataplane', mesh: 'default', name: `dp-${i}` } };
    const callees = SERVICES.filter((s) => s !== service && rnd() < 0.4);
    return {
      put: {
        type: 'Dataplane', mesh: 'default', name: `dp-${i}`, labels: {},
        spec: {
          networking: {
            address: `10.0.${step % 250}.${i + 1}`,
            inbound: [{ port: 8080, tags: { 'kuma.io/service': service, version: pick(['v1', 'v2']) } }],
            outbound: callees.map((s, k) => ({ port: 10_000 + k, tags: { 'kuma.io/service': s } })),
          },
        },
      },
    };
  }
  if (r < 0.9) {
    const name = `policy-${Math.floor(rnd() * 6)}`;
    if (rnd() < 0.25) return { del: { type: rnd() < 0.5 ? 'MeshTimeout' : 'MeshTrafficPermission', mesh: 'default', name } };
    const top = rnd() < 0.3 ? { kind: 'Mesh' } : { kind: 'MeshService', name: service };
    if (rnd() < 0.5) {
      return {
        put: {
          type: 'MeshTrafficPermission', mesh: 'default', name, labels: global,
          spec: { spec: { targetRef: top, from: [{ targetRef: rnd() < 0.5 ? { kind: 'Mesh' } : { kind: 'MeshService', name: pick(SERVICES) }, default: { action: pick(['Allow', 'Deny', 'AllowWithShadowDeny']) } }] } },
        },
      };
    }
    return {
      put: {
        type: 'MeshTimeout', mesh: 'default', name, labels: global,
        spec: { spec: { targetRef: top, to: [{ targetRef: rnd() < 0.5 ? { kind: 'Mesh' } : { kind: 'MeshService', name: pick(SERVICES) }, default: { connectionTimeout: `${1 + Math.floor(rnd() * 9)}s`, idleTimeout: `${Math.floor(rnd() * 60)}s` } }] } },
      },
    };
  }
  const mtls = rnd() < 0.6;
  return { put: { type: 'Mesh', name: 'default', labels: global, spec: { mtls: { ...(mtls ? { enabledBackend: 'ca-1' } : {}), backends: [{ name: 'ca-1', type: 'builtin' }] } } } };
}

test('after random changes, the incremental snapshots equal a full rebuild from the same store', async (t) => {
  const bus = new InProcessEventBus();
  const store = new MemoryStore(bus);
  const certificates = new WorkloadCertificateCache({ store, bus });
  const incremental = reconcilerOn(store, bus, certificates);
  t.after(async () => {
    await incremental.reconciler.stop();
    certificates.close();
  });
  const ca = await generateCa({ commonName: 'default' });
  const names = meshCaSecretNames('default', 'ca-1');
  const b64 = (s: string) => Buffer.from(s).toString('base64');
  await store.commit([
    { op: 'put', resource: { type: 'Mesh', name: 'default', labels: global, spec: {} } },
    { op: 'put', resource: { type: 'Secret', mesh: 'default', name: names.cert, labels: global, spec: { data: b64(ca.certPem) } } },
    { op: 'put', resource: { type: 'Secret', mesh: 'default', name: names.key, labels: global, spec: { data: b64(ca.keyPem) } } },
  ]);

  const seed = Number(process.env['MESHFED_TEST_SEED'] ?? 20261205);
  const rnd = prng(seed);
  let compared = 0;
  for (let batch = 0; batch < 12; batch++) {
    // Several changes per batch, committed one by one: some runs coalesce them, some do not.
    for (let k = 0; k < 6; k++) {
      const change = randomChange(rnd, batch * 10 + k);
      if (change.put) await store.commit([{ op: 'put', resource: change.put }]);
      else if (change.del && (await store.get(change.del))) await store.commit([{ op: 'delete', key: change.del }]);
    }
    await incremental.reconciler.runNow();
    await incremental.reconciler.runNow();

    const full = reconcilerOn(store, bus, certificates);
    try {
      await full.reconciler.runNow();
      const ids = [...new Set([...incremental.cache.proxyIds(), ...full.cache.proxyIds()])].sort();
      for (const id of ids) {
        const a = incremental.cache.get(id);
        const b = full.cache.get(id);
        assert.equal(a?.version, b?.version, `seed ${seed}, batch ${batch}: proxy ${id}: incremental ${a ? 'version' : 'nothing'} ≠ full rebuild`);
        compared++;
      }
    } finally {
      await full.reconciler.stop();
    }
  }
  assert.ok(compared > 30, `compared ${compared} snapshots`);
});

test('a policy change regenerates only the proxies whose rules it changes; one that matches nothing regenerates nothing', async (t) => {
  const bus = new InProcessEventBus();
  const store = new MemoryStore(bus);
  const certificates = new WorkloadCertificateCache({ store, bus });
  const z = reconcilerOn(store, bus, certificates);
  t.after(async () => {
    await z.reconciler.stop();
    certificates.close();
  });
  const dataplane = (name: string, service: string, outbound: string[] = []): Resource => ({
    type: 'Dataplane', mesh: 'default', name, labels: {},
    spec: { networking: { address: '10.0.0.1', inbound: [{ port: 8080, tags: { 'kuma.io/service': service } }], outbound: outbound.map((s, i) => ({ port: 10_000 + i, tags: { 'kuma.io/service': s } })) } },
  });
  await store.commit([
    { op: 'put', resource: { type: 'Mesh', name: 'default', labels: global, spec: {} } },
    { op: 'put', resource: dataplane('web-1', 'web', ['backend']) },
    { op: 'put', resource: dataplane('web-2', 'web', ['backend']) },
    { op: 'put', resource: dataplane('backend-1', 'backend') },
    { op: 'put', resource: dataplane('db-1', 'db') },
  ]);
  await z.reconciler.runNow();
  const before = new Map(['default.web-1', 'default.web-2', 'default.backend-1', 'default.db-1'].map((id) => [id, z.cache.get(id)]));
  assert.ok([...before.values()].every(Boolean));

  const timeout = (name: string, top: string, to: string) => ({
    type: 'MeshTimeout' as const, mesh: 'default', name, labels: global,
    spec: { spec: { targetRef: { kind: 'MeshService', name: top }, to: [{ targetRef: { kind: 'MeshService', name: to }, default: { connectionTimeout: '2s' } }] } },
  });
  const generated = () => z.reconciler.stats().generatedTotal;
  let mark = generated();
  await store.commit([{ op: 'put', resource: timeout('nobody', 'no-such-service', 'backend') }]);
  await z.reconciler.runNow();
  assert.equal(generated() - mark, 0, 'a policy selecting no proxy regenerates none');
  for (const [id, s] of before) assert.equal(z.cache.get(id), s, id);

  mark = generated();
  await store.commit([{ op: 'put', resource: timeout('web-to-backend', 'web', 'backend') }]);
  await z.reconciler.runNow();
  assert.equal(generated() - mark, 2, 'web-1 and web-2 only');
  assert.notEqual(z.cache.get('default.web-1')?.version, before.get('default.web-1')?.version);
  for (const id of ['default.backend-1', 'default.db-1']) assert.equal(z.cache.get(id), before.get(id), id);
});
