// The zone's view of global's public zone-token key, kept from the store's change events.
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { test, type TestContext } from 'node:test';
import {
  createLogger, InProcessEventBus, MemoryStore, type ResourceStore, StoreUnavailableError, ZONE_TOKEN_PUBLIC_KEY_NAME, ZoneTokens,
} from '@meshfed/shared';
import { ZoneTokenKeyWatcher } from './zone-token-key.js';

const KEY = { type: 'ZoneTokenPublicKey', name: ZONE_TOKEN_PUBLIC_KEY_NAME } as const;
const HOUR = 3_600_000;

function capturing() {
  const lines: { level: string; msg: string }[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _e, cb) {
      for (const l of chunk.toString().split('\n')) if (l.trim()) lines.push(JSON.parse(l) as { level: string; msg: string });
      cb();
    },
  });
  return { log: createLogger({ component: 'test', level: 'debug', destination }), lines };
}

async function setup(t: TestContext, wrap: (s: ResourceStore) => ResourceStore = (s) => s) {
  const bus = new InProcessEventBus();
  const inner = new MemoryStore(bus);
  const store = wrap(inner);
  const { log, lines } = capturing();
  const put = (spec: Record<string, unknown>) => inner.commit([{ op: 'put', resource: { ...KEY, labels: {}, spec } }]);
  const start = async () => {
    const w = await ZoneTokenKeyWatcher.start({ store, bus, log });
    t.after(() => w.close());
    return w;
  };
  return { inner, bus, put, start, lines };
}

const newGlobal = () => ZoneTokens.open(new MemoryStore(new InProcessEventBus()));

test('a key already stored is in use from the start; it follows updates and deletion', async (t) => {
  const s = await setup(t);
  const first = await newGlobal();
  await s.put({ jwk: first.publicJwk() });
  const w = await s.start();
  assert.equal(w.current()?.kid, first.kid);
  const token = await first.issue({ zone: 'zone-1', scopes: ['ingress'], validForMs: HOUR });
  assert.equal((await w.current()!.verify(token, { zone: 'zone-1', scope: 'ingress' })).zone, 'zone-1');

  const second = await newGlobal();
  await s.put({ jwk: second.publicJwk() });
  await w.idle();
  assert.equal(w.current()?.kid, second.kid, 'rebuilt on update');

  await s.inner.commit([{ op: 'delete', key: KEY }]);
  await w.idle();
  assert.equal(w.current(), undefined, 'cleared on delete');
  assert.ok(s.lines.some((l) => /was removed/.test(l.msg)));
});

test('nothing stored: undefined until the key arrives; other changes are ignored', async (t) => {
  const s = await setup(t);
  const w = await s.start();
  assert.equal(w.current(), undefined);
  await s.inner.commit([{ op: 'put', resource: { type: 'Mesh', name: 'default', labels: {}, spec: {} } }]);
  await w.idle();
  assert.equal(w.current(), undefined);
  const global = await newGlobal();
  await s.put({ jwk: global.publicJwk() });
  await w.idle();
  assert.equal(w.current()?.kid, global.kid);
  assert.ok(s.lines.some((l) => l.msg === "verifying zone tokens with global's public keys"));
});

test('an unusable stored key is logged as an error and verifies nothing', async (t) => {
  const s = await setup(t);
  const global = await newGlobal();
  await s.put({ jwk: global.publicJwk() });
  const w = await s.start();
  await s.put({ jwk: { ...global.publicJwk(), crv: 'P-384' } });
  await w.idle();
  assert.equal(w.current(), undefined);
  assert.ok(s.lines.some((l) => l.level === 'error' && /ZoneTokenPublicKey "zone-token-signing-key" is unusable \(jwk\.crv: /.test(l.msg)), JSON.stringify(s.lines));
});

test('closed: changes no longer apply', async (t) => {
  const s = await setup(t);
  const w = await s.start();
  w.close();
  await s.put({ jwk: (await newGlobal()).publicJwk() });
  await w.idle();
  assert.equal(w.current(), undefined);
});

test('a failed read keeps the key in use and is retried', async (t) => {
  let failing = 0;
  const s = await setup(t, (inner) => ({
    ...inner, backend: inner.backend, get: (k) => inner.get(k), commit: (ops) => inner.commit(ops), healthy: () => inner.healthy(), close: () => inner.close(),
    list: (ty, o) => (failing-- > 0 ? Promise.reject(new StoreUnavailableError('test: store down')) : inner.list(ty, o)),
  }));
  const first = await newGlobal();
  await s.put({ jwk: first.publicJwk() });
  const w = await s.start();
  failing = 1;
  const second = await newGlobal();
  await s.put({ jwk: second.publicJwk() });
  await w.idle();
  assert.equal(w.current()?.kid, first.kid, 'kept while the store cannot be read');
  assert.ok(s.lines.some((l) => /could not read global's zone token public key/.test(l.msg)));
  const deadline = Date.now() + 5000;
  while (w.current()?.kid !== second.kid && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  assert.equal(w.current()?.kid, second.kid, 'the retry picked up the change');
});

test("every serial global publishes verifies; a withdrawn one is reported with its serial", async (t) => {
  const bus = new InProcessEventBus();
  const store = new MemoryStore(bus);
  const removed: unknown[] = [];
  const w = await ZoneTokenKeyWatcher.start({ store, bus, onKeysRemoved: (r) => removed.push(...r) });
  t.after(() => w.close());
  const global = await ZoneTokens.open(new MemoryStore(new InProcessEventBus()));
  const first = global.ring.signer();
  const oldToken = await global.issue({ zone: 'zone-1', scopes: ['ingress'], validForMs: HOUR });
  await global.ring.add();
  const newToken = await global.issue({ zone: 'zone-1', scopes: ['ingress'], validForMs: HOUR });
  const put = (name: string, jwk: unknown) => store.commit([{ op: 'put', resource: { type: 'ZoneTokenPublicKey', name, labels: {}, spec: { jwk } } }]);
  await put(ZONE_TOKEN_PUBLIC_KEY_NAME, first.publicJwk);
  await put(`${ZONE_TOKEN_PUBLIC_KEY_NAME}-2`, global.publicJwk());
  await w.idle();
  assert.deepEqual(w.current()?.kids, [first.kid, global.kid], 'oldest serial first');
  assert.equal(w.current()?.kid, global.kid, 'the newest is the signing one');
  for (const token of [oldToken, newToken]) assert.equal((await w.current()!.verify(token, { zone: 'zone-1', scope: 'ingress' })).zone, 'zone-1');

  await store.commit([{ op: 'delete', key: KEY }]);
  await w.idle();
  assert.deepEqual(removed, [{ kid: first.kid, serial: 1 }]);
  await assert.rejects(w.current()!.verify(oldToken, { zone: 'zone-1', scope: 'ingress' }), /which this control plane does not have \(was it removed or issued elsewhere\?\)/);
  assert.equal((await w.current()!.verify(newToken, { zone: 'zone-1', scope: 'ingress' })).zone, 'zone-1');
});
