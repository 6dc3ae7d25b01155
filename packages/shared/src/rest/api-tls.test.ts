// The API's HTTPS: flags checked into a plan, the CP's own CA kept in the store, and one fastify app
// answering on a real HTTPS port (and refusing plain HTTP there with a pointer to https://).
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, describe, test } from 'node:test';
import { FlagError } from '../config/flags.js';
import { InProcessEventBus } from '../events/in-process-event-bus.js';
import { startControlPlane } from '../process/control-plane.js';
import { MemoryStore } from '../store/memory-store.js';
import { createLogger } from '../telemetry/logger.js';
import { generateCa, generateSelfSignedCertificate, issueServerCertificate } from '../tls/certificates.js';
import { API_CA_SECRET, apiCertificate, ApiTlsFlags, planApiTls } from './api-tls.js';

const dir = mkdtempSync(join(tmpdir(), 'meshfed-api-tls-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const file = (name: string, content: string) => {
  const f = join(dir, name);
  writeFileSync(f, content);
  return f;
};

function capture() {
  const text: string[] = [];
  const destination = new Writable({
    write: (chunk: Buffer, _e, cb) => {
      text.push(chunk.toString());
      cb();
    },
  });
  return { text, log: createLogger({ component: 'api-tls-test', level: 'info', destination }) };
}

const flags = (f: Partial<ApiTlsFlags>): ApiTlsFlags => ApiTlsFlags.parse(f);

async function refusal(f: Partial<ApiTlsFlags>): Promise<string> {
  const err = await planApiTls(flags(f)).then(() => undefined, (e: unknown) => e);
  assert.ok(err instanceof FlagError, `a FlagError for ${JSON.stringify(f)}, got ${String(err)}`);
  return err.message;
}

/** One request over HTTPS or HTTP; the status and body, or the error's code. */
function call(url: string, o: { ca?: string; servername?: string } = {}): Promise<{ status: number; body: string } | { code: string }> {
  return new Promise((resolve) => {
    const u = new URL(url);
    const done = (res: import('node:http').IncomingMessage) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode!, body }));
    };
    const req = u.protocol === 'https:'
      ? httpsRequest(u, { agent: false, ...(o.ca ? { ca: o.ca } : {}), ...(o.servername ? { servername: o.servername } : {}) }, done)
      : httpRequest(u, { agent: false }, done);
    req.on('error', (e: NodeJS.ErrnoException) => resolve({ code: e.code ?? e.message }));
    req.end();
  });
}

describe('ApiTlsFlags and planApiTls', async () => {
  const ca = await generateCa({ commonName: 'operator CA' });
  const pair = await issueServerCertificate(ca, { commonName: 'cp', dnsNames: ['cp.internal'] });
  const other = await generateSelfSignedCertificate({ commonName: 'other', dnsNames: ['other'] });
  const cert = file('server.crt', pair.certPem);
  const key = file('server.key', pair.keyPem);

  test('defaults: HTTPS on 5682 with the CP\'s own CA', async () => {
    assert.deepEqual(flags({}), { apiTlsEnabled: true, apiTlsPort: 5682 });
    assert.deepEqual(await planApiTls(flags({})), { kind: 'own-ca', port: 5682 });
    assert.deepEqual(await planApiTls(flags({ apiTlsEnabled: false })), { kind: 'disabled' });
  });

  test('a certificate with its key is served as given', async () => {
    const plan = await planApiTls(flags({ apiTlsCert: cert, apiTlsKey: key, apiTlsPort: 0 }));
    assert.equal(plan.kind, 'given');
    assert.equal(plan.kind === 'given' && plan.pair.certPem, pair.certPem);
    assert.equal(plan.kind === 'given' && plan.port, 0);
  });

  test('each mistake is a one-line FlagError naming the flags', async () => {
    assert.equal(await refusal({ apiTlsCert: cert }), '--api-tls-cert and --api-tls-key must be given together');
    assert.equal(await refusal({ apiTlsKey: key }), '--api-tls-cert and --api-tls-key must be given together');
    assert.equal(await refusal({ apiTlsEnabled: false, apiTlsCert: cert, apiTlsKey: key }), '--api-tls-enabled=false and --api-tls-cert, --api-tls-key contradict each other: choose one');
    const missing = join(dir, 'missing.crt');
    assert.equal(await refusal({ apiTlsCert: missing, apiTlsKey: key }), `cannot read --api-tls-cert ${missing}: ENOENT`);
    assert.equal(await refusal({ apiTlsCert: key, apiTlsKey: key }), `--api-tls-cert ${key} holds no PEM certificate`);
    assert.equal(await refusal({ apiTlsCert: cert, apiTlsKey: cert }), `--api-tls-key ${cert} holds no PEM private key`);
    const otherKey = file('other.key', other.keyPem);
    assert.equal(await refusal({ apiTlsCert: cert, apiTlsKey: otherKey }), `--api-tls-key ${otherKey} is not the key of the certificate in --api-tls-cert ${cert} ("CN=cp")`);
  });
});

describe('apiCertificate', () => {
  test('the CP\'s own CA is made once and kept in the store; the certificate carries loopback, the host and the bind address', async () => {
    const store = new MemoryStore(new InProcessEventBus());
    const first = capture();
    const a = await apiCertificate({ kind: 'own-ca', port: 0 }, { store, address: '10.1.2.3', component: 'global', log: first.log });
    const b = await apiCertificate({ kind: 'own-ca', port: 0 }, { store, address: '10.1.2.3', component: 'global', log: capture().log });
    assert.equal(b.caPem, a.caPem, 'the same CA after a restart, or on a replica');
    assert.notEqual(b.pair.certPem, a.pair.certPem, 'a certificate issued at each start');
    assert.ok(await store.get({ type: 'GlobalSecret', name: API_CA_SECRET }));
    const caCert = new X509Certificate(a.caPem);
    assert.equal(caCert.ca, true);
    assert.equal(a.caFingerprint, caCert.fingerprint256);
    const leaf = new X509Certificate(a.pair.certPem);
    assert.ok(leaf.checkIssued(caCert) && leaf.verify(caCert.publicKey));
    for (const name of ['DNS:localhost', 'IP Address:127.0.0.1', 'IP Address:0:0:0:0:0:0:0:1', 'IP Address:10.1.2.3']) {
      assert.ok(leaf.subjectAltName?.split(', ').includes(name), `${name} in ${leaf.subjectAltName}`);
    }
    const logged = first.text.join('');
    assert.match(logged, /HTTPS certificate issued at start by the new API CA/);
    assert.doesNotMatch(logged, /PRIVATE KEY/);
  });

  test('a given certificate is what clients trust', async () => {
    const pair = await generateSelfSignedCertificate({ commonName: 'cp', dnsNames: ['localhost'] });
    const plan = await planApiTls(flags({ apiTlsCert: file('self.crt', pair.certPem), apiTlsKey: file('self.key', pair.keyPem) }));
    assert.ok(plan.kind === 'given');
    const c = await apiCertificate(plan, { store: new MemoryStore(new InProcessEventBus()), address: '0.0.0.0', component: 'zone', log: capture().log });
    assert.equal(c.caPem, pair.certPem);
  });
});

describe('the API over HTTPS', () => {
  test('one app on both ports: same routes and error bodies; the CA at /api-ca.crt; plain HTTP on the HTTPS port is told to use https://; stop closes both', async () => {
    const logs = capture();
    const cp = await startControlPlane({
      component: 'global', mode: 'global', store: 'memory', apiPort: 0, apiAddress: '127.0.0.1', logLevel: 'info', createDefaultMesh: true,
      apiTls: { kind: 'own-ca', port: 0 }, log: logs.log,
    });
    let stopped = false;
    after(async () => {
      if (!stopped) await cp.stop();
    });
    assert.ok(cp.tlsUrl && cp.tlsPort, 'an HTTPS URL');
    assert.equal(cp.tlsUrl, `https://127.0.0.1:${cp.tlsPort}`);

    const ca = await call(`${cp.url}/api-ca.crt`);
    assert.ok('status' in ca && ca.status === 200 && ca.body.startsWith('-----BEGIN CERTIFICATE-----'));
    const caPem = ca.body;
    assert.doesNotMatch(caPem, /PRIVATE KEY/);

    for (const path of ['/meshes', '/meshes/nope', '/no/such/path']) {
      const plain = await call(`${cp.url}${path}`);
      const tls = await call(`${cp.tlsUrl}${path}`, { ca: caPem });
      assert.ok('status' in plain && 'status' in tls, path);
      assert.equal(tls.status, plain.status, path);
      assert.deepEqual(JSON.parse(tls.body), JSON.parse(plain.body), path);
    }
    assert.deepEqual(await call(`${cp.tlsUrl}/meshes`), { code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' }, 'without the CA');
    const byName = await call(`https://localhost:${cp.tlsPort}/ready`, { ca: caPem });
    assert.ok('status' in byName && byName.status === 200, 'localhost is one of its names');
    assert.deepEqual(await call(`${cp.tlsUrl}/ready`, { ca: caPem, servername: 'elsewhere' }), { code: 'ERR_TLS_CERT_ALTNAME_INVALID' });

    const wrong = await call(`http://127.0.0.1:${cp.tlsPort}/meshes`);
    assert.ok('status' in wrong);
    assert.equal(wrong.status, 400);
    assert.deepEqual(JSON.parse(wrong.body), { title: 'Plain HTTP on the HTTPS port', details: `this port serves the API over HTTPS: use ${cp.tlsUrl}`, causes: [] });

    const logged = logs.text.join('');
    assert.ok(logged.includes(`meshfed --cp ${cp.tlsUrl} --ca-file <(curl -s ${cp.url}/api-ca.crt)`), 'the log says how to trust it');
    assert.doesNotMatch(logged, /PRIVATE KEY/);

    await cp.stop();
    stopped = true;
    assert.ok('code' in (await call(`${cp.tlsUrl}/ready`, { ca: caPem })), 'the HTTPS port is closed');
  });

  test('--api-tls-enabled=false: no HTTPS port, and /api-ca.crt says why there is no CA', async () => {
    const cp = await startControlPlane({
      component: 'zone', mode: 'standalone', store: 'memory', apiPort: 0, apiAddress: '127.0.0.1', logLevel: 'info', createDefaultMesh: true,
      apiTls: { kind: 'disabled' }, log: capture().log,
    });
    after(() => cp.stop());
    assert.equal(cp.tlsUrl, undefined);
    assert.equal(cp.tlsPort, undefined);
    const r = await call(`${cp.url}/api-ca.crt`);
    assert.ok('status' in r && r.status === 404);
    assert.match(JSON.parse(r.body).details, /plain HTTP only \(--api-tls-enabled=false\)/);
  });
});
