// ExternalService: Kuma's `networking.tls` fields are taken as Kuma's documents define them, and
// anything else is refused naming the field.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ValidationError } from '../errors/api-error.js';
import { parseResource } from './validate.js';

const base = { type: 'ExternalService', mesh: 'default', name: 'httpbin', tags: { 'kuma.io/service': 'httpbin' } };
const withTls = (tls: Record<string, unknown>, address = 'httpbin.org:443') => ({ ...base, networking: { address, tls } });

function causes(body: unknown): string[] {
  try {
    parseResource(body);
  } catch (err) {
    assert.ok(err instanceof ValidationError, String(err));
    return err.causes.map((c) => `${c.field}: ${c.message}`);
  }
  assert.fail('expected a ValidationError');
}

const PEM_B64 = Buffer.from('-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n').toString('base64');

describe('ExternalService networking.tls', () => {
  test("takes every field of Kuma's ExternalService TLS", () => {
    const tls = {
      enabled: true, allowRenegotiation: false, serverName: 'httpbin.org', skipHostnameVerification: true,
      caCert: { inline: PEM_B64 }, clientCert: { secret: 'client-cert' }, clientKey: { inlineString: '-----BEGIN PRIVATE KEY-----\n...' },
    };
    const r = parseResource({ ...withTls(tls), networking: { address: 'httpbin.org:443', tls, disableHostDNSEntry: true } });
    assert.deepEqual((r.spec as { networking: { tls: unknown } }).networking.tls, tls);
  });

  test('takes an IP literal address, v4 and v6, with or without a serverName', () => {
    parseResource(withTls({ enabled: true }, '10.0.0.5:8443'));
    parseResource(withTls({ enabled: true, serverName: 'api.example.test' }, '[2001:db8::1]:443'));
  });

  test('takes inline base64 standard or URL-safe, padded or not', () => {
    for (const inline of [PEM_B64, PEM_B64.replace(/=+$/, ''), Buffer.from('\xfb\xff').toString('base64url')]) parseResource(withTls({ enabled: true, caCert: { inline } }));
  });

  test('refuses what Kuma refuses, naming the field', () => {
    assert.deepEqual(causes(withTls({ enabled: true, serverName: '' })), ['networking.tls.serverName: serverName cannot be empty']);
    // It is the SNI (Envoy takes at most 255 bytes) and the name checked against the certificate.
    assert.deepEqual(causes(withTls({ enabled: true, serverName: 'not a host' })), ['networking.tls.serverName: serverName must be a host name']);
    assert.deepEqual(causes(withTls({ enabled: true, serverName: `${'a'.repeat(60)}.`.repeat(5) })), ['networking.tls.serverName: serverName must be at most 253 characters']);
    assert.deepEqual(causes(withTls({ enabled: true, caCert: {} })), ['networking.tls.caCert: data source cannot be empty: give one of secret, inline, inlineString']);
    assert.deepEqual(causes(withTls({ enabled: true, caCert: { secret: '' } })), ['networking.tls.caCert.secret: secret must name a Secret of the mesh']);
  });

  test('refuses a data source naming two sources, a file, or inline that is not base64', () => {
    assert.deepEqual(causes(withTls({ caCert: { secret: 'ca', inlineString: 'x' } })), ['networking.tls.caCert: give one of secret, inline, inlineString, not secret and inlineString']);
    assert.deepEqual(causes(withTls({ caCert: { file: '/etc/ssl/ca.pem' } })), [
      'networking.tls.caCert.file: file data sources (a path on the control plane) are not supported: use secret, inline or inlineString',
    ]);
    assert.deepEqual(causes(withTls({ caCert: { inline: '-----BEGIN CERTIFICATE-----' } })), ['networking.tls.caCert.inline: inline must be base64']);
  });

  test('refuses a client certificate without its key, and the other way round', () => {
    assert.deepEqual(causes(withTls({ enabled: true, clientCert: { secret: 'c' } })), ['networking.tls.clientKey: clientCert and clientKey must be set together']);
    assert.deepEqual(causes(withTls({ enabled: true, clientKey: { secret: 'k' } })), ['networking.tls.clientCert: clientCert and clientKey must be set together']);
  });

  test("refuses fields that are not Kuma's ExternalService's (MeshExternalService's verification block, sni)", () => {
    assert.deepEqual(causes(withTls({ enabled: true, verification: { mode: 'SkipSAN' } })), ['networking.tls.verification: unknown field "verification"']);
    assert.deepEqual(causes(withTls({ enabled: true, sni: 'x' })), ['networking.tls.sni: unknown field "sni"']);
  });
});
