import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import pg from 'pg';
import { meshCaSecretNames, issueWorkloadCertificate } from '../packages/zone/src/mesh-ca/index.js';
import { eventually, FAST_GLOBAL, getJson, startZone, tmp } from './support/federation.js';
import { createTestDatabase } from './support/postgres.js';
import { type RunningCp, startCp } from './support/processes.js';
import { cleanups } from './support/cleanup.js';

const MESH = join(import.meta.dirname, '..', 'examples', 'mesh-mtls-zoneegress.yaml');

interface SecretAnswer {
  readonly name: string;
  readonly mesh: string;
  readonly data: string;
  readonly labels: Record<string, string>;
}

async function secret(cp: RunningCp, mesh: string, name: string): Promise<SecretAnswer | undefined> {
  const res = await getJson(`${cp.url}/meshes/${mesh}/secrets/${name}`);
  return res.status === 200 ? (res.body as SecretAnswer) : undefined;
}

const pem = (s: { data: string }) => Buffer.from(s.data, 'base64').toString('utf8');

/**
 * A Secret as a control plane stored it, read from its database: the API never serves a mesh CA's
 * private key, so only the store can show that it reached a zone.
 */
async function stored(dbUrl: string, mesh: string, name: string): Promise<{ data: string } | undefined> {
  const client = new pg.Client({ connectionString: dbUrl });
  await client.connect();
  try {
    const { rows } = await client.query<{ spec: { data: string } }>("select spec from resources where type = 'Secret' and mesh = $1 and name = $2", [mesh, name]);
    return rows[0]?.spec;
  } finally {
    await client.end();
  }
}

describe('mesh CA: made once on global, the same root in every zone', () => {
  const t = tmp();
  cleanups.push(t.cleanup);

  test('applying the example Mesh on global gives both zones the same CA, and zone-issued leaves verify against it', async () => {
    const [dbG, db1, db2] = await Promise.all([createTestDatabase(), createTestDatabase(), createTestDatabase()]);
    const onDb = (db: { url: string }) => ['--store', 'postgres', '--postgres-url', db.url];
    const global = await startCp('global', [...FAST_GLOBAL, ...onDb(dbG)]);
    const [z1, z2] = await Promise.all([startZone(global, 'zone-1', t.dir, onDb(db1)), startZone(global, 'zone-2', t.dir, onDb(db2))]);
    assert.ok(z1 && z2);
    const names = meshCaSecretNames('default', 'ca-1');
    // The default mesh has no mTLS yet: no CA anywhere.
    assert.equal(await secret(global, 'default', names.cert), undefined);

    const res = await fetch(`${global.url}/meshes/default`, { method: 'PUT', headers: { 'content-type': 'application/yaml' }, body: readFileSync(MESH, 'utf8') });
    assert.ok(res.status === 200 || res.status === 201, `PUT example mesh: ${res.status} ${await res.text()}`);

    const cert = await eventually('CA certificate on global', () => secret(global, 'default', names.cert));
    const key = await eventually('CA key on global', () => stored(dbG.url, 'default', names.key));
    const refused = await getJson(`${global.url}/meshes/default/secrets/${names.key}`);
    assert.equal(refused.status, 403, "the CA's private key is never served by the API");
    assert.ok(!JSON.stringify((await getJson(`${global.url}/meshes/default/secrets`)).body).includes(names.key), 'nor listed');
    assert.equal(cert.labels['kuma.io/mesh-ca'], 'builtin');
    const ca = new X509Certificate(pem(cert));
    assert.equal(ca.ca, true);
    assert.equal(ca.subjectAltName, 'URI:spiffe://default');

    for (const [z, db] of [[z1, db1], [z2, db2]] as const) {
      const zCert = await eventually(`CA certificate in ${z.url}`, () => secret(z, 'default', names.cert));
      const zKey = await eventually(`CA key in ${z.url}`, () => stored(db.url, 'default', names.key));
      assert.equal((await getJson(`${z.url}/meshes/default/secrets/${names.key}`)).status, 403, 'zones do not serve it either');
      assert.equal(zCert.data, cert.data, 'the same CA certificate as global');
      assert.equal(zKey.data, key.data);
      assert.equal(zCert.labels['kuma.io/origin'], 'global');
    }
    const inZone2 = await secret(z2, 'default', names.cert);
    assert.ok(inZone2);

    // A certificate issued with zone-1's copy verifies against zone-2's: one root for all zones.
    const fromZone1 = { cert: await secret(z1, 'default', names.cert), key: await stored(db1.url, 'default', names.key) };
    assert.ok(fromZone1.cert && fromZone1.key);
    const leaf = await issueWorkloadCertificate({ caCertPem: pem(fromZone1.cert), caKeyPem: pem(fromZone1.key), mesh: 'default', service: 'backend' });
    const leafCert = new X509Certificate(leaf.certPem);
    assert.ok(leafCert.verify(new X509Certificate(pem(inZone2)).publicKey));
    assert.ok(leafCert.subjectAltName?.includes('URI:spiffe://default/backend'));

    // Applying the same Mesh again keeps the CA.
    await fetch(`${global.url}/meshes/default`, { method: 'PUT', headers: { 'content-type': 'application/yaml' }, body: readFileSync(MESH, 'utf8') });
    await new Promise((r) => setTimeout(r, 300));
    assert.equal((await secret(global, 'default', names.cert))?.data, cert.data);
  });
});
