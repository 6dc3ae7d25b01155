import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, describe, test } from 'node:test';
import { createLogger, FlagError, generateCa, generateSelfSignedCertificate, InProcessEventBus, issueServerCertificate, MemoryStore } from '@meshfed/shared';
import { loadOrCreateXdsCa, XDS_CA_SECRET } from './xds-ca-store.js';
import { certificateNames, planXdsTls, startXdsTls, type XdsTlsFlags } from './xds-tls.js';

const dir = mkdtempSync(join(tmpdir(), 'meshfed-xds-tls-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const file = (name: string, content: string) => {
  const f = join(dir, name);
  writeFileSync(f, content);
  return f;
};

function capture() {
  const lines: { level: string; msg: string; [k: string]: unknown }[] = [];
  const destination = new Writable({
    write: (chunk: Buffer, _e, cb) => {
      for (const l of chunk.toString().split('\n')) if (l) lines.push(JSON.parse(l));
      cb();
    },
  });
  return { lines, log: createLogger({ component: 'xds-tls-test', level: 'info', destination }) };
}

const flags = (f: Partial<XdsTlsFlags>): XdsTlsFlags => ({ xdsInsecure: false, ...f });

async function refusal(f: Partial<XdsTlsFlags>): Promise<string> {
  const err = await planXdsTls(flags(f)).then(() => undefined, (e: unknown) => e);
  assert.ok(err instanceof FlagError, `a FlagError for ${JSON.stringify(f)}, got ${String(err)}`);
  return err.message;
}

describe('planXdsTls', async () => {
  const ca = await generateCa({ commonName: 'operator CA' });
  const pair = await issueServerCertificate(ca, { commonName: 'zone', dnsNames: ['zone-1.internal'] });
  const other = await generateSelfSignedCertificate({ commonName: 'other', dnsNames: ['other'] });
  const cert = file('server.crt', pair.certPem);
  const key = file('server.key', pair.keyPem);
  const caFile = file('ca.crt', ca.certPem);

  test('no flags: the zone\'s own CA; --xds-insecure: plaintext', async () => {
    assert.deepEqual(await planXdsTls(flags({})), { kind: 'own-ca' });
    assert.deepEqual(await planXdsTls(flags({ xdsInsecure: true })), { kind: 'insecure' });
  });

  test('a certificate with its key, and with the CA that signed it: bootstraps trust the CA, else the chain', async () => {
    const withCa = await planXdsTls(flags({ xdsTlsCert: cert, xdsTlsKey: key, xdsTlsCa: caFile }));
    assert.equal(withCa.kind === 'given' && withCa.caPem, ca.certPem);
    const alone = await planXdsTls(flags({ xdsTlsCert: cert, xdsTlsKey: key }));
    assert.equal(alone.kind === 'given' && alone.caPem, pair.certPem);
  });

  test('each mistake is a FlagError naming the flags', async () => {
    assert.equal(await refusal({ xdsInsecure: true, xdsTlsCert: cert, xdsTlsKey: key }), '--xds-insecure and --xds-tls-cert, --xds-tls-key contradict each other: choose one');
    assert.equal(await refusal({ xdsTlsCert: cert }), '--xds-tls-cert and --xds-tls-key must be given together');
    assert.equal(await refusal({ xdsTlsKey: key }), '--xds-tls-cert and --xds-tls-key must be given together');
    assert.match(await refusal({ xdsTlsCa: caFile }), /^--xds-tls-ca names the CA that signed --xds-tls-cert: give it with --xds-tls-cert and --xds-tls-key/);
    assert.equal(await refusal({ xdsTlsCert: join(dir, 'missing.crt'), xdsTlsKey: key }), `cannot read --xds-tls-cert ${join(dir, 'missing.crt')}: ENOENT`);
    assert.equal(await refusal({ xdsTlsCert: key, xdsTlsKey: key }), `--xds-tls-cert ${key} holds no PEM certificate`);
    assert.equal(await refusal({ xdsTlsCert: cert, xdsTlsKey: cert }), `--xds-tls-key ${cert} holds no PEM private key`);
    const otherKey = file('other.key', other.keyPem);
    assert.equal(await refusal({ xdsTlsCert: cert, xdsTlsKey: otherKey }), `--xds-tls-key ${otherKey} is not the key of the certificate in --xds-tls-cert ${cert} ("CN=zone")`);
    const otherCa = file('other-ca.crt', other.certPem);
    assert.equal(await refusal({ xdsTlsCert: cert, xdsTlsKey: key, xdsTlsCa: otherCa }),
      `--xds-tls-ca ${otherCa} did not sign --xds-tls-cert ${cert} (issued by "CN=operator CA"): proxies would refuse the zone`);
  });
});

describe('startXdsTls', () => {
  test('the zone\'s own CA is made once and kept in the store: a restart or a replica issues from the same CA', async () => {
    const store = new MemoryStore(new InProcessEventBus());
    const first = capture();
    const a = await startXdsTls({ kind: 'own-ca' }, { store, address: '10.1.2.3', log: first.log });
    const b = await startXdsTls({ kind: 'own-ca' }, { store, address: '10.1.2.3', log: capture().log });
    assert.ok(a.caPem?.includes('BEGIN CERTIFICATE'));
    assert.equal(b.caPem, a.caPem, 'the same CA after a restart');
    const line = first.lines.find((l) => /xDS: serving TLS with a certificate issued at start by the zone's new xDS CA/.test(l.msg));
    assert.equal(line?.['caFingerprint'], new X509Certificate(a.caPem!).fingerprint256);
    assert.match(String(line?.['fingerprint']), /^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
    assert.ok((line?.['ipAddresses'] as string[]).includes('10.1.2.3'));
    assert.ok(await store.get({ type: 'GlobalSecret', name: XDS_CA_SECRET }));
  });

  test('replicas starting together agree on one CA', async () => {
    const store = new MemoryStore(new InProcessEventBus());
    const cas = await Promise.all([1, 2, 3].map(() => loadOrCreateXdsCa(store)));
    assert.equal(new Set(cas.map((c) => c.ca.certPem)).size, 1);
    assert.equal(cas.filter((c) => c.created).length, 1);
  });

  test('a stored CA that cannot be used is an error, never replaced', async () => {
    const store = new MemoryStore(new InProcessEventBus());
    const notCa = await generateSelfSignedCertificate({ commonName: 'leaf', dnsNames: ['leaf'] });
    await store.commit([{ op: 'put', resource: { type: 'GlobalSecret', name: XDS_CA_SECRET, labels: {}, spec: { data: Buffer.from(JSON.stringify(notCa)).toString('base64') } } }]);
    await assert.rejects(loadOrCreateXdsCa(store), /GlobalSecret "xds-ca" holds "CN=leaf", which is not a CA certificate/);
  });

  test('--xds-insecure warns that secrets travel in clear text', async () => {
    const c = capture();
    const tls = await startXdsTls({ kind: 'insecure' }, { store: new MemoryStore(new InProcessEventBus()), address: '0.0.0.0', log: c.log });
    assert.equal(tls.caPem, undefined);
    assert.ok(c.lines.some((l) => l.level === 'warn' && /without TLS \(--xds-insecure\).*clear text/.test(l.msg)));
  });

  test('a given certificate without its CA: a chain not ending in a self-signed certificate is warned about', async () => {
    const ca = await generateCa();
    const pair = await issueServerCertificate(ca, { commonName: 'zone', dnsNames: ['zone'] });
    const plan = await planXdsTls(flags({ xdsTlsCert: file('leaf-only.crt', pair.certPem), xdsTlsKey: file('leaf-only.key', pair.keyPem) }));
    const c = capture();
    const tls = await startXdsTls(plan, { store: new MemoryStore(new InProcessEventBus()), address: '0.0.0.0', log: c.log });
    assert.equal(tls.caPem, pair.certPem);
    assert.ok(c.lines.some((l) => l.level === 'warn' && /give its CA with --xds-tls-ca/.test(l.msg)));
  });
});

describe('certificateNames', () => {
  const interfaces = { lo: [{ address: '127.0.0.1' }], eth0: [{ address: '192.168.1.7' }, { address: 'fe80::1' }] } as unknown as NodeJS.Dict<import('node:os').NetworkInterfaceInfo[]>;

  test('loopback, the host name, and a specific bind address', () => {
    assert.deepEqual(certificateNames('10.0.0.9', 'zone-host', interfaces), { dnsNames: ['localhost', 'zone-host'], ipAddresses: ['127.0.0.1', '::1', '10.0.0.9'] });
    assert.deepEqual(certificateNames('zone-1.internal', 'zone-host', interfaces), { dnsNames: ['localhost', 'zone-host', 'zone-1.internal'], ipAddresses: ['127.0.0.1', '::1'] });
  });

  test('bound to every address: every address of the machine but link-local ones; a host name that is no DNS name is left out', () => {
    assert.deepEqual(certificateNames('0.0.0.0', 'bad_host', interfaces), { dnsNames: ['localhost'], ipAddresses: ['127.0.0.1', '::1', '192.168.1.7'] });
    assert.deepEqual(certificateNames('::', 'h', interfaces).ipAddresses, ['127.0.0.1', '::1', '192.168.1.7']);
  });
});
