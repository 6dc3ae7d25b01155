// POST and GET /tokens/{zone,dataplane}/revocations through the API server in process.
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { after, describe, test } from 'node:test';
import { RevocationList } from '../auth/revocation-list.js';
import { InProcessEventBus } from '../events/in-process-event-bus.js';
import { MemoryStore } from '../store/memory-store.js';
import { createLogger } from '../telemetry/logger.js';
import { Telemetry } from '../telemetry/telemetry.js';
import { buildApiServer } from './api-server.js';
import { refuseZoneTokenRevocations, registerRevocationRoutes } from './revocation-routes.js';

const quiet = () => createLogger({ component: 'test', destination: new Writable({ write: (_c, _e, cb) => cb() }) });
const ID = '0b6c5c7e-2f1d-4c55-9a53-1c4e2d1f7a10';

async function api(mode: 'standalone' | 'zone') {
  const bus = new InProcessEventBus();
  const store = new MemoryStore(bus);
  const log = quiet();
  const telemetry = new Telemetry({ service: 'test' });
  const zone = await RevocationList.open({ store, bus, kind: 'zone' });
  const dataplane = await RevocationList.open({ store, bus, kind: 'dataplane' });
  const app = buildApiServer({
    mode, store, log, telemetry,
    extraRoutes: (a) => {
      if (mode === 'zone') refuseZoneTokenRevocations(a, zone);
      else registerRevocationRoutes(a, zone);
      registerRevocationRoutes(a, dataplane);
    },
  });
  after(async () => {
    await app.close();
    await telemetry.shutdown();
    zone.close();
    dataplane.close();
  });
  const post = (path: string, payload: string, contentType = 'application/json') => app.inject({ method: 'POST', url: path, payload, headers: { 'content-type': contentType } });
  return { app, store, zone, dataplane, post };
}

describe('POST /tokens/{zone,dataplane}/revocations', async () => {
  const { app, zone, dataplane, post } = await api('standalone');

  test('revokes, idempotently, and GET lists the ids', async () => {
    const first = await post('/tokens/zone/revocations', JSON.stringify({ id: ID }));
    assert.equal(first.statusCode, 200, first.body);
    assert.deepEqual(first.json(), { kind: 'zone', id: ID, outcome: 'revoked' });
    assert.equal(zone.isRevoked(ID), true);
    assert.equal(dataplane.isRevoked(ID), false);
    const again = await post('/tokens/zone/revocations', `id: ${ID}\n`, 'application/yaml');
    assert.equal(again.statusCode, 200, again.body);
    assert.deepEqual(again.json(), { kind: 'zone', id: ID, outcome: 'already-revoked' });

    const dp = await post('/tokens/dataplane/revocations', JSON.stringify({ id: 'dp-1' }));
    assert.deepEqual(dp.json(), { kind: 'dataplane', id: 'dp-1', outcome: 'revoked' });
    const list = await app.inject({ method: 'GET', url: '/tokens/zone/revocations' });
    assert.equal(list.statusCode, 200);
    assert.deepEqual(list.json(), { kind: 'zone', total: 1, ids: [ID] });
    assert.deepEqual((await app.inject({ method: 'GET', url: '/tokens/dataplane/revocations' })).json(), { kind: 'dataplane', total: 1, ids: ['dp-1'] });
    // The same list through the generic resource routes, read-only.
    const stored = await app.inject({ method: 'GET', url: '/token-revocation-lists/zone-tokens' });
    assert.equal(stored.statusCode, 200, stored.body);
    assert.deepEqual(stored.json().ids, [ID]);
    const write = await app.inject({ method: 'PUT', url: '/token-revocation-lists/zone-tokens', payload: { type: 'TokenRevocationList', name: 'zone-tokens', ids: [] } });
    assert.equal(write.statusCode, 400);
    assert.match(write.json().details, /maintained by the control plane/);
  });

  const BAD: [string, string, string[]][] = [
    ['not an object', '[]', [': the body must be a JSON object with the id of the token to revoke']],
    ['empty object', '{}', ['id: is required']],
    ['id not a string', '{"id":7}', ['id: must be a string: the token id (its "jti")']],
    ['empty id', '{"id":""}', ['id: must not be empty']],
    ['unknown field', `{"id":"${ID}","kind":"zone"}`, ['kind: unknown field "kind": use id']],
  ];
  for (const [name, payload, causes] of BAD) {
    test(`a bad body is a 400 with the field of each problem: ${name}`, async () => {
      const res = await post('/tokens/dataplane/revocations', payload);
      assert.equal(res.statusCode, 400, res.body);
      const body = res.json() as { title: string; details: string; causes: { field: string; message: string }[] };
      assert.equal(body.details, 'the dataplane token revocation is invalid');
      assert.deepEqual(body.causes.map((c) => `${c.field}: ${c.message}`), causes);
    });
  }

  test('a whole token given as the id is refused without being echoed', async () => {
    const jwt = `eyJhbGciOiJFUzI1NiIsImtpZCI6ImsifQ.${'eyJqdGkiOiJ4In0'.repeat(6)}.${'c2ln'.repeat(20)}`;
    const res = await post('/tokens/zone/revocations', JSON.stringify({ id: jwt }));
    assert.equal(res.statusCode, 400);
    assert.ok(!res.body.includes(jwt));
    assert.match(res.body, /not the token itself/);
  });
});

describe('a federated zone', async () => {
  const { app, store, zone, post } = await api('zone');

  test('refuses zone-token revocations, pointing to global, and shows the list it received', async () => {
    const res = await post('/tokens/zone/revocations', JSON.stringify({ id: ID }));
    assert.equal(res.statusCode, 400);
    assert.equal(res.json().title, 'Not revoked here');
    assert.match(res.json().details, /^zone tokens are revoked on the global control plane.*meshfed revoke zone-token ID --cp <global API URL>"$/);
    await store.commit([{ op: 'put', resource: { type: 'TokenRevocationList', name: 'zone-tokens', labels: { 'kuma.io/origin': 'global' }, spec: { ids: [ID] } } }]);
    await zone.idle();
    assert.deepEqual((await app.inject({ method: 'GET', url: '/tokens/zone/revocations' })).json(), { kind: 'zone', total: 1, ids: [ID] });
    const dp = await post('/tokens/dataplane/revocations', JSON.stringify({ id: ID }));
    assert.equal(dp.statusCode, 200, 'dataplane tokens are the zone\'s own');
  });
});
