// RevocationList on the memory store and the in-process bus; the verifiers' refusal of revoked tokens;
// the StreamGuard ending the streams a revoked token opened.
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { describe, test } from 'node:test';
import { BadRequestError } from '../errors/api-error.js';
import { InProcessEventBus } from '../events/in-process-event-bus.js';
import { MAX_REVOKED_TOKEN_IDS, revocationListName, sentToZones } from '../resources/token-revocation-list.js';
import { MemoryStore } from '../store/memory-store.js';
import { createLogger } from '../telemetry/logger.js';
import { DataplaneTokenError, ZoneTokenError } from './errors.js';
import { DataplaneTokens } from './dataplane-token.js';
import { endStreamsOnRevocation, RevocationList, revokedMessage } from './revocation-list.js';
import { StreamGuard } from './stream-guard.js';
import { ZoneTokens, ZoneTokenVerifier } from './zone-token.js';

function setup() {
  const bus = new InProcessEventBus();
  const store = new MemoryStore(bus);
  let logged = '';
  const log = createLogger({ component: 'test', level: 'debug', destination: new Writable({ write: (c, _e, cb) => ((logged += String(c)), cb()) }) });
  return { bus, store, log, logged: () => logged };
}

const ID = '0b6c5c7e-2f1d-4c55-9a53-1c4e2d1f7a10';
const OTHER = '7d0e1a52-97c4-4f0e-b1de-5a1f3c2b9e44';

async function rejectsWithCause(p: Promise<unknown>, status: number, cause: RegExp): Promise<BadRequestError> {
  const err = await p.then(() => assert.fail('expected a refusal'), (e: unknown) => e);
  assert.ok(err instanceof BadRequestError, String(err));
  assert.equal(err.status, status);
  assert.equal(err.causes[0]?.field, 'id');
  assert.match(err.causes[0]!.message, cause);
  return err;
}

describe('RevocationList', () => {
  test('revokes once, idempotently, and tells its listeners once', async () => {
    const { bus, store, log } = setup();
    const list = await RevocationList.open({ store, bus, kind: 'zone', log });
    const heard: string[][] = [];
    list.onRevoked((ids) => heard.push([...ids]));
    assert.equal(list.isRevoked(ID), false);
    assert.equal(await list.revoke(ID), 'revoked');
    // Synchronously with the answer: a REST caller knows the streams are ended when it returns.
    assert.equal(list.isRevoked(ID), true);
    assert.deepEqual(heard, [[ID]]);
    assert.equal(await list.revoke(ID), 'already-revoked');
    await list.idle();
    assert.deepEqual(heard, [[ID]], 'neither the second revoke nor the change event tells again');
    const stored = await store.get({ type: 'TokenRevocationList', name: revocationListName('zone') });
    assert.deepEqual(stored?.spec, { ids: [ID] });
    list.close();
  });

  test('follows what others write through store events: another replica, or KDS on a zone', async () => {
    const { bus, store } = setup();
    const here = await RevocationList.open({ store, bus, kind: 'dataplane' });
    const there = await RevocationList.open({ store, bus, kind: 'dataplane' });
    const zoneList = await RevocationList.open({ store, bus, kind: 'zone' });
    const heard: string[] = [];
    here.onRevoked((ids) => heard.push(...ids));
    await there.revoke(ID);
    await here.idle();
    assert.equal(here.isRevoked(ID), true);
    assert.deepEqual(heard, [ID]);
    assert.equal(zoneList.isRevoked(ID), false, 'lists of other kinds are separate');

    // A write that did not go through any RevocationList, as KDS applies global's list on a zone.
    await store.commit([{ op: 'put', resource: { type: 'TokenRevocationList', name: 'dataplane-tokens', labels: { 'kuma.io/origin': 'global' }, spec: { ids: [ID, OTHER] } } }]);
    await here.idle();
    assert.deepEqual(heard, [ID, OTHER]);
    assert.deepEqual(here.ids(), [ID, OTHER]);
    for (const l of [here, there, zoneList]) l.close();
  });

  test('loads what is stored when it opens', async () => {
    const { bus, store } = setup();
    await store.commit([{ op: 'put', resource: { type: 'TokenRevocationList', name: 'zone-tokens', labels: {}, spec: { ids: [ID] } } }]);
    const list = await RevocationList.open({ store, bus, kind: 'zone' });
    assert.equal(list.isRevoked(ID), true);
    assert.equal(list.size, 1);
    list.close();
  });

  test('refuses a bad id with the cause on "id", never echoing a whole token', async () => {
    const { bus, store } = setup();
    const list = await RevocationList.open({ store, bus, kind: 'zone' });
    await rejectsWithCause(list.revoke(''), 400, /^must not be empty$/);
    await rejectsWithCause(list.revoke('has space'), 400, /only letters, digits/);
    const jwt = `eyJhbGciOiJFUzI1NiJ9.${'eyJ6b25lIjoiem9uZS0xIn0'.repeat(4)}.${'c2lnbmF0dXJl'.repeat(6)}`;
    const err = await rejectsWithCause(list.revoke(jwt), 400, /must be the token id \(the "jti" of its payload\), not the token itself/);
    assert.ok(!JSON.stringify(err).includes(jwt) && !err.message.includes(jwt));
    assert.equal(list.size, 0);
    list.close();
  });

  test(`holds at most ${MAX_REVOKED_TOKEN_IDS} ids: one more is a 400 that says so`, async () => {
    const { bus, store } = setup();
    const ids = Array.from({ length: MAX_REVOKED_TOKEN_IDS }, (_, i) => `id-${i}`);
    await store.commit([{ op: 'put', resource: { type: 'TokenRevocationList', name: 'zone-tokens', labels: {}, spec: { ids } } }]);
    const list = await RevocationList.open({ store, bus, kind: 'zone' });
    assert.equal(list.size, MAX_REVOKED_TOKEN_IDS);
    const err = await rejectsWithCause(list.revoke(ID), 400, /at most 10000 zone tokens can be revoked/);
    assert.equal(err.title, 'Revocation list full');
    assert.equal(await list.revoke('id-9999'), 'already-revoked', 'a full list still answers for what it holds');
    list.close();
  });

  test('an unusable stored list revokes nothing new and un-revokes nothing; it is logged', async () => {
    const { bus, store, log, logged } = setup();
    const list = await RevocationList.open({ store, bus, kind: 'zone', log });
    await list.revoke(ID);
    await store.commit([{ op: 'put', resource: { type: 'TokenRevocationList', name: 'zone-tokens', labels: {}, spec: { ids: [ID, ID] } } }]);
    await list.idle();
    assert.equal(list.isRevoked(ID), true);
    assert.match(logged(), /TokenRevocationList \\"zone-tokens\\" is unusable \(ids: must not repeat an id\)/);
    list.close();
  });

  test('tells nothing after close', async () => {
    const { bus, store } = setup();
    const list = await RevocationList.open({ store, bus, kind: 'zone' });
    const writer = await RevocationList.open({ store, bus, kind: 'zone' });
    let heard = 0;
    list.onRevoked(() => heard++);
    list.close();
    await writer.revoke(ID);
    await list.idle();
    assert.equal(heard, 0);
    writer.close();
  });

  test('only the zone-token list is sent to zones over KDS', () => {
    assert.equal(sentToZones({ type: 'TokenRevocationList', name: 'zone-tokens' }), true);
    assert.equal(sentToZones({ type: 'TokenRevocationList', name: 'dataplane-tokens' }), false);
    assert.equal(sentToZones({ type: 'TokenRevocationList', name: 'user-tokens' }), false);
    assert.equal(sentToZones({ type: 'Mesh', name: 'default' }), true);
  });
});

describe('verifiers with a revocation check', () => {
  test('a revoked zone token is refused with reason "revoked", by global and by a zone holding only the public key', async () => {
    const { bus, store } = setup();
    const list = await RevocationList.open({ store, bus, kind: 'zone' });
    const tokens = await ZoneTokens.open(store, { isRevoked: list.isRevoked });
    const token = await tokens.issue({ zone: 'zone-1', scopes: ['zone', 'ingress'], validForMs: 3_600_000 });
    const { id } = await tokens.verify(token, { zone: 'zone-1', scope: 'zone' });
    const onZone = await ZoneTokenVerifier.fromPublicJwk(tokens.publicJwk(), { isRevoked: list.isRevoked });
    await list.revoke(id);
    for (const [who, verify] of [['global', tokens], ['a zone', onZone]] as const) {
      await assert.rejects(verify.verify(token, { zone: 'zone-1', scope: 'ingress' }), (err: unknown) => {
        assert.ok(err instanceof ZoneTokenError, who);
        assert.equal(err.reason, 'revoked');
        assert.equal(err.message, `zone token ${id} was revoked`);
        return true;
      });
    }
    const fresh = await tokens.issue({ zone: 'zone-1', scopes: ['zone'], validForMs: 3_600_000 });
    assert.equal((await tokens.verify(fresh, { zone: 'zone-1', scope: 'zone' })).zone, 'zone-1', 'other tokens still verify');
    list.close();
  });

  test('a revoked dataplane token is refused with reason "revoked"', async () => {
    const { bus, store } = setup();
    const list = await RevocationList.open({ store, bus, kind: 'dataplane' });
    const tokens = await DataplaneTokens.open(store, { isRevoked: list.isRevoked });
    const token = await tokens.issue({ mesh: 'default', name: 'web-1', validForMs: 3_600_000 });
    const { id } = await tokens.verify(token, { mesh: 'default', name: 'web-1' });
    await list.revoke(id);
    await assert.rejects(tokens.verify(token, { mesh: 'default', name: 'web-1' }), (err: unknown) => {
      assert.ok(err instanceof DataplaneTokenError);
      assert.equal(err.reason, 'revoked');
      assert.equal(err.message, `dataplane token ${id} was revoked`);
      return true;
    });
    list.close();
  });
});

describe('endStreamsOnRevocation', () => {
  test('ends the streams of the revoked token only, with the reason', async () => {
    const { bus, store } = setup();
    const list = await RevocationList.open({ store, bus, kind: 'dataplane' });
    const guard = new StreamGuard();
    endStreamsOnRevocation(list, guard);
    const ended: string[] = [];
    guard.watch({ kind: 'dataplane', id: ID, kid: 'k1' }, (r) => ended.push(`a: ${r}`));
    guard.watch({ kind: 'dataplane', id: OTHER, kid: 'k1' }, (r) => ended.push(`b: ${r}`));
    // Same id, another kind: jtis of different kinds are unrelated.
    guard.watch({ kind: 'zone', id: ID, kid: 'k1' }, (r) => ended.push(`c: ${r}`));
    await list.revoke(ID);
    assert.deepEqual(ended, [`a: ${revokedMessage('dataplane', ID)}`]);
    assert.equal(guard.size, 2);
    list.close();
  });

  test('a stream checked before a revocation but watched after it is ended too', async () => {
    const guard = new StreamGuard();
    guard.endMatching((c) => c.id === ID, 'zone token was revoked');
    const ended: string[] = [];
    const unwatch = guard.watch({ kind: 'zone', id: ID, kid: 'k1' }, (r) => ended.push(r));
    assert.equal(typeof unwatch, 'function');
    assert.deepEqual(ended, [], 'not from inside watch()');
    await Promise.resolve();
    assert.deepEqual(ended, ['zone token was revoked']);
    guard.watch({ kind: 'zone', id: OTHER, kid: 'k1' }, (r) => ended.push(r));
    await Promise.resolve();
    assert.equal(ended.length, 1);
  });

  test('an ending is forgotten after ten seconds', async () => {
    let now = 1_000_000;
    const guard = new StreamGuard(() => now);
    guard.endMatching((c) => c.id === ID, 'revoked');
    now += 10_001;
    const ended: string[] = [];
    guard.watch({ kind: 'zone', id: ID, kid: 'k1' }, (r) => ended.push(r));
    await Promise.resolve();
    assert.deepEqual(ended, []);
  });
});
