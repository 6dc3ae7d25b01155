import { generateKeyPairSync } from 'node:crypto';
// TLS origination to external services, proved against a real TLS server: each ExternalService's
// `networking.tls` goes through the zone index and originationCluster as a proxy's would, the
// UpstreamTlsContext is decoded from the encoded cluster (the bytes Envoy gets), and its fields are
// translated one for one into node's tls.connect options (SNI, trusted CA, Envoy's
// match_typed_subject_alt_names semantics, client certificate). Loopback only; every wait is bounded.
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import * as tls from 'node:tls';
import { after, before, describe, test } from 'node:test';
import {
  type Any, createLogger, type EnvoyObject, generateCa, InProcessEventBus, issueServerCertificate, MemoryStore, type PemKeyPair, type ResourceStore, Telemetry, unpack, XDS_TYPE_URL,
} from '@meshfed/shared';
import { issueWorkloadCertificate } from '../../mesh-ca/workload-certificate.js';
import { WorkloadCertificateCache } from '../../mesh-ca/workload-certificate-cache.js';
import { SnapshotCache } from '../snapshot-cache.js';
import { startXdsReconciler } from '../xds-reconciler.js';
import { dep, dependencyVersions } from './context.js';
import { encodeEnvoy } from './envoy-parts.js';
import { RulesCache } from './matching.js';
import { originationCluster, originationFor, originationProblems } from './origination.js';
import { buildZoneIndex, type ExternalTarget, type ResourceView } from './zone-index.js';

const HANDSHAKE_TIMEOUT_MS = 5_000;
const b64 = (s: string) => Buffer.from(s).toString('base64');
const secret = (name: string, data: string, labels: Record<string, string> = {}): ResourceView => ({ name, mesh: 'default', labels, spec: { data } });

/** An ExternalService `ext` of mesh default, through the zone index as the reconciler builds it. */
function indexed(address: string, tlsSpec: Record<string, unknown> | undefined, secrets: readonly ResourceView[] = []) {
  const index = buildZoneIndex({
    zone: 'zone-1', meshes: [{ name: 'default', labels: {}, spec: {} }], dataplanes: [], zoneIngresses: [], zoneEgresses: [], secrets,
    externalServices: [{ name: 'ext', mesh: 'default', labels: {}, spec: { tags: { 'kuma.io/service': 'ext' }, networking: { address, ...(tlsSpec ? { tls: tlsSpec } : {}) } } }],
  });
  assert.deepEqual(index.problems, []);
  return index;
}
const targetOf = (address: string, tlsSpec: Record<string, unknown> | undefined, secrets: readonly ResourceView[] = []): ExternalTarget =>
  indexed(address, tlsSpec, secrets).meshes.get('default')!.external.get('ext')!;

interface DataSource { inline_string?: string; inline_bytes?: Buffer }
interface SanMatcher { san_type: string; matcher: { exact?: string; prefix?: string } }
interface UpstreamTlsContext {
  sni?: string;
  allow_renegotiation?: boolean;
  common_tls_context?: {
    tls_certificates?: { certificate_chain: DataSource; private_key: DataSource }[];
    validation_context?: { trusted_ca?: DataSource; match_typed_subject_alt_names?: SanMatcher[] };
  };
}

/** The cluster a proxy gets for the target, encoded and decoded again: what Envoy receives. */
function proxyCluster(target: ExternalTarget): { cluster: EnvoyObject; tls: UpstreamTlsContext | undefined } {
  const cluster = unpack(encodeEnvoy(XDS_TYPE_URL.cluster, originationCluster('ext', target)));
  const socket = cluster['transport_socket'] as { name: string; typed_config: Any } | undefined;
  if (!socket) return { cluster, tls: undefined };
  assert.equal(socket.name, 'envoy.transport_sockets.tls');
  assert.equal(socket.typed_config.type_url, 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext');
  return { cluster, tls: unpack(socket.typed_config) as UpstreamTlsContext };
}

const text = (d: DataSource | undefined) => (d?.inline_string ?? d?.inline_bytes?.toString('utf8'));

/** Envoy's DNS SAN match of an exact name: case-insensitive, a `*.` SAN standing for exactly one label. */
function dnsNameMatch(name: string, san: string): boolean {
  const n = name.toLowerCase();
  const p = san.toLowerCase();
  if (n === p) return true;
  if (!p.startsWith('*.') || n.length <= p.length - 1) return false;
  const head = n.slice(0, n.length - (p.length - 1));
  return !head.includes('.') && n.slice(head.length) === p.slice(1);
}

/** An IP as Envoy writes an IP SAN (OpenSSL prints IPv6 SANs uncompressed and upper case). */
const canonicalIp = (ip: string) => (ip.includes(':') ? new URL(`http://[${ip}]/`).hostname.slice(1, -1) : ip);

/**
 * Envoy's match_typed_subject_alt_names: the certificate passes when any of its SANs of a matcher's
 * type matches that matcher; no matchers, no SAN check.
 */
function envoySanCheck(matchers: readonly SanMatcher[], peer: tls.PeerCertificate): Error | undefined {
  if (matchers.length === 0) return undefined;
  const sans = (new X509Certificate(peer.raw).subjectAltName ?? '').split(', ').filter(Boolean).map((entry) => {
    const i = entry.indexOf(':');
    const kind = entry.slice(0, i);
    return { type: kind === 'DNS' ? 'DNS' : kind === 'IP Address' ? 'IP_ADDRESS' : kind, value: entry.slice(i + 1) };
  });
  const ok = matchers.some((m) => {
    if (m.matcher.exact === undefined) throw new Error(`matcher not translated: ${JSON.stringify(m)}`);
    const exact = m.matcher.exact;
    return sans.some((s) => s.type === m.san_type && (s.type === 'DNS' ? dnsNameMatch(exact, s.value) : s.type === 'IP_ADDRESS' && canonicalIp(s.value) === exact));
  });
  return ok ? undefined : Object.assign(new Error(`no SAN of the certificate matches ${matchers.map((m) => `${m.san_type}:${m.matcher.exact}`).join(' or ')}`), { code: 'ERR_SAN_MISMATCH' });
}

/** tls.connect options from an UpstreamTlsContext, field for field. */
function connectOptions(ctx: UpstreamTlsContext, port: number): tls.ConnectionOptions {
  const common = ctx.common_tls_context ?? {};
  const vc = common.validation_context;
  const cert = common.tls_certificates?.[0];
  const known = new Set(['sni', 'allow_renegotiation', 'common_tls_context']);
  for (const k of Object.keys(ctx)) assert.ok(known.has(k), `UpstreamTlsContext.${k} is not translated`);
  for (const k of Object.keys(common)) assert.ok(['tls_certificates', 'validation_context'].includes(k), `common_tls_context.${k} is not translated`);
  return {
    host: '127.0.0.1', port,
    // No SNI unless the context says one (host is an IP literal: node sends none by itself).
    ...(ctx.sni !== undefined ? { servername: ctx.sni } : {}),
    // Envoy without a validation context accepts any certificate; with one, the chain must lead to
    // trusted_ca and then the SAN matchers apply.
    ...(vc
      ? { ca: text(vc.trusted_ca), rejectUnauthorized: true, checkServerIdentity: (_host: string, peer: tls.PeerCertificate) => envoySanCheck(vc.match_typed_subject_alt_names ?? [], peer) }
      : { rejectUnauthorized: false }),
    ...(cert ? { cert: text(cert.certificate_chain), key: text(cert.private_key) } : {}),
  };
}

type Outcome = { ok: true; sni: string | null; clientAuthorized: boolean } | { ok: false; error: string };

/** One connection: ok once the server's greeting (what it saw of us) arrives; else the error's code. */
function handshake(options: tls.ConnectionOptions): Promise<Outcome> {
  return new Promise((resolve) => {
    let done = false;
    const finish = (o: Outcome) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(o);
    };
    const socket = tls.connect(options);
    const timer = setTimeout(() => finish({ ok: false, error: 'timeout' }), HANDSHAKE_TIMEOUT_MS);
    let data = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      data += chunk;
      if (data.endsWith('\n')) finish({ ok: true, ...(JSON.parse(data) as { sni: string | null; clientAuthorized: boolean }) });
    });
    socket.on('error', (err: NodeJS.ErrnoException) => finish({ ok: false, error: err.code ?? err.message }));
    socket.on('close', () => finish({ ok: false, error: 'closed before the greeting' }));
  });
}

/** A TLS server on loopback that tells each client the SNI it sent and whether its certificate chained to clientCa. */
async function serve(pair: PemKeyPair, clientCaPem: string, requireClientCert = false): Promise<tls.Server> {
  const server = tls.createServer({ cert: pair.certPem, key: pair.keyPem, ca: clientCaPem, requestCert: true, rejectUnauthorized: requireClientCert, handshakeTimeout: HANDSHAKE_TIMEOUT_MS }, (socket) => {
    socket.on('error', () => {});
    socket.end(`${JSON.stringify({ sni: socket.servername || null, clientAuthorized: socket.authorized })}\n`);
  });
  server.on('tlsClientError', () => {});
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  return server;
}

const portOf = (s: tls.Server) => (s.address() as AddressInfo).port;

describe('TLS origination to external services, against a real TLS server', { timeout: 60_000 }, () => {
  let ca: PemKeyPair;
  let otherCa: PemKeyPair;
  let clientCa: PemKeyPair;
  let client: PemKeyPair;
  const servers: Record<'dns' | 'ip' | 'wrong' | 'wildcard' | 'otherCa' | 'mtls', tls.Server> = {} as never;

  before(async () => {
    [ca, otherCa, clientCa] = await Promise.all([generateCa({ commonName: 'external CA' }), generateCa({ commonName: 'someone else' }), generateCa({ commonName: 'client CA' })]);
    const [dns, ip, wrong, wildcard, fromOther] = await Promise.all([
      issueServerCertificate(ca, { commonName: 'example.test', dnsNames: ['example.test'] }),
      issueServerCertificate(ca, { commonName: 'by ip', ipAddresses: ['127.0.0.1'] }),
      issueServerCertificate(ca, { commonName: 'wrong.test', dnsNames: ['wrong.test'], ipAddresses: ['127.0.0.2'] }),
      issueServerCertificate(ca, { commonName: 'wildcard', dnsNames: ['*.example.test'] }),
      issueServerCertificate(otherCa, { commonName: 'example.test', dnsNames: ['example.test'], ipAddresses: ['127.0.0.1'] }),
    ]);
    const workload = await issueWorkloadCertificate({ caCertPem: clientCa.certPem, caKeyPem: clientCa.keyPem, mesh: 'default', service: 'web' });
    client = { certPem: workload.certPem, keyPem: workload.keyPem };
    servers.dns = await serve(dns, clientCa.certPem);
    servers.ip = await serve(ip, clientCa.certPem);
    servers.wrong = await serve(wrong, clientCa.certPem);
    servers.wildcard = await serve(wildcard, clientCa.certPem);
    servers.otherCa = await serve(fromOther, clientCa.certPem);
    servers.mtls = await serve(dns, clientCa.certPem, true);
  });
  after(async () => {
    await Promise.all(Object.values(servers).map((s) => new Promise((r) => s.close(r))));
  });

  /** The handshake a proxy configured for `target` makes with one of the servers. */
  const dial = (target: ExternalTarget, server: tls.Server) => {
    const { tls: ctx } = proxyCluster(target);
    assert.ok(ctx, 'the cluster originates TLS');
    return handshake(connectOptions(ctx, portOf(server)));
  };
  const caInline = () => ({ inline: b64(ca.certPem) });

  test('a DNS host: SNI is the host; a DNS SAN for it passes, a wrong SAN or another CA fails', async () => {
    const t = targetOf('example.test:443', { enabled: true, caCert: caInline() });
    assert.deepEqual(proxyCluster(t).tls?.common_tls_context?.validation_context?.match_typed_subject_alt_names, [
      { san_type: 'DNS', matcher: { exact: 'example.test' } }, { san_type: 'IP_ADDRESS', matcher: { exact: 'example.test' } },
    ]);
    assert.deepEqual(await dial(t, servers.dns), { ok: true, sni: 'example.test', clientAuthorized: false });
    assert.deepEqual(await dial(t, servers.wrong), { ok: false, error: 'ERR_SAN_MISMATCH' });
    assert.deepEqual(await dial(t, servers.ip), { ok: false, error: 'ERR_SAN_MISMATCH' });
    const other = await dial(t, servers.otherCa);
    assert.ok(!other.ok && other.error !== 'ERR_SAN_MISMATCH', `the chain is refused first: ${JSON.stringify(other)}`);
  });

  test('an IP literal: no SNI, and an IP SAN for it passes (the issue: meshfed sent the IP as SNI and wanted a DNS SAN)', async () => {
    const t = targetOf('127.0.0.1:8443', { enabled: true, caCert: caInline() });
    const { tls: ctx } = proxyCluster(t);
    assert.equal(ctx?.sni, undefined);
    assert.deepEqual(ctx?.common_tls_context?.validation_context?.match_typed_subject_alt_names, [
      { san_type: 'DNS', matcher: { exact: '127.0.0.1' } }, { san_type: 'IP_ADDRESS', matcher: { exact: '127.0.0.1' } },
    ]);
    assert.deepEqual(await dial(t, servers.ip), { ok: true, sni: null, clientAuthorized: false });
    assert.deepEqual(await dial(t, servers.dns), { ok: false, error: 'ERR_SAN_MISMATCH' });
    assert.deepEqual(await dial(t, servers.wrong), { ok: false, error: 'ERR_SAN_MISMATCH' });
  });

  test('an IPv6 literal is matched as Envoy writes an IP SAN', () => {
    const { tls: ctx } = proxyCluster(targetOf('[2001:DB8:0:0::1]:443', { enabled: true, caCert: caInline() }));
    assert.equal(ctx?.sni, undefined);
    assert.deepEqual(ctx?.common_tls_context?.validation_context?.match_typed_subject_alt_names?.map((m) => m.matcher.exact), ['2001:db8::1', '2001:db8::1']);
  });

  test('serverName: the SNI and the name the SAN must match, for an IP literal too; a wildcard DNS SAN covers one label', async () => {
    const byIp = targetOf('127.0.0.1:8443', { enabled: true, serverName: 'example.test', caCert: caInline() });
    assert.deepEqual(await dial(byIp, servers.dns), { ok: true, sni: 'example.test', clientAuthorized: false });
    assert.deepEqual(await dial(byIp, servers.ip), { ok: false, error: 'ERR_SAN_MISMATCH' });
    const api = targetOf('example.test:443', { enabled: true, serverName: 'api.example.test', caCert: caInline() });
    assert.deepEqual(await dial(api, servers.wildcard), { ok: true, sni: 'api.example.test', clientAuthorized: false });
    const deeper = targetOf('example.test:443', { enabled: true, serverName: 'a.api.example.test', caCert: caInline() });
    assert.deepEqual(await dial(deeper, servers.wildcard), { ok: false, error: 'ERR_SAN_MISMATCH' });
  });

  test('skipHostnameVerification: any SAN passes, the chain is still checked', async () => {
    const t = targetOf('example.test:443', { enabled: true, skipHostnameVerification: true, caCert: caInline() });
    assert.equal(proxyCluster(t).tls?.common_tls_context?.validation_context?.match_typed_subject_alt_names, undefined);
    assert.deepEqual(await dial(t, servers.wrong), { ok: true, sni: 'example.test', clientAuthorized: false });
    const other = await dial(t, servers.otherCa);
    assert.equal(other.ok, false);
  });

  test("without caCert the server's certificate is not verified (Kuma's ExternalService)", async () => {
    const t = targetOf('127.0.0.1:8443', { enabled: true });
    assert.deepEqual(proxyCluster(t).tls, {});
    assert.deepEqual(await dial(t, servers.otherCa), { ok: true, sni: null, clientAuthorized: false });
  });

  test('caCert and a client certificate by Secret reference, as inline: the server that requires one takes it', async () => {
    const secrets = [secret('ext-ca', b64(ca.certPem)), secret('client-cert', b64(client.certPem)), secret('client-key', b64(client.keyPem))];
    const t = targetOf('example.test:443', { enabled: true, caCert: { secret: 'ext-ca' }, clientCert: { secret: 'client-cert' }, clientKey: { secret: 'client-key' } }, secrets);
    assert.deepEqual(originationProblems(t), []);
    assert.deepEqual(await dial(t, servers.mtls), { ok: true, sni: 'example.test', clientAuthorized: true });
    const inline = targetOf('example.test:443', { enabled: true, caCert: { inlineString: ca.certPem }, clientCert: { inline: b64(client.certPem) }, clientKey: { inlineString: client.keyPem } });
    assert.deepEqual(await dial(inline, servers.mtls), { ok: true, sni: 'example.test', clientAuthorized: true });
    const without = targetOf('example.test:443', { enabled: true, caCert: { secret: 'ext-ca' } }, secrets);
    assert.equal((await dial(without, servers.mtls)).ok, false, 'the server requiring a client certificate refuses a client without one');
  });

  test('allowRenegotiation is passed on', () => {
    assert.equal(proxyCluster(targetOf('example.test:443', { enabled: true, allowRenegotiation: true })).tls?.allow_renegotiation, true);
  });

  test('TLS off: plaintext, as asked', () => {
    assert.equal(proxyCluster(targetOf('example.test:80', undefined)).tls, undefined);
    assert.equal(proxyCluster(targetOf('example.test:80', { enabled: false, caCert: { secret: 'absent' } })).tls, undefined);
    assert.deepEqual(originationProblems(targetOf('example.test:80', { enabled: false, caCert: { secret: 'absent' } })), []);
  });

  test('a Secret missing, undecodable, not PEM, or the mesh CA key: not served, never weaker; the problem names it, not its contents', () => {
    const keyData = b64(client.keyPem);
    const cases: [Record<string, unknown>, ResourceView[], string][] = [
      [{ caCert: { secret: 'ext-ca' } }, [], 'tls.caCert: Secret "ext-ca" does not exist in the mesh'],
      [{ caCert: { secret: 'ext-ca' } }, [secret('ext-ca', '%%%not base64%%%')], 'tls.caCert: Secret "ext-ca" has data that is not base64'],
      [{ caCert: { secret: 'ext-ca' } }, [secret('ext-ca', keyData)], 'tls.caCert: Secret "ext-ca" is not a PEM certificate'],
      [{ caCert: caInline(), clientCert: { secret: 'c' }, clientKey: { secret: 'k' } }, [secret('c', b64(client.certPem)), secret('k', b64(ca.certPem))], 'tls.clientKey: Secret "k" is not an unencrypted PEM private key'],
      [{ caCert: caInline(), clientCert: { secret: 'c' }, clientKey: { secret: 'k' } }, [secret('c', b64(client.certPem)), secret('k', b64(ca.keyPem))], 'tls.clientKey is not the key of tls.clientCert'],
      [{ clientCert: { inlineString: client.certPem }, clientKey: { secret: 'default.ca-builtin-key-ca-1' } }, [secret('default.ca-builtin-key-ca-1', b64(ca.keyPem))],
        'tls.clientKey: Secret "default.ca-builtin-key-ca-1" is the mesh CA\'s private key, which no ExternalService may use'],
    ];
    for (const [fields, secrets, issue] of cases) {
      const t = targetOf('127.0.0.1:8443', { enabled: true, ...fields }, secrets);
      const problems = originationProblems(t);
      assert.deepEqual(problems, [`ExternalService ext is not served: ${issue} (TLS is originated as configured or not at all)`]);
      assert.equal(originationFor(t).kind, 'refused');
      const { cluster, tls: ctx } = proxyCluster(t);
      assert.equal(ctx, undefined);
      assert.equal(cluster['transport_socket'], undefined);
      assert.deepEqual(cluster['load_assignment'], { cluster_name: 'ext' }, 'no endpoints: nothing is dialled');
      for (const s of secrets) {
        const data = String(s.spec['data']);
        for (const leak of [data, Buffer.from(data, 'base64').toString('utf8')]) assert.ok(!problems.join().includes(leak.slice(0, 40)) || leak.length < 8, 'no secret contents in problems');
      }
    }
  });

  test('only the certificates of a bundle reach the proxy; a key Envoy cannot use (Ed25519, RSA below 2048 bits) is refused', () => {
    // A caCert Secret holding a certificate and a private key: the key must not ship.
    const bundle = targetOf('example.test:443', { enabled: true, caCert: { secret: 'bundle' } }, [secret('bundle', b64(`${ca.certPem}\n${client.keyPem}`))]);
    assert.deepEqual(originationProblems(bundle), []);
    const trusted = proxyCluster(bundle).tls!.common_tls_context!.validation_context!.trusted_ca!.inline_string!;
    assert.ok(trusted.includes('BEGIN CERTIFICATE') && !trusted.includes('PRIVATE KEY'), 'the key of the bundle is left out');
    for (const [what, pair] of [
      ['an ed25519 key: Envoy takes RSA or ECDSA keys only', generateKeyPairSync('ed25519')],
      ['an RSA key shorter than 2048 bits, which Envoy refuses', generateKeyPairSync('rsa', { modulusLength: 1024 })],
    ] as const) {
      const keyPem = pair.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
      const t = targetOf('example.test:443', { enabled: true, clientCert: { inlineString: client.certPem }, clientKey: { inlineString: keyPem } });
      assert.match(originationProblems(t).join(), new RegExp(`tls.clientKey: inlineString is ${what.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`), what);
      assert.equal(proxyCluster(t).tls, undefined, 'not served');
    }
  });

  test("a referenced Secret's change moves the version of the service that uses it, and nothing else's", () => {
    const spec = { enabled: true, caCert: { secret: 'ext-ca' } };
    const version = (secrets: ResourceView[]) => dependencyVersions(indexed('example.test:443', spec, secrets), new RulesCache()).get(dep.service('default', 'ext'));
    const v1 = version([secret('ext-ca', b64(ca.certPem)), secret('unrelated', b64('a'))]);
    assert.equal(version([secret('ext-ca', b64(ca.certPem)), secret('unrelated', b64('b'))]), v1);
    assert.notEqual(version([secret('ext-ca', b64(otherCa.certPem)), secret('unrelated', b64('a'))]), v1);
    assert.notEqual(version([]), v1);
  });
});

describe('the xDS reconciler follows the Secrets an ExternalService names', { timeout: 30_000 }, () => {
  test('a Secret arriving configures the TLS; changing it reconfigures only the proxies that dial the service', async (t) => {
    const bus = new InProcessEventBus();
    const store: ResourceStore = new MemoryStore(bus);
    const cache = new SnapshotCache();
    const problems = new Map<string, string | undefined>();
    const certificates = new WorkloadCertificateCache({ store, bus });
    const reconciler = startXdsReconciler({
      store, bus, cache, certificates, zone: 'zone-1', resyncIntervalMs: 0, log: createLogger({ component: 'test', level: 'silent' }),
      telemetry: new Telemetry({ service: 'test' }), onProblem: (id, p) => problems.set(id, p),
    });
    t.after(async () => {
      await reconciler.stop();
      certificates.close();
    });
    const global = { 'kuma.io/origin': 'global' };
    const dp = (name: string, address: string, outbound: string[]) => ({
      type: 'Dataplane' as const, mesh: 'default', name, labels: {},
      spec: { networking: { address, inbound: [{ port: 8080, tags: { 'kuma.io/service': name } }], outbound: outbound.map((s, i) => ({ port: 10001 + i, tags: { 'kuma.io/service': s } })) } },
    });
    const [ca, ca2] = await Promise.all([generateCa(), generateCa()]);
    await store.commit([
      { op: 'put', resource: { type: 'Mesh', name: 'default', labels: global, spec: {} } },
      { op: 'put', resource: { type: 'ExternalService', mesh: 'default', name: 'ext', labels: global, spec: { tags: { 'kuma.io/service': 'ext' }, networking: { address: 'example.test:443', tls: { enabled: true, caCert: { secret: 'ext-ca' } } } } } },
      { op: 'put', resource: dp('web', '10.0.0.1', ['ext']) },
      { op: 'put', resource: dp('db', '10.0.0.2', []) },
    ]);
    const trustedCa = () => {
      const entry = cache.get('default.web')?.types.cluster.entries.get('ext');
      if (!entry) return undefined;
      const c = unpack(entry.resource) as { transport_socket?: { typed_config: Any }; load_assignment?: { endpoints?: unknown[] } };
      if (!c.transport_socket) return (c.load_assignment?.endpoints ?? []).length === 0 ? 'unserved' : 'plaintext';
      return text((unpack(c.transport_socket.typed_config) as UpstreamTlsContext).common_tls_context?.validation_context?.trusted_ca) ?? 'unverified';
    };
    const eventually = async <T>(what: string, f: () => T | undefined | false): Promise<T> => {
      const until = Date.now() + 5_000;
      for (;;) {
        const v = f();
        if (v !== undefined && v !== false) return v;
        if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
        await new Promise((r) => setTimeout(r, 5));
      }
    };
    await reconciler.runNow();
    await eventually('web is configured, without the service', () => trustedCa() === 'unserved');
    assert.match(problems.get('default.web') ?? '', /ExternalService ext is not served: tls\.caCert: Secret "ext-ca" does not exist in the mesh/);

    await store.commit([{ op: 'put', resource: { type: 'Secret', mesh: 'default', name: 'ext-ca', labels: global, spec: { data: b64(ca.certPem) } } }]);
    await eventually('the Secret configures web', () => trustedCa() === ca.certPem);
    assert.equal(problems.get('default.web'), undefined);

    const db = cache.get('default.db');
    const runs = reconciler.stats().generatedTotal;
    await store.commit([{ op: 'put', resource: { type: 'Secret', mesh: 'default', name: 'ext-ca', labels: global, spec: { data: b64(ca2.certPem) } } }]);
    await eventually('the changed Secret reconfigures web', () => trustedCa() === ca2.certPem);
    assert.equal(cache.get('default.db'), db, 'db does not dial ext: it is not regenerated');
    assert.equal(reconciler.stats().generatedTotal - runs, 1, 'one proxy regenerated');

    await store.commit([{ op: 'delete', key: { type: 'Secret', mesh: 'default', name: 'ext-ca' } }]);
    await eventually('the deleted Secret unserves the service', () => trustedCa() === 'unserved');
  });
});
