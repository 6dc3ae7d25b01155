import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MemoryStore, type ResourceStore, type WriteOp } from '@meshfed/shared';
import { ZoneInventory } from './zone-inventory.js';

/** A MemoryStore that counts commits. */
function countingStore(): { store: ResourceStore; commits: () => number } {
  const inner = new MemoryStore();
  let n = 0;
  const store: ResourceStore = {
    backend: inner.backend,
    get: (k) => inner.get(k),
    list: (type, o) => inner.list(type, o),
    commit: (ops: readonly WriteOp[]) => {
      n++;
      return inner.commit(ops);
    },
    healthy: () => inner.healthy(),
    close: () => inner.close(),
  };
  return { store, commits: () => n };
}

test('a zone is created enabled on its first connect, once, even when replicas race', { timeout: 10_000 }, async () => {
  const { store, commits } = countingStore();
  const inventory = new ZoneInventory({ store });
  const results = await Promise.all(Array.from({ length: 5 }, () => inventory.admit('zone-1')));
  assert.deepEqual(results, Array(5).fill({ ok: true }));
  const zone = await store.get({ type: 'Zone', name: 'zone-1' });
  assert.deepEqual(zone?.spec, { enabled: true });
  const version = zone!.version;

  assert.deepEqual(await inventory.admit('zone-1'), { ok: true });
  assert.equal((await store.get({ type: 'Zone', name: 'zone-1' }))?.version, version, 'a reconnect writes nothing');
  assert.ok(commits() <= 5, 'at most one create attempt per racing admit');
  assert.equal((await store.list('Zone')).total, 1);
});

test('a disabled zone is refused and left as the operator set it', { timeout: 10_000 }, async () => {
  const { store } = countingStore();
  await store.commit([{ op: 'put', resource: { type: 'Zone', name: 'zone-2', labels: { team: 'a' }, spec: { enabled: false } } }]);
  const before = await store.get({ type: 'Zone', name: 'zone-2' });
  const inventory = new ZoneInventory({ store });
  assert.deepEqual(await inventory.admit('zone-2'), { ok: false, reason: 'zone "zone-2" is disabled on the global control plane' });
  assert.deepEqual(await store.get({ type: 'Zone', name: 'zone-2' }), before);

  // Enabled again (or `enabled` left out, as a user may apply it): admitted.
  await store.commit([{ op: 'put', resource: { type: 'Zone', name: 'zone-2', labels: {}, spec: {} } }]);
  assert.deepEqual(await inventory.admit('zone-2'), { ok: true });
});

test('a zone name that is not a valid resource name is refused with the reason', { timeout: 10_000 }, async () => {
  const { store, commits } = countingStore();
  const result = await new ZoneInventory({ store }).admit('Zone One');
  assert.equal(result.ok, false);
  assert.match(!result.ok ? result.reason : '', /invalid zone name "Zone One": invalid characters/);
  assert.equal(commits(), 0);
});
