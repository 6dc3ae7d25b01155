import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { after, describe, test } from 'node:test';
import {
  createLogger, envelopeOf, InProcessEventBus, type ListOptions, MemoryStore, type Resource, type ResourceChangedEvent, type ResourceKind,
  type ResourceStore, Telemetry, type WriteOp,
} from '@meshfed/shared';
import { type AvailableServicesReconciler, canonicallyEqual, startAvailableServicesReconciler } from './available-services-reconciler.js';

const quiet = new Writable({ write: (_c, _e, cb) => cb() });
const svc = (service: string) => ({ 'kuma.io/service': service });
/** The tags an instance of `service` is offered with: its own and the zone it runs in. */
const offered = (service: string) => ({ ...svc(service), 'kuma.io/zone': 'zone-1' });

type Inbound = { port: number; tags: Record<string, string>; health?: { ready: boolean } };
const dataplane = (name: string, inbound: Inbound[], address = '10.0.0.1'): Resource => ({
  type: 'Dataplane', mesh: 'default', name, labels: {}, spec: { networking: { address, inbound } },
});
const ingress = (name: string, labels: Record<string, string> = {}, zone = 'zone-1'): Resource => ({
  type: 'ZoneIngress', name, labels, spec: { zone, networking: { address: '10.1.0.1', advertisedAddress: '192.0.2.1', port: 10001, advertisedPort: 10001 } },
});

/** A MemoryStore on an in-process bus that counts list pages per type, with a hook before each commit. */
function harness() {
  const bus = new InProcessEventBus();
  const inner = new MemoryStore(bus);
  const lists = new Map<ResourceKind, number>();
  let beforeCommit: ((ops: readonly WriteOp[]) => Promise<void>) | undefined;
  const store: ResourceStore = {
    backend: 'memory',
    get: (k) => inner.get(k),
    list: (type: ResourceKind, o?: ListOptions) => {
      lists.set(type, (lists.get(type) ?? 0) + 1);
      return inner.list(type, o);
    },
    commit: async (ops) => {
      const hook = beforeCommit;
      if (hook) await hook(ops);
      return inner.commit(ops);
    },
    healthy: () => inner.healthy(),
    close: () => inner.close(),
  };
  /** Commits that touched a ZoneIngress, counted from the bus (one batch per commit). */
  let ingressCommits = 0;
  bus.subscribe((events: readonly ResourceChangedEvent[]) => {
    if (events.some((e) => e.type === 'ZoneIngress')) ingressCommits++;
  });
  const telemetry = new Telemetry({ service: 'test' });
  const log = createLogger({ component: 'test', destination: quiet });
  const running: AvailableServicesReconciler[] = [];
  return {
    bus, inner, store, telemetry, lists,
    ingressCommits: () => ingressCommits,
    setBeforeCommit: (h: typeof beforeCommit) => (beforeCommit = h),
    put: (...resources: Resource[]) => inner.commit(resources.map((resource) => ({ op: 'put', resource }))),
    del: (type: ResourceKind, name: string, mesh?: string) => inner.commit([{ op: 'delete', key: { type, name, ...(mesh ? { mesh } : {}) } }]),
    services: async (name = 'ingress-1') => (await inner.get({ type: 'ZoneIngress', name }))?.spec.availableServices,
    start: (zone = 'zone-1') => {
      const r = startAvailableServicesReconciler({ store, bus, log, telemetry, zone, resyncIntervalMs: 0 });
      running.push(r);
      return r;
    },
    stopAll: () => Promise.all(running.map((r) => r.stop())),
  };
}

/** Polls for a bounded time: the reconciler is event-driven, the test only waits for it. */
async function within<T>(what: string, ms: number, check: () => Promise<T | undefined | false>): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await check();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`not within ${ms} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

const sameAs = (want: unknown) => async (got: unknown) => JSON.stringify(got) === JSON.stringify(want);

describe('available services reconciler', () => {
  const h = harness();
  after(() => h.stopAll());

  test('create, update and delete of dataplanes update the local ingress within a bounded wait', async () => {
    await h.put({ type: 'Mesh', name: 'default', labels: {}, spec: {} });
    await h.put(ingress('ingress-1'));
    const r = h.start();
    await r.runNow();
    assert.equal(await h.services(), undefined, 'nothing offered, nothing written');

    await h.put(dataplane('backend-1', [{ port: 8080, tags: svc('backend') }]));
    await within('backend x1', 1000, async () => sameAs([{ tags: offered('backend'), instances: 1, mesh: 'default' }])(await h.services()));

    await h.put(dataplane('backend-2', [{ port: 8080, tags: svc('backend') }]));
    await within('backend x2', 1000, async () => sameAs([{ tags: offered('backend'), instances: 2, mesh: 'default' }])(await h.services()));

    await h.put(dataplane('backend-2', [{ port: 8080, tags: svc('backend'), health: { ready: false } }]));
    await within('backend x1 after unhealthy', 1000, async () => sameAs([{ tags: offered('backend'), instances: 1, mesh: 'default' }])(await h.services()));

    await h.del('Dataplane', 'backend-1', 'default');
    await within('empty after delete', 1000, async () => sameAs([])(await h.services()));
  });

  test('an unchanged recompute writes nothing; neither does a change that offers nothing new', async () => {
    await h.put(dataplane('web-1', [{ port: 8080, tags: svc('web') }]));
    await within('web listed', 1000, async () => sameAs([{ tags: offered('web'), instances: 1, mesh: 'default' }])(await h.services()));
    const r = h.start();
    await r.runNow();
    const before = h.ingressCommits();
    await r.runNow();
    await r.runNow();
    // A new address, the same services: recomputed, not written.
    await h.put(dataplane('web-1', [{ port: 8080, tags: svc('web') }], '10.0.0.99'));
    await r.runNow();
    assert.equal(h.ingressCommits(), before);
    await r.stop();
  });

  test('a new local ingress gets the list; remote and other-zone ingresses are left alone', async () => {
    const remote = ingress('remote.zone-2.abc', { 'kuma.io/origin': 'global', 'kuma.io/zone': 'zone-2' }, 'zone-2');
    await h.put(ingress('ingress-2', { 'kuma.io/origin': 'zone', 'kuma.io/zone': 'zone-1' }), remote, ingress('stray', {}, 'zone-9'));
    const want = [{ tags: offered('web'), instances: 1, mesh: 'default' }];
    await within('ingress-2 listed', 1000, async () => sameAs(want)(await h.services('ingress-2')));
    assert.equal(await h.services('remote.zone-2.abc'), undefined);
    assert.equal(await h.services('stray'), undefined);
    // A user overwriting the list is corrected.
    await h.put({ ...ingress('ingress-2'), spec: { ...ingress('ingress-2').spec, availableServices: [{ tags: svc('fake'), instances: 9, mesh: 'default' }] } });
    await within('ingress-2 corrected', 1000, async () => sameAs(want)(await h.services('ingress-2')));
  });

  test('a burst of changes coalesces into at most two recomputes', async () => {
    const pagesBefore = h.lists.get('Dataplane') ?? 0;
    const commits = Array.from({ length: 200 }, (_, i) => h.put(dataplane(`burst-${i}`, [{ port: 8080, tags: svc('burst') }])));
    await Promise.all(commits);
    await within('burst x200', 2000, async () => {
      const s = (await h.services()) as { tags: Record<string, string>; instances: number }[];
      return s.find((x) => x.tags['kuma.io/service'] === 'burst')?.instances === 200;
    });
    // One reconciler is running (the first test's): one page per recompute at this size.
    const pages = (h.lists.get('Dataplane') ?? 0) - pagesBefore;
    assert.ok(pages <= 2, `200 commits caused ${pages} recomputes`);
  });

  test('a version conflict is read again and retried, keeping the other writer\'s change', async () => {
    let raced = false;
    h.setBeforeCommit(async (ops) => {
      const op = ops[0];
      if (raced || op?.op !== 'put' || op.resource.type !== 'ZoneIngress' || op.expectedVersion === undefined) return;
      raced = true;
      const cur = (await h.inner.get({ type: 'ZoneIngress', name: op.resource.name }))!;
      await h.inner.commit([{ op: 'put', resource: { ...cur, labels: { ...cur.labels, team: 'payments' } } }]);
    });
    await h.put(dataplane('conflict-1', [{ port: 8080, tags: svc('conflict') }]));
    await within('conflict listed', 1000, async () => {
      const s = (await h.services()) as { tags: Record<string, string> }[];
      return s.some((x) => x.tags['kuma.io/service'] === 'conflict');
    });
    h.setBeforeCommit(undefined);
    assert.ok(raced);
    assert.equal((await h.inner.get({ type: 'ZoneIngress', name: 'ingress-1' }))!.labels.team, 'payments');
  });

  test('stop: no more writes afterwards', async () => {
    await h.stopAll();
    const before = h.ingressCommits();
    await h.put(dataplane('after-stop', [{ port: 8080, tags: svc('after-stop') }]));
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(h.ingressCommits(), before);
  });
});

test('canonicallyEqual ignores object key order, not array order or extra members', () => {
  assert.ok(canonicallyEqual([{ a: 1, b: { c: 'x', d: 'y' } }], [{ b: { d: 'y', c: 'x' }, a: 1 }]));
  assert.ok(canonicallyEqual({ a: 1, gone: undefined }, { a: 1 }));
  assert.ok(!canonicallyEqual([1, 2], [2, 1]));
  assert.ok(!canonicallyEqual({ a: 1, externalService: false }, { a: 1 }));
  assert.ok(!canonicallyEqual([], {}));
  assert.ok(!canonicallyEqual(undefined, []));
});

describe('available services at scale', () => {
  test('10,000 services over 20,000 dataplanes: correct, and the ingress fits a 4 MiB KDS message', async (t) => {
    const h = harness();
    const SERVICES = 10_000;
    await h.put({ type: 'Mesh', name: 'default', labels: {}, spec: {} });
    await h.put(ingress('ingress-1'));
    const name = (i: number) => `svc-${String(i).padStart(5, '0')}_default_svc_8080`;
    const tags = (i: number) => ({ 'kuma.io/service': name(i), 'kuma.io/protocol': 'http', 'k8s.kuma.io/namespace': 'default', version: 'v1' });
    for (let start = 0; start < SERVICES * 2; start += 1000) {
      const batch: WriteOp[] = [];
      for (let j = start; j < start + 1000; j++) {
        const i = j % SERVICES;
        batch.push({ op: 'put', resource: dataplane(`dp-${j}`, [{ port: 8080, tags: tags(i) }], `10.${(j >> 16) & 255}.${(j >> 8) & 255}.${j & 255}`) });
      }
      await h.inner.commit(batch);
    }

    const t0 = performance.now();
    const r = h.start();
    await r.runNow();
    const first = performance.now() - t0;
    const commitsAfterFirst = h.ingressCommits();
    const t1 = performance.now();
    await r.runNow();
    const steady = performance.now() - t1;
    assert.equal(h.ingressCommits(), commitsAfterFirst, 'the unchanged recompute wrote nothing');

    const stored = (await h.inner.get({ type: 'ZoneIngress', name: 'ingress-1' }))!;
    const list = stored.spec.availableServices as { tags: Record<string, string>; instances: number; mesh: string }[];
    assert.equal(list.length, SERVICES);
    list.forEach((s, i) => {
      assert.deepEqual(s, { tags: { ...tags(i), 'kuma.io/zone': 'zone-1' }, instances: 2, mesh: 'default' });
    });

    // One instance down: its service shows 1 after the event, and nothing else changes.
    await h.put(dataplane('dp-7', [{ port: 8080, tags: tags(7), health: { ready: false } }], '10.0.0.7'));
    await within('svc 7 down to one', 5000, async () => ((await h.services()) as { instances: number }[])[7]?.instances === 1);

    const bytes = envelopeOf(stored).bytes.length;
    const mib = (bytes / 1024 / 1024).toFixed(2);
    t.diagnostic(`10,000 services / 20,000 dataplanes: first recompute + write ${first.toFixed(0)} ms, unchanged recompute ${steady.toFixed(0)} ms, ZoneIngress KDS envelope ${bytes} bytes (${mib} MiB)`);
    console.log(`available services at scale: first recompute+write ${first.toFixed(0)} ms, unchanged recompute ${steady.toFixed(0)} ms, envelope ${bytes} bytes (${mib} MiB)`);
    assert.ok(bytes < 4 * 1024 * 1024, `envelope is ${bytes} bytes`);
    await r.stop();
  });
});
