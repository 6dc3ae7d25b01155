import 'reflect-metadata';
import assert from 'node:assert/strict';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { test } from 'node:test';
import * as x509 from '@peculiar/x509';
import { InProcessEventBus, MemoryStore, type ResourceStore, type StoredResource } from '@meshfed/shared';
import { capturingLogger, countingStore, sleep, waitFor } from '../insights/testing.js';
import { MESH_CA_BACKEND_LABEL, MESH_CA_LABEL, meshCaSecretNames } from './ca-secrets.js';
import { MeshCaManager, type MeshCaManagerOptions } from './mesh-ca-manager.js';
import { generateMeshRootCa, type MeshRootCaOptions } from './root-ca.js';

const DAY = 86_400_000;
const builtin = (backend = 'ca-1', conf?: Record<string, unknown>) => ({
  mtls: { enabledBackend: backend, backends: [{ name: backend, type: 'builtin', ...(conf ? { conf } : {}) }] },
});

function setup(inner?: ResourceStore) {
  const bus = new InProcessEventBus();
  const store = inner ?? new MemoryStore(bus);
  const { log, lines } = capturingLogger();
  const managers: MeshCaManager[] = [];
  const manager = (o: Partial<MeshCaManagerOptions> = {}) => {
    const m = new MeshCaManager({ store, bus, log, ...o });
    managers.push(m);
    return m;
  };
  const putMesh = (name: string, spec: Record<string, unknown> = {}) =>
    store.commit([{ op: 'put', resource: { type: 'Mesh', name, labels: {}, spec } }]);
  const secrets = async (mesh: string) => (await store.list('Secret', { mesh })).items;
  const stop = () => Promise.all(managers.map((m) => m.stop()));
  return { bus, store, log, lines, manager, putMesh, secrets, stop };
}

const pem = (s: StoredResource) => Buffer.from(String(s.spec['data']), 'base64').toString('utf8');

test('a mesh with a builtin backend gets exactly one CA at start; a mesh without mTLS gets none', async () => {
  const t = setup();
  await t.putMesh('secure', builtin());
  await t.putMesh('plain');
  const m = t.manager();
  m.start();
  await m.idle();
  const secrets = await t.secrets('secure');
  const names = meshCaSecretNames('secure', 'ca-1');
  assert.deepEqual(secrets.map((s) => s.name).sort(), [names.cert, names.key].sort());
  assert.equal(names.cert, 'secure.ca-builtin-cert-ca-1');
  assert.equal(names.key, 'secure.ca-builtin-key-ca-1');
  for (const s of secrets) assert.deepEqual(s.labels, { [MESH_CA_LABEL]: 'builtin', [MESH_CA_BACKEND_LABEL]: 'ca-1' });
  assert.deepEqual(await t.secrets('plain'), []);
  // Checking again changes nothing.
  assert.equal((await m.ensure('secure')).status, 'exists');
  assert.deepEqual((await t.secrets('secure')).map((s) => s.version), secrets.map((s) => s.version));
  await t.stop();
});

test('the CA is a CA for the mesh: CN, SPIFFE trust domain, key usage, configured validity, matching key', async () => {
  const t = setup();
  await t.putMesh('default', builtin('ca-1', { caCert: { expiration: '2y' } }));
  const m = t.manager();
  m.start();
  await m.idle();
  const names = meshCaSecretNames('default', 'ca-1');
  const cert = await t.store.get({ type: 'Secret', mesh: 'default', name: names.cert });
  const key = await t.store.get({ type: 'Secret', mesh: 'default', name: names.key });
  assert.ok(cert && key);
  const ca = new X509Certificate(pem(cert));
  assert.equal(ca.ca, true);
  assert.equal(ca.subject, 'CN=default');
  assert.equal(ca.subjectAltName, 'URI:spiffe://default');
  assert.ok(ca.checkPrivateKey(createPrivateKey(pem(key))), 'key secret holds the CA key');
  assert.match(pem(key), /^-----BEGIN PRIVATE KEY-----/, 'PKCS #8');
  assert.equal(createPrivateKey(pem(key)).asymmetricKeyDetails?.namedCurve, 'prime256v1');
  assert.ok(ca.verify(ca.publicKey), 'self-signed');
  const lifetime = Date.parse(ca.validTo) - Date.now();
  assert.ok(Math.abs(lifetime - 2 * 365 * DAY) < DAY, `about 2 years, got ${lifetime / DAY} days`);
  const parsed = new x509.X509Certificate(pem(cert));
  const usages = parsed.getExtension(x509.KeyUsagesExtension);
  assert.ok(usages && usages.critical && (usages.usages & x509.KeyUsageFlags.keyCertSign) !== 0);
  const constraints = parsed.getExtension(x509.BasicConstraintsExtension);
  assert.ok(constraints?.ca && constraints.critical);
  await t.stop();
});

test('the default validity is 10 years, and RSAbits is noted as ignored', async () => {
  const t = setup();
  await t.putMesh('default', builtin('ca-1', { caCert: { RSAbits: 2048 } }));
  const m = t.manager();
  m.start();
  await m.idle();
  const cert = await t.store.get({ type: 'Secret', mesh: 'default', name: meshCaSecretNames('default', 'ca-1').cert });
  assert.ok(cert);
  const years = (Date.parse(new X509Certificate(pem(cert)).validTo) - Date.now()) / (365 * DAY);
  assert.ok(Math.abs(years - 10) < 0.01, `${years} years`);
  assert.ok(t.lines.some((l) => String(l['msg']).includes('RSAbits is ignored')));
  await t.stop();
});

test('two replicas racing on one store make one CA, and both see the same', async () => {
  const t = setup();
  await t.putMesh('default', builtin());
  let generated = 0;
  // Slow generation, so both replicas read "no CA" before either writes.
  const slow = async (o: MeshRootCaOptions) => {
    generated++;
    const ca = await generateMeshRootCa(o);
    await sleep(30);
    return ca;
  };
  const a = t.manager({ generate: slow });
  const b = t.manager({ generate: slow });
  const outcomes = await Promise.all([a.ensure('default'), b.ensure('default')]);
  assert.deepEqual(outcomes.map((o) => o.status).sort(), ['created', 'exists']);
  assert.equal(generated, 2, 'both tried');
  assert.equal((await t.secrets('default')).length, 2);

  // And through start(): both scan the same new mesh at once.
  await t.putMesh('other', builtin('b'));
  await t.putMesh('third', builtin('c'));
  a.start();
  b.start();
  await Promise.all([a.idle(), b.idle()]);
  for (const mesh of ['default', 'other', 'third']) assert.equal((await t.secrets(mesh)).length, 2, mesh);
  assert.equal(t.lines.filter((l) => l['msg'] === 'mesh CA created').length, 3, 'one CA per mesh');
  await t.stop();
});

test('event-driven: a mesh created or updated to use a builtin backend gets its CA without a restart', async () => {
  const t = setup();
  const m = t.manager();
  m.start();
  await m.idle();
  await t.putMesh('late');
  await m.idle();
  assert.deepEqual(await t.secrets('late'), []);
  await t.putMesh('late', builtin());
  await waitFor('CA of late', async () => (await t.secrets('late')).length === 2);
  await t.putMesh('born-secure', builtin('x'));
  await waitFor('CA of born-secure', async () => (await t.secrets('born-secure')).length === 2);
  await t.stop();
});

test('never rotated or deleted by mesh updates; a new backend gets its own CA; mesh delete takes them along', async () => {
  const t = setup();
  await t.putMesh('default', builtin('ca-1'));
  const m = t.manager();
  m.start();
  await m.idle();
  const before = await t.secrets('default');
  await t.putMesh('default', {});
  await m.idle();
  await t.putMesh('default', builtin('ca-1'));
  await m.idle();
  assert.deepEqual(await t.secrets('default'), before, 'mTLS off and on again: same CA, untouched');

  await t.putMesh('default', { mtls: { enabledBackend: 'ca-2', backends: [{ name: 'ca-1', type: 'builtin' }, { name: 'ca-2', type: 'builtin' }] } });
  await m.idle();
  const names = (await t.secrets('default')).map((s) => s.name).sort();
  assert.deepEqual(names, ['default.ca-builtin-cert-ca-1', 'default.ca-builtin-cert-ca-2', 'default.ca-builtin-key-ca-1', 'default.ca-builtin-key-ca-2']);

  await t.store.commit([{ op: 'delete', key: { type: 'Mesh', name: 'default' } }]);
  await m.idle();
  assert.deepEqual(await t.secrets('default'), []);
  await t.stop();
});

test('half a CA is reported and left alone; both deleted by hand make a new CA', async () => {
  const t = setup();
  await t.putMesh('default', builtin());
  const m = t.manager();
  m.start();
  await m.idle();
  const names = meshCaSecretNames('default', 'ca-1');
  const oldCert = await t.store.get({ type: 'Secret', mesh: 'default', name: names.cert });
  await t.store.commit([{ op: 'delete', key: { type: 'Secret', mesh: 'default', name: names.key } }]);
  await m.idle();
  assert.deepEqual((await t.secrets('default')).map((s) => s.name), [names.cert]);
  assert.equal((await m.ensure('default')).status, 'broken');
  assert.ok(t.lines.some((l) => l['level'] === 'error' && String(l['msg']).includes('does not replace half a CA')));

  await t.store.commit([{ op: 'delete', key: { type: 'Secret', mesh: 'default', name: names.cert } }]);
  await waitFor('a new CA', async () => (await t.secrets('default')).length === 2);
  const newCert = await t.store.get({ type: 'Secret', mesh: 'default', name: names.cert });
  assert.notEqual(newCert?.spec['data'], oldCert?.spec['data']);
  await t.stop();
});

test('a store failure is retried with backoff', async () => {
  const bus = new InProcessEventBus();
  const counting = countingStore(new MemoryStore(bus));
  const t = setup(counting.store);
  await counting.store.commit([{ op: 'put', resource: { type: 'Mesh', name: 'default', labels: {}, spec: builtin() } }]);
  counting.failNext(2);
  const m = new MeshCaManager({ store: counting.store, bus, log: t.log, retryBaseMs: 10, retryMaxMs: 50 });
  m.start();
  await waitFor('CA after retries', async () => (await t.secrets('default')).length === 2);
  assert.ok(t.lines.filter((l) => l['msg'] === 'mesh CA: check failed').length >= 2);
  await m.stop();
});

test('stop unsubscribes: later meshes get no CA from a stopped manager', async () => {
  const t = setup();
  const m = t.manager();
  m.start();
  await m.idle();
  await m.stop();
  await t.putMesh('after', builtin());
  await sleep(20);
  assert.deepEqual(await t.secrets('after'), []);
  assert.throws(() => m.start(), /stopped/);
});
