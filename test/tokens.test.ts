// Zone and dataplane tokens end to end: the built `meshfed` CLI against real daemons, on Postgres; and
// global's public zone-token key reaching a federated zone over KDS.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { DataplaneTokens, PostgresStore, ZoneTokens, ZoneTokenVerifier } from '@meshfed/shared';
import { cleanups } from './support/cleanup.js';
import { eventually, FAST_GLOBAL, getJson, put, startZone, tmp, zoneToken } from './support/federation.js';
import { createTestDatabase } from './support/postgres.js';
import { startCp } from './support/processes.js';
import { meshfed, show } from './support/cli.js';

/** Verifies with the key global keeps in the database, as another replica of global would. */
async function verifyOn(url: string, token: string, expect: { zone: string; scope: 'zone' | 'ingress' | 'egress' }) {
  const store = await PostgresStore.open({ url, maxConnections: 2, connectTimeoutMs: 5000 });
  try {
    return await (await ZoneTokens.open(store)).verify(token, expect);
  } finally {
    await store.close();
  }
}

describe('zone tokens from the CLI', { timeout: 120_000 }, () => {
  test('global on Postgres issues tokens that verify, with the same key after a restart', async () => {
    const db = await createTestDatabase();
    const args = ['--store', 'postgres', '--postgres-url', db.url];

    const global = await startCp('global', args);
    const first = await meshfed(['generate', 'zone-token', '--zone', 'zone-1', '--scope', 'zone', '--valid-for', '720h', '--cp', global.url]);
    assert.equal(first.code, 0, show(first));
    assert.match(first.stdout, /^[\w-]+\.[\w-]+\.[\w-]+\n$/, 'one token and a newline');
    const v = await verifyOn(db.url, first.stdout, { zone: 'zone-1', scope: 'zone' });
    assert.equal(first.stderr, `token id ${v.id} (revoke it with "meshfed revoke zone-token ${v.id}")\n`);
    assert.deepEqual(v.scopes, ['zone']);
    assert.equal(v.expiresAt.getTime() - v.issuedAt.getTime(), 720 * 3_600_000);
    assert.ok(!global.logs().includes(first.stdout.trim()), 'the token is not in the log');
    assert.match(global.logs(), /"msg":"issued a zone token"/);

    assert.equal(await global.stop(), 0);
    const restarted = await startCp('global', args);
    const second = await meshfed(['generate', 'zone-token', '--zone', 'zone-2', '--scope', 'ingress', '--scope', 'egress', '--cp', restarted.url]);
    assert.equal(second.code, 0, show(second));
    assert.equal((await verifyOn(db.url, second.stdout, { zone: 'zone-2', scope: 'egress' })).kid, v.kid, 'the same key after a restart');
    assert.equal((await verifyOn(db.url, first.stdout, { zone: 'zone-1', scope: 'zone' })).zone, 'zone-1', 'tokens issued before still verify');
    assert.doesNotMatch(restarted.logs(), /created the zone token signing key/);
  });

  test('a bad request is explained field by field', async () => {
    const global = await startCp('global', []);
    const r = await meshfed(['generate', 'zone-token', '--zone', 'zone-1', '--scope', 'zone', '--valid-for', '11y', '--cp', global.url]);
    assert.equal(r.code, 1, show(r));
    assert.equal(r.stderr, 'Error: zone token for zone "zone-1" is invalid (400)\n  validFor: must be at most 10y (87600h)\n');
    assert.equal(r.stdout, '');
  });

  test('a standalone zone issues zone tokens; a federated zone refuses', async () => {
    const standalone = await startCp('zone', []);
    const ok = await meshfed(['generate', 'zone-token', '--zone', 'zone-1', '--scope', 'ingress', '--cp', standalone.url]);
    assert.equal(ok.code, 0, show(ok));

    const federated = await startCp('zone', ['--zone', 'zone-1', '--global-address', 'grpc://127.0.0.1:1', '--zone-token', 'placeholder']);
    const refused = await meshfed(['generate', 'zone-token', '--zone', 'zone-1', '--scope', 'zone', '--cp', federated.url]);
    assert.equal(refused.code, 1, show(refused));
    assert.match(refused.stderr, /^Error: zone token for zone "zone-1": not issued here \(400\)\n {2}zone tokens are issued by the global control plane/);
  });

  test('a standalone zone issues dataplane tokens signed by its own key, kept in its store', async () => {
    const db = await createTestDatabase();
    const zone = await startCp('zone', ['--store', 'postgres', '--postgres-url', db.url]);
    const r = await meshfed(['generate', 'dataplane-token', '--mesh', 'default', '--name', 'web-1', '--tag', 'kuma.io/service=web', '--valid-for', '24h', '--cp', zone.url]);
    assert.equal(r.code, 0, show(r));
    assert.match(r.stdout, /^[\w-]+\.[\w-]+\.[\w-]+\n$/, 'one token and a newline');

    const store = await PostgresStore.open({ url: db.url, maxConnections: 2, connectTimeoutMs: 5000 });
    try {
      const v = await (await DataplaneTokens.open(store)).verify(r.stdout, { mesh: 'default', name: 'web-1' });
      assert.equal(r.stderr, `token id ${v.id} (revoke it with "meshfed revoke dataplane-token ${v.id}")\n`);
      assert.deepEqual(v.tags, { 'kuma.io/service': 'web' });
      assert.equal(v.expiresAt.getTime() - v.issuedAt.getTime(), 24 * 3_600_000);
      // With the zone's xDS and API CAs, which bootstraps and operators trust and which must therefore
      // outlive restarts too, and the keys of its own user tokens.
      assert.deepEqual((await store.list('GlobalSecret')).items.map((s) => s.name).sort(), [
        'admin-user-token', 'api-ca', 'dataplane-token-signing-key', 'user-token-signing-key', 'xds-ca', 'zone-token-signing-key',
      ]);
    } finally {
      await store.close();
    }
    assert.ok(!zone.logs().includes(r.stdout.trim()), 'the token is not in the log');
    assert.match(zone.logs(), /"msg":"issued a dataplane token"/);

    const bad = await meshfed(['generate', 'dataplane-token', '--name', 'web-1', '--valid-for', '11y', '--cp', zone.url]);
    assert.equal(bad.code, 1, show(bad));
    assert.equal(bad.stderr, 'Error: dataplane token for "default.web-1" is invalid (400)\n  validFor: must be at most 10y (87600h)\n');
  });

  test("a federated zone receives global's public zone-token key over KDS, and issues its own dataplane tokens", async () => {
    const dir = tmp();
    cleanups.push(async () => dir.cleanup());
    const global = await startCp('global', FAST_GLOBAL);
    const published = await getJson(`${global.url}/zone-token-public-keys/zone-token-signing-key`);
    assert.equal(published.status, 200, JSON.stringify(published.body));
    assert.deepEqual(Object.keys(published.body.jwk).sort(), ['alg', 'crv', 'kid', 'kty', 'use', 'x', 'y'], 'the public half only');

    const zone = await startZone(global, 'zone-1', dir.dir);
    const received = await eventually("global's key in zone-1", async () => {
      const r = await getJson(`${zone.url}/zone-token-public-keys/zone-token-signing-key`);
      return r.status === 200 ? r.body : undefined;
    });
    assert.deepEqual(received.jwk, published.body.jwk);
    assert.equal(received.labels['kuma.io/origin'], 'global');

    // The key the zone holds verifies what global issues for this zone's ingress.
    const verifier = await ZoneTokenVerifier.fromPublicJwk(received.jwk);
    const ingressToken = await zoneToken(global, 'zone-1', ['ingress']);
    assert.equal((await verifier.verify(ingressToken, { zone: 'zone-1', scope: 'ingress' })).zone, 'zone-1');

    const write = await put(`${zone.url}/zone-token-public-keys/zone-token-signing-key`, received);
    assert.equal(write.status, 400);
    assert.match(((await write.json()) as { details: string }).details, /maintained by the control plane/);

    const dp = await meshfed(['generate', 'dataplane-token', '--name', 'web-1', '--cp', zone.url]);
    assert.equal(dp.code, 0, show(dp));
    const onGlobal = await meshfed(['generate', 'dataplane-token', '--name', 'web-1', '--cp', global.url]);
    assert.equal(onGlobal.code, 1, 'global issues no dataplane tokens: proxies connect to zones');
  });
});
