import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import { credentials, status } from '@grpc/grpc-js';
import { type Any, clientCredentials, type EnvoyObject, generateCa, issueServerCertificate, unpack } from '@meshfed/shared';
import { cleanups } from './support/cleanup.js';
import { eventually, FAST_GLOBAL, getJson, put, startXdsFederation, startZone, tmp } from './support/federation.js';
import { type RunningCp, runToExit, startCp } from './support/processes.js';
import { dataplane, ok } from './support/xds-resources.js';
import { XdsTestClient, xdsPortOf, type XdsTarget, xdsTargetOf } from './support/xds-client.js';

const cleanup = (f: () => unknown) => cleanups.push(f);

interface Chain { filter_chain_match?: { server_names?: string[] }; filters: { typed_config: Any }[]; transport_socket?: { typed_config: Any } }
/** The SNI chains of a proxy's one listener: SNI → [cluster, terminates TLS]. */
function sniChains(l: EnvoyObject | undefined): Map<string, [string, boolean]> {
  const chains = ((l?.['filter_chains'] ?? []) as Chain[]);
  return new Map(chains.map((c) => [c.filter_chain_match?.server_names?.[0] ?? '', [String(unpack(c.filters[c.filters.length - 1]!.typed_config)['cluster']), c.transport_socket !== undefined]]));
}

test('web in zone-1 reaches backend in zone-2 through the ingress, then through zone-1\'s egress, and an external service, all by push', { timeout: 90_000 }, async () => {
  const { global, z1, z2 } = await startXdsFederation(cleanup);

  // Cross-zone traffic needs mesh mTLS (the ingress routes by SNI); without it web would see zone-1 alone.
  await ok(put(`${global.url}/meshes/default`, { type: 'Mesh', name: 'default', mtls: { enabledBackend: 'ca-1', backends: [{ name: 'ca-1', type: 'builtin' }] } }));
  await ok(put(`${z2.url}/zoneingresses/ingress`, { type: 'ZoneIngress', name: 'ingress', networking: { address: '127.0.0.1', port: 20001, advertisedAddress: '127.0.0.1', advertisedPort: 20001 } }));
  await ok(put(`${z2.url}/meshes/default/dataplanes/backend-1`, dataplane('backend-1', 21001, 'backend')));
  await ok(put(`${z2.url}/meshes/default/dataplanes/backend-2`, dataplane('backend-2', 21002, 'backend')));
  await ok(put(`${global.url}/meshes/default/external-services/httpbin`, {
    type: 'ExternalService', mesh: 'default', name: 'httpbin', tags: { 'kuma.io/service': 'httpbin' }, networking: { address: 'httpbin.org:443', tls: { enabled: true } },
  }));
  await ok(put(`${z1.url}/meshes/default/dataplanes/web`, dataplane('web', 11001, 'web', [['backend', 12001], ['httpbin', 12002]])));

  // Over TLS, each zone's certificate checked against the CA it serves (what its bootstraps embed).
  const [xds1, xds2] = await Promise.all([xdsTargetOf(z1), xdsTargetOf(z2)]);
  const web = new XdsTestClient(xds1, 'default.web', 'dataplane');
  const ingress2 = new XdsTestClient(xds2, 'ingress', 'ingress');

  // 1. Without egress: zone-2's ingress, weighted by its two instances; the external service direct.
  await web.waitFor('backend via zone-2\'s ingress, weight 2', (c) => c.endpoints('backend')?.join() === '127.0.0.1:20001/2@zone-2');
  await web.waitFor('httpbin direct', (c) => c.get('cluster', 'httpbin')?.['type'] === 'STRICT_DNS');
  await ingress2.waitFor('zone-2 ingress passes backend through to both instances', (c) =>
    sniChains(c.get('listener', 'inbound:127.0.0.1:20001')).get('backend{mesh=default}')?.[0] === 'default:backend'
    && c.endpoints('default:backend')?.join() === '127.0.0.1:21001/1@zone-2,127.0.0.1:21002/1@zone-2');

  // 2. routing.zoneEgress with an egress in zone-1: backend and httpbin go to the egress.
  await ok(put(`${global.url}/meshes/default`, {
    type: 'Mesh', name: 'default', mtls: { enabledBackend: 'ca-1', backends: [{ name: 'ca-1', type: 'builtin' }] }, routing: { zoneEgress: true },
  }));
  await ok(put(`${z1.url}/zoneegresses/egress`, { type: 'ZoneEgress', name: 'egress', networking: { address: '127.0.0.1', port: 10002 } }));
  // zone-2's instances keep zone-2's locality through the egress: one endpoint per egress, weight 1 (as Kuma).
  await web.waitFor('backend via zone-1\'s egress', (c) => c.endpoints('backend')?.join() === '127.0.0.1:10002/1@zone-2');
  await web.waitFor('httpbin via zone-1\'s egress', (c) => c.get('cluster', 'httpbin')?.['type'] === 'EDS' && c.endpoints('httpbin')?.join() === '127.0.0.1:10002/1@zone-1');
  const tls = unpack((web.get('cluster', 'backend') as { transport_socket: { typed_config: Any } }).transport_socket.typed_config);
  assert.equal(tls['sni'], 'backend{mesh=default}', 'mesh mTLS names the service in SNI');
  await web.waitFor('its mTLS secrets', (c) => c.names('secret').join() === 'identity_cert:secret:default,mesh_ca:secret:default');

  const egress = new XdsTestClient(xds1, 'egress', 'egress');
  await egress.waitFor('the egress routes backend to zone-2\'s ingress and terminates mTLS for httpbin', (c) => {
    const chains = sniChains(c.get('listener', 'inbound:127.0.0.1:10002'));
    return chains.get('backend{mesh=default}')?.join() === 'default:backend,false'
      && chains.get('httpbin{mesh=default}')?.join() === 'default:httpbin,true'
      && c.endpoints('default:backend')?.join() === '127.0.0.1:20001/2@zone-2'
      && c.get('cluster', 'default:httpbin')?.['type'] === 'STRICT_DNS';
  });

  // 3. The egress removed: cross-zone and external traffic has no endpoints.
  const del = await fetch(`${z1.url}/zoneegresses/egress`, { method: 'DELETE' });
  assert.equal(del.status, 200, await del.text());
  await web.waitFor('no endpoints without an egress', (c) => c.endpoints('backend')?.length === 0 && c.endpoints('httpbin')?.length === 0);

  // Every step arrived by push on the streams opened at the start.
  for (const c of [web, ingress2]) {
    assert.equal(c.error, undefined);
    assert.equal(c.ended, false);
  }
});

async function dataplaneToken(zone: RunningCp, mesh: string, name: string): Promise<string> {
  const res = await fetch(`${zone.url}/tokens/dataplane`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ mesh, name, validFor: '1h' }) });
  assert.equal(res.status, 200, await res.clone().text());
  return (await res.text()).trim();
}

test('proxies authenticate with tokens; a proxy connecting before it is registered waits and is configured by push', { timeout: 90_000 }, async () => {
  const dir = tmp();
  cleanup(dir.cleanup);
  const global = await startCp('global', FAST_GLOBAL);
  const zone = await startZone(global, 'zone-1', dir.dir);
  await eventually('the default mesh in the zone', async () => (await getJson(`${zone.url}/meshes/default`)).status === 200);
  const xds = await xdsTargetOf(zone);

  // No token, another dataplane's token, an egress token for an ingress: refused, saying why.
  const webToken = await dataplaneToken(zone, 'default', 'web');
  const refusals: [string, string, 'dataplane' | 'ingress' | 'egress', string | undefined, RegExp][] = [
    ['no token', 'default.web', 'dataplane', undefined, /token/i],
    ['another dataplane\'s token', 'default.db', 'dataplane', webToken, /"default\.web".*"default\.db"|default\.db.*default\.web/],
    ['a zone token without the ingress scope', 'ingress', 'ingress', await fetchZoneToken(global, 'zone-1', ['egress']), /scope|ingress/],
  ];
  for (const [what, id, type, token, reason] of refusals) {
    const c = new XdsTestClient(xds, id, type, token);
    await eventually(`${what} refused`, async () => c.error !== undefined);
    assert.match(c.error!.details ?? c.error!.message, reason, what);
  }

  // The web's stream opens before its Dataplane exists: it waits, then gets its configuration by push.
  const web = new XdsTestClient(xds, 'default.web', 'dataplane', webToken);
  await eventually('the zone says why web waits', async () => zone.logs().includes('does not exist in this zone'));
  assert.equal(web.names('listener').length, 0);
  await ok(put(`${zone.url}/meshes/default/dataplanes/web`, dataplane('web', 11001, 'web')));
  await web.waitFor('web configured on the same stream', (c) => c.names('listener').includes('inbound:127.0.0.1:11001'));
  assert.equal(web.error, undefined);

  // An egress with a zone token of scope egress, checked with global's key that came over KDS.
  await ok(put(`${zone.url}/zoneegresses/egress`, { type: 'ZoneEgress', name: 'egress', networking: { address: '127.0.0.1', port: 10002 } }));
  const egress = new XdsTestClient(xds, 'egress', 'egress', await fetchZoneToken(global, 'zone-1', ['egress']));
  // Nothing to route yet (no mTLS mesh), so nothing is pushed: the zone shows it connected.
  await eventually('the egress connected', async () => (await getJson(`${zone.url}/zoneegresses+insights`)).body.items.find((i: { name: string }) => i.name === 'egress')?.insight.connected === true);
  assert.equal(egress.error, undefined);

  const insight = await getJson(`${zone.url}/meshes/default/dataplanes+insights/web`);
  assert.equal(insight.status, 200);
  assert.equal(insight.body.insight.connected, true);
  await eventually('web ACKed everything', async () => (await getJson(`${zone.url}/meshes/default/dataplanes+insights/web`)).body.insight.synced === true);
});

async function fetchZoneToken(global: RunningCp, zone: string, scope: string[]): Promise<string> {
  const res = await fetch(`${global.url}/tokens/zone`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ zone, scope, validFor: '1h' }) });
  assert.equal(res.status, 200);
  return (await res.text()).trim();
}

/** A loopback relay to `targetPort` that keeps every byte its clients send: what crosses the network. Closed after the file's tests. */
async function recordingRelay(targetPort: number): Promise<{ port: number; sent: () => Buffer }> {
  const chunks: Buffer[] = [];
  const server = createServer((client) => {
    const upstream = connect(targetPort, '127.0.0.1');
    client.on('data', (b: Buffer) => chunks.push(b));
    for (const s of [client, upstream]) s.on('error', () => s.destroy());
    client.pipe(upstream).pipe(client);
  });
  cleanup(() => server.close());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return { port, sent: () => Buffer.concat(chunks) };
}

/** The content types of the TLS records `bytes` consists of; throws at the first byte that is not inside one. */
function tlsRecordTypes(bytes: Buffer): Set<number> {
  const types = new Set<number>();
  for (let at = 0; at < bytes.length;) {
    const [type, major] = [bytes[at]!, bytes[at + 1]!];
    // change_cipher_spec, alert, handshake, application_data; record version 3.x.
    if (![20, 21, 22, 23].includes(type) || major !== 3) throw new Error(`byte ${at} is not the start of a TLS record: ${bytes.subarray(at, at + 16).toString('hex')}`);
    types.add(type);
    at += 5 + bytes.readUInt16BE(at + 3);
  }
  return types;
}

test('xDS is served over TLS: the token crosses the network inside TLS; plaintext clients and other CAs are refused; --xds-insecure and --xds-tls-cert', { timeout: 90_000 }, async () => {
  const dir = tmp();
  cleanup(dir.cleanup);
  const [own, insecure] = await Promise.all([startCp('zone', ['--zone', 'zone-1']), startCp('zone', ['--zone', 'zone-1', '--xds-insecure'])]);
  for (const z of [own, insecure]) await eventually('the default mesh', async () => (await getJson(`${z.url}/meshes/default`)).status === 200);

  // The zone's own CA: a proxy trusting it, dialling through a relay, is authenticated and configured.
  const xds = await xdsTargetOf(own);
  assert.match(own.logs(), /"caFingerprint":"([0-9A-F]{2}:){31}[0-9A-F]{2}"/, 'the CA fingerprint is logged');
  const token = await dataplaneToken(own, 'default', 'web');
  await ok(put(`${own.url}/meshes/default/dataplanes/web`, dataplane('web', 11001, 'web')));
  const boot = await (await fetch(`${own.url}/bootstrap`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ mesh: 'default', name: 'web' }) })).json();
  assert.equal(boot.static_resources.clusters[0].transport_socket.typed_config.common_tls_context.validation_context.trusted_ca.inline_string, xds.caPem, 'the bootstrap trusts the CA that signed the xDS certificate');
  const relay = await recordingRelay(xdsPortOf(own));
  const web = new XdsTestClient({ ...xds, address: `127.0.0.1:${relay.port}` }, 'default.web', 'dataplane', token);
  await web.waitFor('web configured over TLS', (c) => c.names('listener').includes('inbound:127.0.0.1:11001'));
  const wire = relay.sent();
  const types = tlsRecordTypes(wire);
  assert.ok(types.has(22) && types.has(23), 'a handshake, then application data');
  for (const clear of [token, 'authorization', 'default.web', 'PRI * HTTP/2.0']) assert.equal(wire.includes(clear), false, `"${clear.slice(0, 20)}" is not on the wire`);

  // Plaintext, or TLS trusting another CA: refused before any request is read.
  const otherCa = await generateCa({ commonName: 'not the zone' });
  const refused: [string, XdsTarget][] = [
    ['a plaintext client', { address: xds.address, credentials: credentials.createInsecure() }],
    ['a client trusting another CA', { address: xds.address, credentials: clientCredentials({ caPem: otherCa.certPem }) }],
  ];
  for (const [what, target] of refused) {
    const c = new XdsTestClient(target, 'default.web', 'dataplane', token);
    await eventually(`${what} refused`, async () => c.error !== undefined);
    assert.equal(c.error!.code, status.UNAVAILABLE, `${what}: ${c.error!.message}`);
    assert.equal(c.responses, 0);
  }

  // --xds-insecure: said in a warning, no CA to fetch, and the same capture sees HTTP/2 in clear text.
  assert.match(insecure.logs(), /"level":"warn".*xDS is served without TLS \(--xds-insecure\)/);
  assert.equal((await fetch(`${insecure.url}/xds-ca.crt`)).status, 404);
  const plainRelay = await recordingRelay(xdsPortOf(insecure));
  const plain = new XdsTestClient({ address: `127.0.0.1:${plainRelay.port}`, credentials: credentials.createInsecure() }, 'default.web', 'dataplane', await dataplaneToken(insecure, 'default', 'web'));
  await eventually('the plaintext stream\'s first bytes', async () => plainRelay.sent().length > 24);
  assert.equal(plainRelay.sent().subarray(0, 14).toString(), 'PRI * HTTP/2.0', 'without TLS the capture reads HTTP/2 itself');

  // --xds-tls-cert/--xds-tls-key with --xds-tls-ca: the zone serves that certificate and that CA.
  const ca = await generateCa({ commonName: 'operator CA' });
  const pair = await issueServerCertificate(ca, { commonName: 'zone-1', ipAddresses: ['127.0.0.1'] });
  const files = { cert: join(dir.dir, 'xds.crt'), key: join(dir.dir, 'xds.key'), ca: join(dir.dir, 'xds-ca.crt') };
  writeFileSync(files.cert, pair.certPem);
  writeFileSync(files.key, pair.keyPem);
  writeFileSync(files.ca, ca.certPem);
  const given = await startCp('zone', ['--zone', 'zone-1', '--dp-auth', 'none', '--xds-tls-cert', files.cert, '--xds-tls-key', files.key, '--xds-tls-ca', files.ca]);
  await eventually('the default mesh', async () => (await getJson(`${given.url}/meshes/default`)).status === 200);
  const givenXds = await xdsTargetOf(given);
  assert.equal(givenXds.caPem, ca.certPem);
  await ok(put(`${given.url}/meshes/default/dataplanes/web`, dataplane('web', 11001, 'web')));
  const viaOperatorCa = new XdsTestClient({ address: givenXds.address, credentials: clientCredentials({ caPem: ca.certPem }) }, 'default.web', 'dataplane');
  await viaOperatorCa.waitFor('configured through the operator\'s certificate', (c) => c.names('listener').includes('inbound:127.0.0.1:11001'));

  // Half a key pair is a flag error at start.
  const half = await runToExit('zone', ['--xds-tls-cert', files.cert, '--api-port', '0', '--xds-port', '0']);
  assert.equal(half.code, 2);
  assert.match(half.stderr, /^meshfed-zone: --xds-tls-cert and --xds-tls-key must be given together\n$/);
});
