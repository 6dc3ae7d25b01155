// Signing-key rotation end to end, with the built CLI against real daemons: a key is added, tokens of
// both serials work, the old serial is removed, and what it authenticated ends at once (a zone's KDS
// stream on global, a proxy's ADS stream on a zone, an egress's on a federated zone) and is refused on
// reconnect, saying why; tokens of the new serial keep working. Replicas on Postgres follow each other.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { cleanups } from './support/cleanup.js';
import { eventually, FAST_GLOBAL, getJson, put, startZone, tmp, zoneToken } from './support/federation.js';
import { TEST_NATS_URL } from './support/nats.js';
import { createTestDatabase } from './support/postgres.js';
import { type RunningCp, startCp } from './support/processes.js';
import { XdsTestClient, xdsTargetOf } from './support/xds-client.js';
import { meshfed, show } from './support/cli.js';

const kidOf = (token: string) => (JSON.parse(Buffer.from(token.split('.')[0]!, 'base64url').toString()) as { kid: string }).kid;

async function cli(args: readonly string[]): Promise<string> {
  const r = await meshfed(args);
  assert.equal(r.code, 0, show(r));
  return r.stdout;
}

async function online(global: RunningCp, zone: string): Promise<boolean | undefined> {
  const r = await getJson(`${global.url}/zones+insights/${zone}`);
  return r.status === 200 ? r.body.online === true : undefined;
}

async function dataplaneToken(zone: RunningCp, name: string): Promise<string> {
  const res = await fetch(`${zone.url}/tokens/dataplane`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ mesh: 'default', name, validFor: '1h' }) });
  assert.equal(res.status, 200, await res.clone().text());
  return (await res.text()).trim();
}

const dataplane = (name: string, port: number) => ({
  type: 'Dataplane', mesh: 'default', name, networking: { address: '127.0.0.1', inbound: [{ port, tags: { 'kuma.io/service': name } }] },
});

/** Resolves with how long after `since` the check first held; polls every 20 ms, bounded. */
async function within(what: string, since: number, check: () => Promise<boolean> | boolean, timeoutMs = 5_000): Promise<number> {
  await eventually(what, async () => (await check()) || undefined, timeoutMs);
  return Date.now() - since;
}

describe('signing-key rotation', { timeout: 180_000 }, () => {
  test('zone tokens: both serials connect zones; removing serial 1 ends its zone at once and refuses it, serial 2 keeps working', async () => {
    const dir = tmp();
    cleanups.push(async () => dir.cleanup());
    const global = await startCp('global', FAST_GLOBAL);
    const cp = ['--cp', global.url];

    const oldToken = await zoneToken(global, 'zone-1');
    const added = await cli(['signing-keys', 'add', 'zone-token', ...cp]);
    assert.match(added, /^added zone token signing key serial 2 \(kid [\w-]+\): it signs new zone tokens; the older serials still verify theirs until removed\n$/);
    const newToken = await zoneToken(global, 'zone-2');
    const egressToken = await zoneToken(global, 'zone-2', ['egress']);
    assert.notEqual(kidOf(newToken), kidOf(oldToken), 'the new serial signs');

    const listed = await cli(['signing-keys', 'list', 'zone-token', ...cp]);
    const rows = listed.trim().split('\n').map((l) => l.split(/\s{3,}/));
    assert.deepEqual(rows[0], ['SERIAL', 'KID', 'CREATED', 'SIGNING']);
    assert.deepEqual(rows.slice(1).map((r) => [r[0], r[1], r[3]]), [['1', kidOf(oldToken), 'no'], ['2', kidOf(newToken), 'yes']]);
    const asJson = JSON.parse(await cli(['signing-keys', 'list', 'zone-token', '-o', 'json', ...cp])) as { items: { serial: number }[] };
    assert.deepEqual(asJson.items.map((k) => k.serial), [1, 2]);

    // One public key per serial for zones, the public half only.
    const published = (await getJson(`${global.url}/zone-token-public-keys`)).body.items as { name: string; jwk: Record<string, string> }[];
    assert.deepEqual(published.map((k) => [k.name, k.jwk.kid]).sort(), [['zone-token-signing-key', kidOf(oldToken)], ['zone-token-signing-key-2', kidOf(newToken)]]);
    assert.ok(published.every((k) => k.jwk.d === undefined));

    const z1 = await startZone(global, 'zone-1', dir.dir, [], oldToken);
    const z2 = await startZone(global, 'zone-2', dir.dir, [], newToken);
    await eventually('both zones online', async () => (await online(global, 'zone-1')) && (await online(global, 'zone-2')));
    await eventually('both keys in zone-2', async () => (await getJson(`${z2.url}/zone-token-public-keys`)).body.items.length === 2);

    // An egress of zone-2 connected with a zone token of serial 1, checked with the key that came over KDS.
    assert.equal((await put(`${z2.url}/zoneegresses/egress`, { type: 'ZoneEgress', name: 'egress', networking: { address: '127.0.0.1', port: 10002 } })).status, 201);
    const egress = new XdsTestClient(await xdsTargetOf(z2), 'egress', 'egress', egressToken);
    await eventually('the egress connected', async () => (await getJson(`${z2.url}/zoneegresses+insights`)).body.items.find((i: { name: string }) => i.name === 'egress')?.insight.connected === true);
    assert.equal(kidOf(egressToken), kidOf(newToken), 'issued after the add: serial 2');

    const removed = await meshfed(['signing-keys', 'remove', 'zone-token', '1', ...cp]);
    const removedAt = Date.now();
    assert.equal(removed.code, 0, show(removed));
    assert.equal(removed.stdout, `removed zone token signing key serial 1 (kid ${kidOf(oldToken)}): the zone tokens it signed are refused, and the streams they opened end\n`);
    const took = await within('zone-1 offline', removedAt, async () => (await online(global, 'zone-1')) === false);
    assert.ok(took < 1_500, `zone-1's KDS stream ended ${took} ms after the removal`);
    assert.match(global.logs(), /KDS: ending the zone's stream: signing key serial 1 was removed/);
    await eventually('zone-1 told why', async () => z1.logs().includes('signing key serial 1 was removed'));
    // Reconnecting with the same token is refused, and says which key and why.
    await eventually('zone-1 refused on reconnect', async () => /zone token was signed by key \\?"[\w-]+\\?", which this control plane does not have \(was it removed or issued elsewhere\?\)/.test(z1.logs()));
    assert.equal(await online(global, 'zone-1'), false);

    // Serial 2 keeps zone-2 online and its egress connected; the withdrawn key leaves zone-2 too.
    await eventually('serial 1 withdrawn from zone-2', async () => (await getJson(`${z2.url}/zone-token-public-keys/zone-token-signing-key`)).status === 404);
    assert.equal(await online(global, 'zone-2'), true);
    assert.equal(egress.error, undefined);
    const fresh = await zoneToken(global, 'zone-3');
    assert.equal(kidOf(fresh), kidOf(newToken));

    // The last key stays.
    const last = await meshfed(['signing-keys', 'remove', 'zone-token', '2', ...cp]);
    assert.equal(last.code, 1, show(last));
    assert.equal(last.stderr, 'Error: zone token signing key serial 2: last signing key (409)\n  zone token signing key serial 2 is the only one and cannot be removed: add a new one first, then remove this one\n');

    // A federated zone keeps none: it says to ask global.
    const onZone = await meshfed(['signing-keys', 'list', 'zone-token', '--cp', z2.url]);
    assert.equal(onZone.code, 1, show(onZone));
    assert.match(onZone.stderr, /zone token signing keys are kept by the global control plane: this zone is federated/);
  });

  test('zone tokens: an ingress or egress with a token of a removed serial is ended on its federated zone', async () => {
    const dir = tmp();
    cleanups.push(async () => dir.cleanup());
    const global = await startCp('global', FAST_GLOBAL);
    const cp = ['--cp', global.url];
    const egressToken = await zoneToken(global, 'zone-1', ['egress']);
    await cli(['signing-keys', 'add', 'zone-token', ...cp]);
    const zone = await startZone(global, 'zone-1', dir.dir);
    await eventually('both keys in zone-1', async () => (await getJson(`${zone.url}/zone-token-public-keys`)).body.items.length === 2);
    assert.equal((await put(`${zone.url}/zoneegresses/egress`, { type: 'ZoneEgress', name: 'egress', networking: { address: '127.0.0.1', port: 10002 } })).status, 201);
    const egress = new XdsTestClient(await xdsTargetOf(zone), 'egress', 'egress', egressToken);
    await eventually('the egress connected', async () => (await getJson(`${zone.url}/zoneegresses+insights`)).body.items.find((i: { name: string }) => i.name === 'egress')?.insight.connected === true);

    const removedAt = Date.now();
    await cli(['signing-keys', 'remove', 'zone-token', '1', ...cp]);
    // Global withdraws the public key; KDS carries the deletion; the zone ends the stream.
    const took = await within('the egress ended', removedAt, () => egress.error !== undefined);
    assert.ok(took < 3_000, `the egress stream ended ${took} ms after the removal`);
    assert.equal(egress.error!.details, 'signing key serial 1 was removed');
    const again = new XdsTestClient(await xdsTargetOf(zone), 'egress', 'egress', egressToken);
    await eventually('refused on reconnect', async () => again.error !== undefined);
    assert.match(again.error!.details ?? '', /^zone token was signed by key "[\w-]+", which this control plane does not have \(was it removed or issued elsewhere\?\)$/);
    assert.equal(await online(global, 'zone-1'), true, 'the zone itself connected with a serial-2 token');
  });

  test('dataplane tokens on a zone with two replicas on Postgres: removing serial 1 ends the ADS streams it authenticated on both', async () => {
    const db = await createTestDatabase();
    const store = ['--store', 'postgres', '--postgres-url', db.url, '--nats-url', TEST_NATS_URL, '--nats-subject-prefix', `meshfed-test.${process.pid}.${Date.now()}`];
    const a = await startCp('zone', store);
    const b = await startCp('zone', store);
    for (const [name, port] of [['web-1', 11001], ['web-2', 11002], ['web-3', 11003]] as const) {
      assert.equal((await put(`${a.url}/meshes/default/dataplanes/${name}`, dataplane(name, port))).status, 201);
    }
    const oldToken = await dataplaneToken(a, 'web-1');
    const oldTokenB = await dataplaneToken(b, 'web-3');
    assert.equal(kidOf(oldTokenB), kidOf(oldToken), 'replicas share the key');
    const added = await cli(['signing-keys', 'add', 'dataplane-token', '--cp', a.url]);
    assert.match(added, /^added dataplane token signing key serial 2 /);
    // Replica b learns of serial 2 from the bus, not by polling: its next token is signed by it.
    const newToken = await eventually('b signs with serial 2', async () => {
      const t = await dataplaneToken(b, 'web-2');
      return kidOf(t) !== kidOf(oldToken) ? t : undefined;
    });

    const onA = new XdsTestClient(await xdsTargetOf(a), 'default.web-1', 'dataplane', oldToken);
    const onB = new XdsTestClient(await xdsTargetOf(b), 'default.web-3', 'dataplane', oldTokenB);
    const kept = new XdsTestClient(await xdsTargetOf(b), 'default.web-2', 'dataplane', newToken);
    for (const c of [onA, onB, kept]) await c.waitFor('configured', (x) => x.names('listener').length > 0);

    const removedAt = Date.now();
    await cli(['signing-keys', 'remove', 'dataplane-token', '1', '--cp', a.url]);
    const took = await within('both old streams ended', removedAt, () => onA.error !== undefined && onB.error !== undefined);
    assert.ok(took < 1_500, `the ADS streams ended ${took} ms after the removal`);
    for (const c of [onA, onB]) {
      assert.equal(c.error!.code, 16, 'UNAUTHENTICATED');
      assert.equal(c.error!.details, 'signing key serial 1 was removed');
    }
    const again = new XdsTestClient(await xdsTargetOf(b), 'default.web-1', 'dataplane', oldToken);
    await eventually('refused on reconnect', async () => again.error !== undefined);
    assert.match(again.error!.details ?? '', /^dataplane token was signed by key "[\w-]+", which this zone control plane does not have \(was it removed or issued elsewhere\?\)$/);

    assert.equal(kept.error, undefined, 'serial 2 keeps its stream');
    const later = new XdsTestClient(await xdsTargetOf(a), 'default.web-2', 'dataplane', newToken);
    await later.waitFor('configured with serial 2', (x) => x.names('listener').length > 0);
    const listed = await cli(['signing-keys', 'list', 'dataplane-token', '-o', 'yaml', '--cp', b.url]);
    assert.match(listed, /^items:\n {2}- serial: 2\n/);
  });
});
