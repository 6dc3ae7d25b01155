import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { test } from 'node:test';
import { type CertificateAuthority, generateCa, InProcessEventBus, MemoryStore, type ResourceStore } from '@meshfed/shared';
import { meshCaSecretNames } from './ca-secrets.js';
import { MeshCaUnavailableError, WorkloadCertificateCache, type WorkloadCertificateCacheOptions } from './workload-certificate-cache.js';

const HOUR = 3_600_000;
const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');
const mtls = (dpExpiration?: string) => ({
  mtls: {
    enabledBackend: 'ca-1',
    backends: [{ name: 'ca-1', type: 'builtin', ...(dpExpiration ? { dpCert: { rotation: { expiration: dpExpiration } } } : {}) }],
  },
});

async function putMesh(store: ResourceStore, name: string, spec: Record<string, unknown>): Promise<void> {
  await store.commit([{ op: 'put', resource: { type: 'Mesh', name, labels: { 'kuma.io/origin': 'global' }, spec } }]);
}

/** What global's KDS sends down: the two CA Secrets of backend ca-1. */
async function putCa(store: ResourceStore, mesh: string, ca: CertificateAuthority): Promise<void> {
  const names = meshCaSecretNames(mesh, 'ca-1');
  const labels = { 'kuma.io/origin': 'global', 'kuma.io/mesh-ca': 'builtin' };
  await store.commit([
    { op: 'put', resource: { type: 'Secret', mesh, name: names.cert, labels, spec: { data: b64(ca.certPem) } } },
    { op: 'put', resource: { type: 'Secret', mesh, name: names.key, labels, spec: { data: b64(ca.keyPem) } } },
  ]);
}

async function zone(o: Partial<WorkloadCertificateCacheOptions> & { withBus?: boolean } = {}) {
  const bus = new InProcessEventBus();
  const store = new MemoryStore(bus);
  let now = Date.now();
  const ca = await generateCa({ commonName: 'default' });
  await putMesh(store, 'default', mtls());
  await putCa(store, 'default', ca);
  const cache = new WorkloadCertificateCache({ store, ...(o.withBus === false ? {} : { bus }), now: () => now, ...o });
  return { store, bus, ca, cache, advance: (ms: number) => (now += ms), now: () => now };
}

test('issues on demand and serves the same certificate until rotation is due, then a new one', async () => {
  const z = await zone();
  const first = await z.cache.get('default', 'backend');
  assert.ok(new X509Certificate(first.certPem).verify(new X509Certificate(z.ca.certPem).publicKey));
  assert.equal(first.caCertPem, z.ca.certPem);
  assert.equal(first.rotateAt.getTime(), first.issuedAt.getTime() + 0.8 * 24 * HOUR);
  assert.equal(await z.cache.get('default', 'backend'), first, 'reused');
  z.advance(19 * HOUR);
  assert.equal(await z.cache.get('default', 'backend'), first, 'still reused at 79%');
  z.advance(1 * HOUR);
  const second = await z.cache.get('default', 'backend');
  assert.notEqual(second.certPem, first.certPem, 'rotated at 80%');
  assert.equal(second.issuedAt.getTime(), z.now());
  assert.equal(z.cache.issued, 2);
  assert.equal(z.cache.size, 1);
  z.cache.close();
});

test('one certificate per (mesh, service); concurrent requests share one issuance', async () => {
  const z = await zone();
  const [a, b, c] = await Promise.all([z.cache.get('default', 'backend'), z.cache.get('default', 'backend'), z.cache.get('default', 'web')]);
  assert.equal(a, b);
  assert.notEqual(a.certPem, c?.certPem);
  assert.ok(c && new X509Certificate(c.certPem).subjectAltName?.includes('spiffe://default/web'));
  assert.equal(z.cache.issued, 2);
  z.cache.close();
});

test('one certificate per set of services, in any order, naming each', async () => {
  const z = await zone();
  const a = await z.cache.get('default', ['metrics', 'api']);
  const b = await z.cache.get('default', ['api', 'metrics', 'api']);
  assert.equal(a, b);
  assert.deepEqual(a.services, ['api', 'metrics']);
  const san = new X509Certificate(a.certPem).subjectAltName ?? '';
  assert.ok(san.includes('spiffe://default/api') && san.includes('spiffe://default/metrics'), san);
  assert.notEqual((await z.cache.get('default', 'api')).certPem, a.certPem, 'api alone is another identity');
  z.cache.close();
});

test('re-issues when the CA changes (with and without the bus)', async () => {
  for (const withBus of [true, false]) {
    const z = await zone({ withBus });
    const before = await z.cache.get('default', 'backend');
    const newCa = await generateCa({ commonName: 'default' });
    await putCa(z.store, 'default', newCa);
    const after = await z.cache.get('default', 'backend');
    assert.notEqual(after.certPem, before.certPem, `withBus=${withBus}`);
    assert.equal(after.caCertPem, newCa.certPem);
    assert.ok(new X509Certificate(after.certPem).verify(new X509Certificate(newCa.certPem).publicKey));
    // An unrelated Mesh update keeps the certificate.
    await putMesh(z.store, 'default', { ...mtls(), routing: { zoneEgress: true } });
    assert.equal(await z.cache.get('default', 'backend'), after);
    z.cache.close();
  }
});

test('dpCert.rotation.expiration sets the lifetime, and a change of it re-issues', async () => {
  const z = await zone();
  const day = await z.cache.get('default', 'backend');
  assert.equal(day.notAfter.getTime() - day.issuedAt.getTime(), 24 * HOUR);
  await putMesh(z.store, 'default', mtls('1h'));
  const hour = await z.cache.get('default', 'backend');
  assert.notEqual(hour, day);
  assert.equal(hour.notAfter.getTime() - hour.issuedAt.getTime(), HOUR);
  z.cache.close();
});

test('bounded: the least recently used entry goes first', async () => {
  const z = await zone({ maxEntries: 3 });
  const a = await z.cache.get('default', 'a');
  await z.cache.get('default', 'b');
  await z.cache.get('default', 'c');
  assert.equal(await z.cache.get('default', 'a'), a, 'a used again: b is now the oldest');
  await z.cache.get('default', 'd');
  assert.equal(z.cache.size, 3);
  assert.equal(await z.cache.get('default', 'a'), a, 'a kept');
  const issued = z.cache.issued;
  await z.cache.get('default', 'b');
  assert.equal(z.cache.issued, issued + 1, 'b was evicted and is issued again');
  assert.equal(z.cache.size, 3);
  z.cache.close();
});

test('clear errors when there is nothing to sign with; works once the CA arrives', async () => {
  const z = await zone();
  await putMesh(z.store, 'plain', {});
  await assert.rejects(z.cache.get('plain', 'web'), (err: Error) => err instanceof MeshCaUnavailableError && /mTLS is not enabled/.test(err.message));
  await assert.rejects(z.cache.get('nowhere', 'web'), /does not exist/);
  await putMesh(z.store, 'late', mtls());
  await assert.rejects(z.cache.get('late', 'web'), /has not arrived from global/);
  await putCa(z.store, 'late', await generateCa({ commonName: 'late' }));
  const cert = await z.cache.get('late', 'web');
  assert.ok(new X509Certificate(cert.certPem).subjectAltName?.includes('spiffe://late/web'));
  z.advance(20 * 365 * 24 * HOUR);
  await assert.rejects(z.cache.get('late', 'web'), /expired/);
  z.cache.close();
});

test('a deleted mesh takes its entries along', async () => {
  const z = await zone();
  await z.cache.get('default', 'backend');
  await z.store.commit([{ op: 'delete', key: { type: 'Mesh', name: 'default' } }]);
  assert.equal(z.cache.size, 0);
  await assert.rejects(z.cache.get('default', 'backend'), MeshCaUnavailableError);
  z.cache.close();
});
