// Global's public zone-token key in the store: written once, rewritten only when it differs, and
// replicas racing on one store end with one value and one change event.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { InProcessEventBus, MemoryStore, type ResourceChangedEvent, SigningKeyRing, ZONE_TOKEN_PUBLIC_KEY_NAME, ZONE_TOKEN_SIGNING_KEY, ZoneTokens } from '@meshfed/shared';
import { publishZoneTokenPublicKey, publishZoneTokenPublicKeys, syncZoneTokenPublicKeys } from './publish-zone-token-key.js';

const KEY = { type: 'ZoneTokenPublicKey', name: ZONE_TOKEN_PUBLIC_KEY_NAME } as const;

function setup() {
  const bus = new InProcessEventBus();
  const store = new MemoryStore(bus);
  const events: ResourceChangedEvent[] = [];
  bus.subscribe((es) => events.push(...es.filter((e) => e.type === 'ZoneTokenPublicKey')));
  return { store, events };
}

test('published once from the signing key; again only when it differs', async () => {
  const { store, events } = setup();
  const tokens = await ZoneTokens.open(store);
  assert.equal(await publishZoneTokenPublicKey(store, tokens.publicJwk()), 'created');
  const stored = await store.get(KEY);
  assert.deepEqual(stored?.spec, { jwk: tokens.publicJwk() });
  assert.equal(stored?.spec.jwk && (stored.spec.jwk as { d?: string }).d, undefined, 'no private part');

  assert.equal(await publishZoneTokenPublicKey(store, tokens.publicJwk()), 'unchanged');
  assert.equal((await store.get(KEY))?.version, stored?.version, 'not rewritten');

  const other = await ZoneTokens.open(new MemoryStore(new InProcessEventBus()));
  assert.equal(await publishZoneTokenPublicKey(store, other.publicJwk()), 'updated');
  assert.deepEqual((await store.get(KEY))?.spec, { jwk: other.publicJwk() });
  assert.deepEqual(events.map((e) => e.op), ['create', 'update']);
});

test('replicas starting together on one store: one write, one event, the same key', async () => {
  const { store, events } = setup();
  const tokens = await ZoneTokens.open(store);
  const outcomes = await Promise.all(Array.from({ length: 8 }, () => publishZoneTokenPublicKey(store, tokens.publicJwk())));
  assert.deepEqual(outcomes.filter((o) => o === 'created'), ['created']);
  assert.equal(outcomes.filter((o) => o === 'unchanged').length, 7);
  assert.deepEqual(events.map((e) => e.op), ['create']);
  assert.deepEqual((await store.get(KEY))?.spec, { jwk: tokens.publicJwk() });
});

test('a stored value that is not a usable key is replaced', async () => {
  const { store } = setup();
  await store.commit([{ op: 'put', resource: { ...KEY, labels: {}, spec: { jwk: { kty: 'RSA' } } } }]);
  const tokens = await ZoneTokens.open(store);
  assert.equal(await publishZoneTokenPublicKey(store, tokens.publicJwk()), 'updated');
  assert.deepEqual((await store.get(KEY))?.spec, { jwk: tokens.publicJwk() });
});

test('a key global could not send is refused before it is written', async () => {
  const { store } = setup();
  await assert.rejects(publishZoneTokenPublicKey(store, { kty: 'EC', crv: 'P-256', x: 'short', y: 'short', kid: 'k', alg: 'ES256', use: 'sig' }), /43 base64url characters/);
  assert.equal(await store.get(KEY), undefined);
});

test('one public key per serial, named as its key; a removed serial is withdrawn, on every change', async () => {
  const bus = new InProcessEventBus();
  const store = new MemoryStore(bus);
  const tokens = await ZoneTokens.open(store, { bus });
  const stop = await publishZoneTokenPublicKeys(store, tokens.ring);
  const published = async () => (await store.list('ZoneTokenPublicKey')).items.map((r) => [r.name, (r.spec.jwk as { kid: string }).kid]).sort();
  const first = tokens.kid;
  assert.deepEqual(await published(), [[ZONE_TOKEN_PUBLIC_KEY_NAME, first]]);
  // The publisher runs after the ring's change: bounded polling, as tests may.
  const until = async (want: unknown) => {
    for (let i = 0; i < 100 && JSON.stringify(await published()) !== JSON.stringify(want); i++) await new Promise((r) => setTimeout(r, 10));
    assert.deepEqual(await published(), want);
  };
  const second = await tokens.ring.add();
  await until([[ZONE_TOKEN_PUBLIC_KEY_NAME, first], [`${ZONE_TOKEN_PUBLIC_KEY_NAME}-2`, second.kid]]);
  await tokens.ring.remove(1);
  await until([[`${ZONE_TOKEN_PUBLIC_KEY_NAME}-2`, second.kid]]);
  stop();
  tokens.close();
});

test("a replica a step behind does not withdraw a key another just added", async () => {
  const store = new MemoryStore(new InProcessEventBus());
  // No bus: this ring never hears of serial 2.
  const behind = await SigningKeyRing.open({ store, secretName: ZONE_TOKEN_SIGNING_KEY, purpose: 'zone token' });
  const ahead = await SigningKeyRing.open({ store, secretName: ZONE_TOKEN_SIGNING_KEY, purpose: 'zone token' });
  await ahead.add();
  await syncZoneTokenPublicKeys(store, ahead);
  await syncZoneTokenPublicKeys(store, behind);
  assert.equal((await store.list('ZoneTokenPublicKey')).items.length, 2);
  behind.close();
  ahead.close();
});
