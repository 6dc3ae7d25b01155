import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ENVOY_TYPE, identityCertSecretName, meshCaSecretName, typed } from '@meshfed/shared';
import { certFilesIn, decodeMeshSecrets, writeMeshSecrets } from './secrets.js';

const CERT = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';
const KEY = '-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n';
const CA = '-----BEGIN CERTIFICATE-----\nMIIC\n-----END CERTIFICATE-----\n';

test('the identity and CA secrets decode, inline_string (as the zone sends them) or inline_bytes', () => {
  const identity = typed(ENVOY_TYPE.secret, { name: identityCertSecretName('m1'), tls_certificate: { certificate_chain: { inline_string: CERT }, private_key: { inline_bytes: Buffer.from(KEY) } } });
  const ca = typed(ENVOY_TYPE.secret, { name: meshCaSecretName('m1'), validation_context: { trusted_ca: { inline_string: CA } } });
  const other = typed(ENVOY_TYPE.secret, { name: 'not-ours', validation_context: { trusted_ca: { inline_string: 'x' } } });
  assert.deepEqual(decodeMeshSecrets('m1', [identity, ca, other]), { ok: true, secrets: { certPem: CERT, keyPem: KEY, caPem: CA } });
  // A mesh without mTLS: nothing sent, nothing to write, still fine.
  assert.deepEqual(decodeMeshSecrets('m1', []), { ok: true, secrets: {} });
});

test('what the agent cannot use is an error for one NACK, never a throw', () => {
  const noKey = typed(ENVOY_TYPE.secret, { name: identityCertSecretName('m1'), tls_certificate: { certificate_chain: { inline_string: CERT } } });
  const r = decodeMeshSecrets('m1', [noKey]);
  assert.equal(r.ok, false);
  assert.match(!r.ok ? r.error : '', /no inline tls_certificate.certificate_chain and private_key/);
  const wrongType = typed(ENVOY_TYPE.cluster, { name: 'c' });
  assert.match((decodeMeshSecrets('m1', [wrongType]) as { error: string }).error, /resource of type type.googleapis.com\/envoy.config.cluster.v3.Cluster/);
  const garbage = { type_url: 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret', value: Buffer.from([0xff, 0xff, 0xff]) };
  assert.match((decodeMeshSecrets('m1', [garbage]) as { error: string }).error, /cannot decode a Secret/);
});

test('the files are written atomically, the key readable by its owner only', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'meshfed-dp-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const files = certFilesIn(dir);
  await writeMeshSecrets(files, { certPem: CERT, keyPem: KEY, caPem: CA });
  assert.equal(readFileSync(files.certificateFile, 'utf8'), CERT);
  assert.equal(readFileSync(files.privateKeyFile, 'utf8'), KEY);
  assert.equal(readFileSync(files.caCertificateFile, 'utf8'), CA);
  assert.equal(statSync(files.privateKeyFile).mode & 0o777, 0o600);
  assert.deepEqual(readdirSync(dir).sort(), ['ca.pem', 'cert.pem', 'key.pem'], 'no temporary file left behind');
});
