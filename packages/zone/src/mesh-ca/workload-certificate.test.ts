import assert from 'node:assert/strict';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { describe, test } from 'node:test';
import { generateCa, generateSelfSignedCertificate } from '@meshfed/shared';
import { DEFAULT_WORKLOAD_VALIDITY_MS, issueWorkloadCertificate, MeshCaSigner, needsRotation, rotationDueAt } from './workload-certificate.js';

const HOUR = 3_600_000;

describe('issueWorkloadCertificate', async () => {
  const ca = await generateCa({ commonName: 'default' });
  const caCert = new X509Certificate(ca.certPem);

  test('a leaf signed by the mesh CA, with the SPIFFE id and Kuma service URI', async () => {
    const now = Date.now();
    const leaf = await issueWorkloadCertificate({ caCertPem: ca.certPem, caKeyPem: ca.keyPem, mesh: 'default', service: 'backend', now });
    const cert = new X509Certificate(leaf.certPem);
    assert.ok(cert.verify(caCert.publicKey), 'verifies against the CA');
    assert.ok(cert.checkIssued(caCert));
    assert.equal(cert.ca, false);
    assert.equal(cert.subjectAltName, 'URI:spiffe://default/backend, URI:kuma://kuma.io/service/backend');
    assert.deepEqual([...(cert.keyUsage ?? [])].sort(), ['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2'], 'EKU serverAuth and clientAuth');
    assert.ok(cert.checkPrivateKey(createPrivateKey(leaf.keyPem)));
    assert.equal(createPrivateKey(leaf.keyPem).asymmetricKeyDetails?.namedCurve, 'prime256v1');
    assert.equal(leaf.issuedAt.getTime(), now);
    assert.equal(leaf.notAfter.getTime(), now + DEFAULT_WORKLOAD_VALIDITY_MS);
    assert.equal(Date.parse(cert.validTo), Math.floor(leaf.notAfter.getTime() / 1000) * 1000);
    assert.ok(Date.parse(cert.validFrom) < now, 'backdated for clock skew');
  });

  test('a dataplane serving several services gets one leaf naming each of them', async () => {
    const leaf = await issueWorkloadCertificate({ caCertPem: ca.certPem, caKeyPem: ca.keyPem, mesh: 'default', service: 'api', additionalServices: ['metrics', 'api'] });
    const cert = new X509Certificate(leaf.certPem);
    assert.equal(cert.subjectAltName, 'URI:spiffe://default/api, URI:kuma://kuma.io/service/api, URI:spiffe://default/metrics, URI:kuma://kuma.io/service/metrics');
    assert.match(cert.subject, /CN=api/);
    await assert.rejects(issueWorkloadCertificate({ caCertPem: ca.certPem, caKeyPem: ca.keyPem, mesh: 'default', service: 'api', additionalServices: ['bad name'] }), /invalid service name "bad name"/);
  });

  test('validity is the one asked for, and never beyond the CA', async () => {
    const now = Date.now();
    const hour = await issueWorkloadCertificate({ caCertPem: ca.certPem, caKeyPem: ca.keyPem, mesh: 'default', service: 'web', validityMs: HOUR, now });
    assert.equal(hour.notAfter.getTime(), now + HOUR);
    const shortCa = await generateCa({ commonName: 'short', validDays: 1 });
    const clamped = await issueWorkloadCertificate({ caCertPem: shortCa.certPem, caKeyPem: shortCa.keyPem, mesh: 'default', service: 'web', validityMs: 30 * 24 * HOUR, now });
    assert.ok(clamped.notAfter.getTime() <= Date.parse(new X509Certificate(shortCa.certPem).validTo) + 1000);
    await assert.rejects(
      issueWorkloadCertificate({ caCertPem: shortCa.certPem, caKeyPem: shortCa.keyPem, mesh: 'default', service: 'web', now: now + 2 * 24 * HOUR }),
      /expired/,
    );
  });

  test('refuses a key of another CA, a certificate that is not a CA, garbage, and bad names', async () => {
    const other = await generateCa();
    await assert.rejects(MeshCaSigner.load(ca.certPem, other.keyPem), /does not belong/);
    const server = await generateSelfSignedCertificate({ commonName: 'localhost' });
    await assert.rejects(MeshCaSigner.load(server.certPem, server.keyPem), /not a CA/);
    await assert.rejects(MeshCaSigner.load('garbage', ca.keyPem), /does not parse/);
    await assert.rejects(MeshCaSigner.load(ca.certPem, 'garbage'), /does not parse/);
    const signer = await MeshCaSigner.load(ca.certPem, ca.keyPem);
    await assert.rejects(signer.issue({ mesh: 'Bad Mesh', service: 'web' }), /invalid mesh name/);
    await assert.rejects(signer.issue({ mesh: 'default', service: 'we b' }), /invalid service name/);
    await assert.rejects(signer.issue({ mesh: 'default', service: 'web', validityMs: 0 }), /positive/);
  });

  test('a service name too long for a common name is carried by the SANs alone', async () => {
    const service = `svc-${'x'.repeat(80)}`;
    const leaf = await issueWorkloadCertificate({ caCertPem: ca.certPem, caKeyPem: ca.keyPem, mesh: 'default', service });
    const cert = new X509Certificate(leaf.certPem);
    assert.equal(cert.subject, 'O=default');
    assert.ok(cert.subjectAltName?.includes(`spiffe://default/${service}`));
  });
});

test('rotation is due after 80% of the lifetime', () => {
  const issuedAt = 1_000_000;
  const notAfter = issuedAt + 100 * HOUR;
  assert.equal(needsRotation(notAfter, issuedAt, issuedAt), false);
  assert.equal(needsRotation(notAfter, issuedAt, issuedAt + 79 * HOUR), false);
  assert.equal(needsRotation(notAfter, issuedAt, issuedAt + 80 * HOUR), true);
  assert.equal(needsRotation(new Date(notAfter), new Date(issuedAt), new Date(issuedAt + 99 * HOUR)), true);
  assert.equal(rotationDueAt(notAfter, issuedAt).getTime(), issuedAt + 80 * HOUR);
  assert.equal(needsRotation(issuedAt, issuedAt, issuedAt), true, 'a certificate with no lifetime is due at once');
});
