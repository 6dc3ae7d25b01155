// GET, POST and DELETE /tokens/{zone,dataplane}/signing-keys through the API server in process.
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { after, describe, test } from 'node:test';
import { DataplaneTokens } from '../auth/dataplane-token.js';
import { ZoneTokens } from '../auth/zone-token.js';
import { InProcessEventBus } from '../events/in-process-event-bus.js';
import { MemoryStore } from '../store/memory-store.js';
import { createLogger } from '../telemetry/logger.js';
import { Telemetry } from '../telemetry/telemetry.js';
import { buildApiServer } from './api-server.js';
import { refuseZoneSigningKeys, registerSigningKeyRoutes } from './signing-key-routes.js';

const quiet = () => createLogger({ component: 'test', destination: new Writable({ write: (_c, _e, cb) => cb() }) });

async function api(mode: 'standalone' | 'zone') {
  const bus = new InProcessEventBus();
  const store = new MemoryStore(bus);
  const telemetry = new Telemetry({ service: 'test' });
  const zone = await ZoneTokens.open(store, { bus });
  const dataplane = await DataplaneTokens.open(store, { bus });
  const app = buildApiServer({
    mode, store, log: quiet(), telemetry,
    extraRoutes: (a) => {
      if (mode === 'zone') refuseZoneSigningKeys(a);
      else registerSigningKeyRoutes(a, 'zone', zone.ring);
      registerSigningKeyRoutes(a, 'dataplane', dataplane.ring);
    },
  });
  after(async () => {
    await app.close();
    await telemetry.shutdown();
    zone.close();
    dataplane.close();
  });
  return { app, zone, dataplane };
}

describe('/tokens/<kind>/signing-keys', async () => {
  const { app, zone, dataplane } = await api('standalone');

  test('lists, adds the next serial, removes one; never key material', async () => {
    const first = await app.inject({ method: 'GET', url: '/tokens/zone/signing-keys' });
    assert.equal(first.statusCode, 200, first.body);
    const [one] = first.json().items;
    assert.deepEqual(Object.keys(one).sort(), ['createdAt', 'kid', 'serial', 'signing']);
    assert.deepEqual([one.serial, one.kid, one.signing], [1, zone.kid, true]);

    const added = await app.inject({ method: 'POST', url: '/tokens/zone/signing-keys' });
    assert.equal(added.statusCode, 201, added.body);
    assert.deepEqual([added.json().serial, added.json().signing, added.json().kid], [2, true, zone.kid]);
    const listed = (await app.inject({ method: 'GET', url: '/tokens/zone/signing-keys' })).json().items;
    assert.deepEqual(listed.map((k: { serial: number; signing: boolean }) => [k.serial, k.signing]), [[1, false], [2, true]]);
    assert.doesNotMatch(JSON.stringify(listed), /"d"|privateKey|"x"/);

    const removed = await app.inject({ method: 'DELETE', url: '/tokens/zone/signing-keys/1' });
    assert.equal(removed.statusCode, 200, removed.body);
    assert.deepEqual([removed.json().serial, removed.json().kid], [1, one.kid]);
    assert.deepEqual(zone.ring.info().map((k) => k.serial), [2]);
    assert.deepEqual(dataplane.ring.info().map((k) => k.serial), [1], "the dataplane keys are another ring");
  });

  test('the last key, an absent serial and a bad serial are refused, each saying why', async () => {
    const last = await app.inject({ method: 'DELETE', url: '/tokens/dataplane/signing-keys/1' });
    assert.equal(last.statusCode, 409, last.body);
    assert.deepEqual(last.json(), {
      title: 'Last signing key', causes: [],
      details: 'dataplane token signing key serial 1 is the only one and cannot be removed: add a new one first, then remove this one',
    });
    const absent = await app.inject({ method: 'DELETE', url: '/tokens/dataplane/signing-keys/4' });
    assert.equal(absent.statusCode, 404, absent.body);
    assert.equal(absent.json().details, 'there is no dataplane token signing key serial 4; present: 1');
    for (const bad of ['0', 'x', '1e2', '-1']) {
      const res = await app.inject({ method: 'DELETE', url: `/tokens/dataplane/signing-keys/${bad}` });
      assert.equal(res.statusCode, 400, `${bad}: ${res.body}`);
      assert.equal(res.json().causes[0].field, 'serial');
    }
  });
});

describe('a federated zone', async () => {
  const { app } = await api('zone');

  test('keeps no zone-token keys, and says to ask global', async () => {
    for (const [method, url] of [['GET', '/tokens/zone/signing-keys'], ['POST', '/tokens/zone/signing-keys'], ['DELETE', '/tokens/zone/signing-keys/1']] as const) {
      const res = await app.inject({ method, url });
      assert.equal(res.statusCode, 400, `${method} ${url}: ${res.body}`);
      assert.equal(res.json().title, 'Not kept here');
      assert.match(res.json().details, /^zone token signing keys are kept by the global control plane: this zone is federated\. Run "meshfed signing-keys list\|add\|remove zone-token --cp <global API URL>"$/);
    }
    assert.equal((await app.inject({ method: 'GET', url: '/tokens/dataplane/signing-keys' })).statusCode, 200, "dataplane keys are the zone's own");
  });
});
