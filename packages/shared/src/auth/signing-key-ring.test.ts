// Signing keys by serial: the newest signs, every present one verifies, removing one refuses its tokens;
// replicas on one store (one bus) converge, and races between them keep the rules.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { decodeProtectedHeader } from 'jose';
import { ApiError, NotFoundError } from '../errors/api-error.js';
import { InProcessEventBus } from '../events/in-process-event-bus.js';
import { MAX_SIGNING_KEYS, signingKeyName, signingKeySerialOf } from '../resources/signing-key-info.js';
import { MemoryStore } from '../store/memory-store.js';
import { DATAPLANE_TOKEN_SIGNING_KEY, DataplaneTokens } from './dataplane-token.js';
import { DataplaneTokenError, ZoneTokenError } from './errors.js';
import { endStreamsOnKeyRemoval, type KeyRingChange, SigningKeyRing } from './signing-key-ring.js';
import { loadOrCreateSigningKey, ZONE_TOKEN_SIGNING_KEY } from './signing-key.js';
import { StreamGuard } from './stream-guard.js';
import { ZoneTokens } from './zone-token.js';

const HOUR = 3_600_000;
const EXPECT = { zone: 'zone-1', scope: 'zone' } as const;

function shared() {
  const bus = new InProcessEventBus();
  return { bus, store: new MemoryStore(bus) };
}

const openRing = (s: ReturnType<typeof shared>, secretName = ZONE_TOKEN_SIGNING_KEY) =>
  SigningKeyRing.open({ store: s.store, bus: s.bus, secretName, purpose: 'zone token' });

const kidOf = (token: string) => decodeProtectedHeader(token).kid;

describe('signing key names', () => {
  test('serial 1 keeps the name of the only key there was; serial N is <name>-<N>', () => {
    assert.equal(signingKeyName('zone-token-signing-key', 1), 'zone-token-signing-key');
    assert.equal(signingKeyName('zone-token-signing-key', 12), 'zone-token-signing-key-12');
    for (const serial of [1, 2, 10, 999_999]) assert.equal(signingKeySerialOf('k', signingKeyName('k', serial)), serial);
    for (const name of ['k-1', 'k-01', 'k-', 'k-x', 'k-2-3', 'kk-2', 'other', 'k-1000000']) assert.equal(signingKeySerialOf('k', name), undefined, name);
  });
});

describe('SigningKeyRing', () => {
  test('a store written before rotation keeps its key as serial 1', async () => {
    const s = shared();
    const before = await loadOrCreateSigningKey(s.store);
    const ring = await openRing(s);
    assert.deepEqual(ring.info().map((k) => [k.serial, k.kid, k.signing]), [[1, before.kid, true]]);
    assert.deepEqual((await s.store.list('GlobalSecret')).items.map((r) => r.name), [ZONE_TOKEN_SIGNING_KEY]);
    ring.close();
  });

  test('add: the newest signs, the older still verifies until it is removed', async () => {
    const s = shared();
    const tokens = await ZoneTokens.open(s.store, { bus: s.bus });
    const changes: KeyRingChange[] = [];
    tokens.ring.onChange((c) => changes.push(c));
    const first = tokens.kid;
    const old = await tokens.issue({ zone: 'zone-1', scopes: ['zone'], validForMs: HOUR });

    const added = await tokens.ring.add();
    assert.equal(added.serial, 2);
    assert.equal(added.signing, true);
    assert.equal(tokens.kid, added.kid);
    assert.deepEqual(changes, [{ added: [{ serial: 2, kid: added.kid }], removed: [] }]);
    assert.deepEqual(tokens.ring.info().map((k) => [k.serial, k.signing]), [[1, false], [2, true]]);
    assert.ok(tokens.ring.info().every((k) => !('privateKey' in k) && !JSON.stringify(k).includes('"d"')), 'no key material in what the API tells');
    const fresh = await tokens.issue({ zone: 'zone-1', scopes: ['zone'], validForMs: HOUR });
    assert.equal(kidOf(fresh), added.kid);
    assert.equal((await tokens.verify(old, EXPECT)).kid, first);
    assert.equal((await tokens.verify(fresh, EXPECT)).kid, added.kid);
    assert.deepEqual((await s.store.list('GlobalSecret')).items.map((r) => r.name).sort(), [ZONE_TOKEN_SIGNING_KEY, `${ZONE_TOKEN_SIGNING_KEY}-2`]);

    const removed = await tokens.ring.remove(1);
    assert.deepEqual([removed.serial, removed.kid], [1, first]);
    assert.deepEqual(changes.at(-1), { added: [], removed: [{ serial: 1, kid: first }] });
    await assert.rejects(tokens.verify(old, EXPECT), (e: unknown) => e instanceof ZoneTokenError && e.reason === 'bad-signature'
      && e.message === `zone token was signed by key "${first}", which this control plane does not have (was it removed or issued elsewhere?)`);
    assert.equal((await tokens.verify(fresh, EXPECT)).zone, 'zone-1');
    // The serial freed at the top is not reused below: the next is max+1 of what is present.
    assert.equal((await tokens.ring.add()).serial, 3);
    tokens.close();
  });

  test('the last key is never removed; an absent serial is a 404', async () => {
    const s = shared();
    const ring = await openRing(s);
    await assert.rejects(ring.remove(1), (e: unknown) => e instanceof ApiError && e.status === 409
      && e.message === 'zone token signing key serial 1 is the only one and cannot be removed: add a new one first, then remove this one');
    await assert.rejects(ring.remove(7), (e: unknown) => e instanceof NotFoundError && e.message === 'there is no zone token signing key serial 7; present: 1');
    assert.equal(ring.keys().length, 1);
    await ring.add();
    await ring.remove(1);
    await assert.rejects(ring.remove(2), /serial 2 is the only one/);
    ring.close();
  });

  test(`at most ${MAX_SIGNING_KEYS} keys`, async () => {
    const s = shared();
    const ring = await openRing(s);
    for (let i = 2; i <= MAX_SIGNING_KEYS; i++) assert.equal((await ring.add()).serial, i);
    await assert.rejects(ring.add(), (e: unknown) => e instanceof ApiError && e.status === 409
      && e.message === `there are already ${MAX_SIGNING_KEYS} zone token signing keys, the most kept: remove an old one first`);
    assert.equal(ring.keys().length, MAX_SIGNING_KEYS);
    ring.close();
  });

  test('two replicas on one store converge through the bus', async () => {
    const s = shared();
    const a = await ZoneTokens.open(s.store, { bus: s.bus });
    const b = await ZoneTokens.open(s.store, { bus: s.bus });
    assert.equal(a.kid, b.kid, 'one serial 1 for both');
    const heardByB: KeyRingChange[] = [];
    b.ring.onChange((c) => heardByB.push(c));
    const old = await b.issue({ zone: 'zone-1', scopes: ['zone'], validForMs: HOUR });

    const added = await a.ring.add();
    await b.ring.idle();
    assert.equal(b.kid, added.kid, 'B signs with the serial A added');
    const fresh = await b.issue({ zone: 'zone-1', scopes: ['zone'], validForMs: HOUR });
    assert.equal((await a.verify(fresh, EXPECT)).kid, added.kid);

    await a.ring.remove(1);
    await b.ring.idle();
    assert.deepEqual(heardByB.map((c) => [c.added.map((k) => k.serial), c.removed.map((k) => k.serial)]), [[[2], []], [[], [1]]]);
    await assert.rejects(b.verify(old, EXPECT), /which this control plane does not have/);
    assert.deepEqual(b.ring.info(), a.ring.info());
    a.close();
    b.close();
  });

  test('racing replicas: adds get serials of their own; removing the last two at once leaves one', async () => {
    const s = shared();
    const rings = await Promise.all(Array.from({ length: 4 }, () => openRing(s)));
    const added = await Promise.all(rings.map((r) => r.add()));
    assert.deepEqual(added.map((k) => k.serial).sort(), [2, 3, 4, 5]);
    for (const r of rings) await r.idle();
    for (const serial of [1, 2, 3]) await rings[0]!.remove(serial);
    for (const r of rings) await r.idle();
    const outcomes = await Promise.allSettled([rings[1]!.remove(4), rings[2]!.remove(5)]);
    assert.equal(outcomes.filter((o) => o.status === 'fulfilled').length, 1, JSON.stringify(outcomes.map((o) => o.status === 'rejected' ? String(o.reason) : 'ok')));
    assert.match(String(outcomes.find((o) => o.status === 'rejected')?.reason), /is the only one and cannot be removed/);
    assert.equal((await s.store.list('GlobalSecret')).items.length, 1);
    for (const r of rings) r.close();
  });

  test('a removed key ends the streams its tokens opened, with the serial in the reason', async () => {
    const s = shared();
    const ring = await SigningKeyRing.open({ store: s.store, bus: s.bus, secretName: DATAPLANE_TOKEN_SIGNING_KEY, purpose: 'dataplane token' });
    const tokens = DataplaneTokens.fromRing(ring);
    const guard = new StreamGuard();
    endStreamsOnKeyRemoval(ring, guard, 'dataplane');
    const old = await tokens.verify(await tokens.issue({ mesh: 'default', name: 'web', validForMs: HOUR }), { mesh: 'default', name: 'web' });
    await ring.add();
    const fresh = await tokens.verify(await tokens.issue({ mesh: 'default', name: 'web', validForMs: HOUR }), { mesh: 'default', name: 'web' });
    const ended: string[] = [];
    guard.watch({ kind: 'dataplane', id: old.id, kid: old.kid }, (reason) => ended.push(`old: ${reason}`));
    guard.watch({ kind: 'dataplane', id: fresh.id, kid: fresh.kid }, (reason) => ended.push(`new: ${reason}`));
    guard.watch({ kind: 'zone', id: 'z', kid: old.kid }, (reason) => ended.push(`zone: ${reason}`));
    await ring.remove(1);
    assert.deepEqual(ended, ['old: signing key serial 1 was removed']);
    assert.equal(guard.size, 2);
    const token = await tokens.issue({ mesh: 'default', name: 'web', validForMs: HOUR });
    assert.equal((await tokens.verify(token, { mesh: 'default', name: 'web' })).kid, fresh.kid);
    ring.close();
  });

  test('a key removed by another replica is dropped here, and its tokens refused', async () => {
    const s = shared();
    const here = DataplaneTokens.fromRing(await openRing(s, DATAPLANE_TOKEN_SIGNING_KEY));
    const there = await openRing(s, DATAPLANE_TOKEN_SIGNING_KEY);
    const old = await here.issue({ mesh: 'default', name: 'web', validForMs: HOUR });
    await there.add();
    await there.remove(1);
    await here.ring.idle();
    await assert.rejects(here.verify(old, { mesh: 'default', name: 'web' }), (e: unknown) => e instanceof DataplaneTokenError
      && /^dataplane token was signed by key ".+", which this zone control plane does not have \(was it removed or issued elsewhere\?\)$/.test(e.message));
    here.close();
    there.close();
  });

  test('a broken key added later is logged and skipped; the ring keeps working', async () => {
    const s = shared();
    const ring = await openRing(s);
    await s.store.commit([{ op: 'put', resource: { type: 'GlobalSecret', name: `${ZONE_TOKEN_SIGNING_KEY}-2`, labels: {}, spec: { data: Buffer.from('{}').toString('base64') } } }]);
    await ring.idle();
    assert.deepEqual(ring.info().map((k) => k.serial), [1]);
    // Its name is taken: the next key is serial 3, never an overwrite of serial 2.
    assert.equal((await ring.add()).serial, 3);
    ring.close();
  });

  test('at open, a broken serial beside a usable one is skipped; with none usable, the open fails', async () => {
    const s = shared();
    await (await openRing(s)).add();
    const broken = { data: Buffer.from('{}').toString('base64') };
    await s.store.commit([{ op: 'put', resource: { type: 'GlobalSecret', name: `${ZONE_TOKEN_SIGNING_KEY}-2`, labels: {}, spec: broken } }]);
    const ring = await openRing(s);
    assert.deepEqual(ring.info().map((k) => [k.serial, k.signing]), [[1, true]]);
    ring.close();
    await s.store.commit([{ op: 'put', resource: { type: 'GlobalSecret', name: ZONE_TOKEN_SIGNING_KEY, labels: {}, spec: broken } }]);
    await assert.rejects(openRing(s), /does not hold an ES256 signing key/);
    assert.equal((await s.store.list('GlobalSecret')).items.length, 2, 'nothing created in their place');
  });
});
