import assert from 'node:assert/strict';
import { test } from 'node:test';
import { buildZoneIndex, type GatewayEntry } from '../zone-index.js';
import { gatewayCertSecret, gatewayCertSecretName, gatewayDownstreamTls, parseServerCertificate, resolveCertificates } from './tls.js';

// Test material only (self-signed for foo.example.com, made with openssl): an ECDSA P-256 certificate
// and its key, another P-256 key, and an RSA-2048 certificate and key.
const EC_CERT = `-----BEGIN CERTIFICATE-----
MIIBpTCCAUugAwIBAgIUHi6v27Hje3LdAJcRwuP5jM/zfxIwCgYIKoZIzj0EAwIw
GjEYMBYGA1UEAwwPZm9vLmV4YW1wbGUuY29tMB4XDTI2MTIwNjA1MTE0NloXDTM2
MTIwMzA1MTE0NlowGjEYMBYGA1UEAwwPZm9vLmV4YW1wbGUuY29tMFkwEwYHKoZI
zj0CAQYIKoZIzj0DAQcDQgAET6vlT27pdW++gL+8ZOz68hNAWHH2CW3mnG80MPk3
saSUqZnSgTBULCHBKwJlljC+MJG4QCToMgBIOfMdc3mb36NvMG0wHQYDVR0OBBYE
FGEqCQ7NOlHKOozuGU9M7lGnNAaEMB8GA1UdIwQYMBaAFGEqCQ7NOlHKOozuGU9M
7lGnNAaEMA8GA1UdEwEB/wQFMAMBAf8wGgYDVR0RBBMwEYIPZm9vLmV4YW1wbGUu
Y29tMAoGCCqGSM49BAMCA0gAMEUCIQC4yAkrodH4H3ByblaavRz8/hynP70KWo2u
pjYJvQn9MwIgZ+vFfOdMAf5umiEOqQPaxoUjU1TWcvholADXXzuFzDI=
-----END CERTIFICATE-----
`;
const EC_KEY = `-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgAbK8/xq5tg4ANKpE
qRFrYbD3a17MH1DF5sHGP6T96o2hRANCAARPq+VPbul1b76Av7xk7PryE0BYcfYJ
beacbzQw+TexpJSpmdKBMFQsIcErAmWWML4wkbhAJOgyAEg58x1zeZvf
-----END PRIVATE KEY-----
`;
const OTHER_EC_KEY = `-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgcZxnFv65m67ghIsk
fEgISyPaMMFbbCyz9OffGh6c8vChRANCAAQ5DMNqO4cOdo/Sivg9eRnTduCAanuy
t7p9/n1ssu1LFKbxJuGiX+U14VKXGKp+z73LCADMNHKvYRU8vSvhC7Kl
-----END PRIVATE KEY-----
`;
const RSA_CERT = `-----BEGIN CERTIFICATE-----
MIIDMTCCAhmgAwIBAgIUJcPtqzNfjFLDR5D6e3DVx1YcN7wwDQYJKoZIhvcNAQEL
BQAwGjEYMBYGA1UEAwwPZm9vLmV4YW1wbGUuY29tMB4XDTI2MTIwNjA1MTE0NloX
DTM2MTIwMzA1MTE0NlowGjEYMBYGA1UEAwwPZm9vLmV4YW1wbGUuY29tMIIBIjAN
BgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAztZrG9TZGIJcrJit5H63mnSmzT+d
tpkW2o1/qrR740nSFicXdpemHxal1DE8i2qGB4js9WymdqXHtbMuI8LpO4LR7Uez
kVbfLs9ER8InsiXy5J2ZhPe5GOJWpKmfnW37+EP91/F2mwLheyVAbvTwQDtCUNY7
Y83zzsAGrIA8+wEe2puDfsTtSJPrV+EcTAUZUtNmMpG8iWMvZjsF1a4rF8SyfQMr
99WJZ8yPF9LnwszJZOq1GDdP1xwsT3CkJxpI0neUJ8gfAD7RgMeFEOhgCKKgda4b
50C6iYy4QJYvxZG9jkj90jWeAY2Epc5Eh/06R/5RCoTiiVspP+74dOXPiQIDAQAB
o28wbTAdBgNVHQ4EFgQUFpVdmIVLVP7NQNc4Gr/GpRsskKUwHwYDVR0jBBgwFoAU
FpVdmIVLVP7NQNc4Gr/GpRsskKUwDwYDVR0TAQH/BAUwAwEB/zAaBgNVHREEEzAR
gg9mb28uZXhhbXBsZS5jb20wDQYJKoZIhvcNAQELBQADggEBAHgzedeXzS6lxCKI
vlxnJvXIt9EmFXV/ztzn9s87DDWCHArDsPSPyHYNWES+1AtrBePmnz+qeL47zg5y
FZ04w1N6k5S1xy8+8+9VTE3bildR5SEgDQ17rBB+eSHWOdUM9hKEmst3L/4Fkclz
BXWmJhXaQzs0n7KM1edgcgFSxn9MPcQz7S8bLOq1hHlz/ErcreHAt0oweyFsJPwx
KryQ7GxZ1APyi+qKVqhtpk2SrRqh4RthL9hWX9RQ6rWpPJrN5OdSqyNZqFetktZS
gg3G/0pM0VV4U/0UMZTlD2CXFLaSRdoN3m4uTSKTuouhjSSFVkwA4m3kZQKAnJww
zdsVa/o=
-----END CERTIFICATE-----
`;
const RSA_KEY = `-----BEGIN PRIVATE KEY-----
MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQDO1msb1NkYglys
mK3kfreadKbNP522mRbajX+qtHvjSdIWJxd2l6YfFqXUMTyLaoYHiOz1bKZ2pce1
sy4jwuk7gtHtR7ORVt8uz0RHwieyJfLknZmE97kY4lakqZ+dbfv4Q/3X8XabAuF7
JUBu9PBAO0JQ1jtjzfPOwAasgDz7AR7am4N+xO1Ik+tX4RxMBRlS02YykbyJYy9m
OwXVrisXxLJ9Ayv31YlnzI8X0ufCzMlk6rUYN0/XHCxPcKQnGkjSd5QnyB8APtGA
x4UQ6GAIoqB1rhvnQLqJjLhAli/Fkb2OSP3SNZ4BjYSlzkSH/TpH/lEKhOKJWyk/
7vh05c+JAgMBAAECggEAS4AcT+f1qQso7f27eA1DUveizYgbt0QRggylnffMwy42
qExztZ/sjSuUs6yXV6K2Mvjp2jpjVyrzh+FUhcxHm6gIng8Ovo5R4IHbAECggdh1
Xbsjh1RvteQk0W1zbKFxmPGkrtcevr2h9fQmnXn+WsvmzKAuxKMwjHcu2HflCo/5
gtMOie51F6XeVNKMg+BEQ8TKsaUHeKEkS+7kGtuvyM0ljUX8bcHWEuXcnjqXWrA8
FoC3X5T7XI4HAmY/GmHpDLj2JVbR1BNM5OI/BPXlU8oC45gknhFu/CNZRuyHqzTy
ZCc8B0REDZzG8iGKbL3ZspDaTWF3YuI4BGGN9pbyawKBgQDv0E8Mr5w6PsGaneVi
ym9zqt6F37VeT5Oebn+6CNS1Xupr97PPe29BP5bwQnoDE2k7kQ2hMQjh/KnL8sYG
bc0p3dOtEstCGfpxcgM04ZUpwkLOfcv/n8uSi1sLdD0q5G0i8LE9vfVLKWmCOle+
mf7WyXEFHNL1p9/FNDIhrBJnuwKBgQDczFJjgRwSWQFy9+bgAo7bDKjon4b/cYJs
BVuNReCNoPUhuxVPcaL5xKKg1sHvhGE1HgURzWtythXQxLYzPWx7SMtm/DGBeYZ2
AQDqT/b1g7RpVKLAaYegP0Z6pN97+eeFNOw6qr1KAERHQwB2GXsEB5X+JOe08Rau
wr5sqK4niwKBgHO8t/nqYt6lXPCPFZ65DlLnex9nGPQcOaUztQcGrgmedkqHMEuJ
SedWljT8EECdxKLP3aEWti/CrfvU/gcqROLYwQj9UgVj3j+UA8IowMF3lKBti9+h
sjDWeqkrfz3NInLDcPbYT6LnqJkGKUS+s4PbkmUiRRnz3AYjq7Iehn9zAoGAetKN
4hwn6WzpiXKtU18Y6HEaZIyZI++YhU5Vpzh/uUkYEzNmn1KvPhFMBfxw1TPmfw27
9DM42g7AA+npEIfSmKHdw+P2Bff7/BiC0dS5o8knyo/yGOabM2D/a6nbR7O0Pj06
S0g/E7MiSCHVV9zEuXEe1sjgu56A56YdF4SdnBECgYEA5aaeSnTqaztC/JUnlSux
9Y0BmedUmto285l40HwvOTxwFlYUel50IZ+2cz2FZuAYu0e95ItK5opMiJwTHI/e
DPTd4YCONkpg18dEXufUdw9MTVLeYRJsR8hyN/x9wrr5P0gq6zrcoyZyv1+kbniD
liI6QhuAf3jXtZ2IRLA6hJg=
-----END PRIVATE KEY-----
`;
const b64 = (s: string) => Buffer.from(s).toString('base64');

test('a PEM key with its certificate, in either order, is a server certificate with the leaf first', () => {
  const c = parseServerCertificate(EC_KEY + EC_CERT, 'Secret "x"');
  assert.ok(!('issue' in c));
  assert.equal(c.keyType, 'ECDSA');
  assert.equal(c.chainPem, EC_CERT);
  assert.equal(c.keyPem, EC_KEY);
  const r = parseServerCertificate(RSA_CERT + RSA_KEY, 'Secret "x"');
  assert.ok(!('issue' in r) && r.keyType === 'RSA');
});

test('unusable material is named by its source, and no problem quotes key material', () => {
  const issue = (text: string) => {
    const r = parseServerCertificate(text, 'Secret "x"');
    assert.ok('issue' in r, 'refused');
    assert.ok(!r.issue.includes('PRIVATE KEY-----') && !r.issue.includes(EC_KEY.split('\n')[1]!), 'no key material in the problem');
    return r.issue;
  };
  assert.equal(issue(EC_CERT), 'Secret "x" holds no PEM private key');
  assert.equal(issue(EC_KEY), 'Secret "x" holds no PEM certificate');
  assert.equal(issue('hello'), 'Secret "x" holds no PEM certificate and private key');
  assert.equal(issue(EC_CERT + OTHER_EC_KEY), 'Secret "x" holds a private key that is not the key of its first certificate (the leaf must come first)');
  assert.equal(issue(EC_CERT + EC_KEY + OTHER_EC_KEY), 'Secret "x" holds 2 private keys (one is expected)');
  assert.equal(issue(EC_CERT.replace(/[A-Za-z0-9]{20}\n/, 'AAAA\n') + EC_KEY), 'Secret "x" holds a certificate that does not parse');
  assert.equal(issue(EC_CERT + EC_KEY.replace(/[A-Za-z0-9]{20}\n/, 'AAAA\n')), 'Secret "x" holds a private key that is encrypted or does not parse');
  assert.equal(issue(EC_CERT + RSA_KEY), 'Secret "x" holds a private key that is not the key of its first certificate (the leaf must come first)');
});

test('certificates of a hostname: from a Secret, base64 or PEM; missing, not base64, the mesh CA key, two of a kind', () => {
  const secrets = { good: b64(EC_CERT + EC_KEY), bad: 'not base64!', ca: null };
  const ok = resolveCertificates([{ secret: 'good' }, { inline: b64(RSA_KEY + RSA_CERT) }], secrets);
  assert.ok('certificates' in ok);
  assert.deepEqual(ok.certificates.map((c) => c.keyType), ['ECDSA', 'RSA']);
  assert.ok('certificates' in resolveCertificates([{ inlineString: EC_CERT + EC_KEY }], secrets));
  const issues = (refs: Parameters<typeof resolveCertificates>[0]) => {
    const r = resolveCertificates(refs, secrets);
    return 'issues' in r ? r.issues : [];
  };
  assert.deepEqual(issues([{ secret: 'gone' }, { secret: 'bad' }]), ['Secret "gone" does not exist in the mesh', 'Secret "bad" has data that is not base64']);
  assert.deepEqual(issues([{ secret: 'ca' }]), ['Secret "ca" is the mesh CA\'s private key, which no gateway may use']);
  assert.deepEqual(issues([{ inline: '***' }]), ['tls.certificates[0] (inline) is not base64']);
  assert.deepEqual(issues([{ secret: 'good' }, { inlineString: EC_CERT + EC_KEY }]), ['tls.certificates are both ECDSA: Envoy serves one RSA and one ECDSA certificate per hostname']);
  assert.equal(issues([{ secret: 'good' }, { secret: 'good' }, { secret: 'good' }]).length, 1);
  assert.equal(issues([]).length, 1);
});

test('the downstream TLS context: the certificates by SDS (named for where they are served), TLS 1.2 at least, ALPN when asked', () => {
  const r = resolveCertificates([{ inlineString: EC_CERT + EC_KEY }], undefined);
  assert.ok('certificates' in r);
  const name = gatewayCertSecretName('edge', 8443, 'foo.example.com', r.certificates[0]!.keyType);
  assert.equal(name, 'gateway_cert:ecdsa:edge:8443:foo.example.com');
  assert.deepEqual(gatewayCertSecret(name, r.certificates[0]!), { name, tls_certificate: { certificate_chain: { inline_string: EC_CERT }, private_key: { inline_string: EC_KEY } } });
  const ts = gatewayDownstreamTls([name], ['h2', 'http/1.1']);
  const ctx = (ts['typed_config'] as { common_tls_context: Record<string, unknown> }).common_tls_context;
  assert.equal(ts['name'], 'envoy.transport_sockets.tls');
  assert.deepEqual(ctx['tls_params'], { tls_minimum_protocol_version: 'TLSv1_2' });
  assert.deepEqual(ctx['tls_certificate_sds_secret_configs'], [{ name, sds_config: { ads: {}, resource_api_version: 'V3' } }]);
  assert.equal(ctx['tls_certificates'], undefined, 'no key in the listener');
  assert.deepEqual(ctx['alpn_protocols'], ['h2', 'http/1.1']);
  assert.equal((gatewayDownstreamTls([name])['typed_config'] as { common_tls_context: Record<string, unknown> }).common_tls_context['alpn_protocols'], undefined);
});

test("a MeshGateway carries the Secrets its certificates name, and a Secret's change changes the mesh's gateways version", () => {
  const index = (data: string | undefined) => buildZoneIndex({
    zone: 'zone-1',
    meshes: [{ name: 'default', labels: {}, spec: {} }],
    dataplanes: [], zoneIngresses: [], zoneEgresses: [], externalServices: [],
    secrets: [
      ...(data !== undefined ? [{ name: 'cert', mesh: 'default', labels: {}, spec: { data } }] : []),
      { name: 'unrelated', mesh: 'default', labels: {}, spec: { data: b64('x') } },
    ],
    meshGateways: [{
      name: 'edge', mesh: 'default', labels: {},
      spec: { selectors: [{ match: { 'kuma.io/service': 'edge' } }], conf: { listeners: [{ port: 8443, protocol: 'HTTPS', tls: { certificates: [{ secret: 'cert' }] } }] } },
    }],
  });
  const mesh = (data: string | undefined) => index(data).meshes.get('default')!;
  const gw: GatewayEntry = mesh(b64(EC_CERT + EC_KEY)).gateways[0]!;
  assert.deepEqual(gw.secrets, { cert: b64(EC_CERT + EC_KEY) });
  assert.deepEqual(mesh(undefined).gateways[0]!.secrets, {});
  const versions = new Set([mesh(b64(EC_CERT + EC_KEY)).gatewaysVersion, mesh(b64(RSA_CERT + RSA_KEY)).gatewaysVersion, mesh(undefined).gatewaysVersion]);
  assert.equal(versions.size, 3);
  assert.equal(mesh(b64(EC_CERT + EC_KEY)).gatewaysVersion, mesh(b64(EC_CERT + EC_KEY)).gatewaysVersion);
});
