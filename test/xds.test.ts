import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type Any, type EnvoyObject, unpack } from '@meshfed/shared';
import { cleanupAfterAll } from './support/cleanup.js';
import { eventually, FAST_GLOBAL, getJson, put, startZone, tmp } from './support/federation.js';
import { type RunningCp, startCp } from './support/processes.js';
import { XdsTestClient } from './support/xds-client.js';

const { cleanups } = cleanupAfterAll();
const cleanup = (f: () => unknown) => cleanups.push(f);

/** The ADS port a zone CP printed in its log. */
function xdsAddressOf(cp: RunningCp): string {
  const line = cp.logs().split('\n').find((l) => l.includes('"xDS: ADS server listening"'));
  if (!line) throw new Error(`the zone did not log its ADS port:\n${cp.logs()}`);
  return `127.0.0.1:${(JSON.parse(line) as { port: number }).port}`;
}

const dataplane = (name: string, port: number, service: string, outbound: [string, number][] = []) => ({
  type: 'Dataplane', mesh: 'default', name,
  networking: {
    address: '127.0.0.1', inbound: [{ port, tags: { 'kuma.io/service': service } }],
    ...(outbound.length ? { outbound: outbound.map(([s, p]) => ({ port: p, tags: { 'kuma.io/service': s } })) } : {}),
  },
});

async function ok(res: Promise<Response>): Promise<void> {
  const r = await res;
  assert.ok(r.ok, `${r.status} ${await r.text()}`);
}

interface Chain { filter_chain_match?: { server_names?: string[] }; filters: { typed_config: Any }[]; transport_socket?: { typed_config: Any } }
/** The SNI chains of a proxy's one listener: SNI → [cluster, terminates TLS]. */
function sniChains(l: EnvoyObject | undefined): Map<string, [string, boolean]> {
  const chains = ((l?.['filter_chains'] ?? []) as Chain[]);
  return new Map(chains.map((c) => [c.filter_chain_match?.server_names?.[0] ?? '', [String(unpack(c.filters[0]!.typed_config)['cluster']), c.transport_socket !== undefined]]));
}

test('web in zone-1 reaches backend in zone-2 through the ingress, then through zone-1\'s egress, and an external service, all by push', { timeout: 90_000 }, async () => {
  const dir = tmp();
  cleanup(dir.cleanup);
  const global = await startCp('global', FAST_GLOBAL);
  cleanup(() => global.stop());
  const [z1, z2] = await Promise.all(['zone-1', 'zone-2'].map((z) => startZone(global, z, dir.dir, ['--xds-port', '0', '--xds-address', '127.0.0.1', '--dp-auth', 'none'])));
  cleanup(() => z1!.stop());
  cleanup(() => z2!.stop());
  for (const z of [z1!, z2!]) await eventually('the default mesh in the zone', async () => (await getJson(`${z.url}/meshes/default`)).status === 200);

  await ok(put(`${z2!.url}/zoneingresses/ingress`, { type: 'ZoneIngress', name: 'ingress', networking: { address: '127.0.0.1', port: 20001, advertisedAddress: '127.0.0.1', advertisedPort: 20001 } }));
  await ok(put(`${z2!.url}/meshes/default/dataplanes/backend-1`, dataplane('backend-1', 21001, 'backend')));
  await ok(put(`${z2!.url}/meshes/default/dataplanes/backend-2`, dataplane('backend-2', 21002, 'backend')));
  await ok(put(`${global.url}/meshes/default/external-services/httpbin`, {
    type: 'ExternalService', mesh: 'default', name: 'httpbin', tags: { 'kuma.io/service': 'httpbin' }, networking: { address: 'httpbin.org:443', tls: { enabled: true } },
  }));
  await ok(put(`${z1!.url}/meshes/default/dataplanes/web`, dataplane('web', 11001, 'web', [['backend', 12001], ['httpbin', 12002]])));

  const web = new XdsTestClient(xdsAddressOf(z1!), 'default.web', 'dataplane');
  const ingress2 = new XdsTestClient(xdsAddressOf(z2!), 'ingress', 'ingress');
  cleanup(() => web.close());
  cleanup(() => ingress2.close());

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
  await ok(put(`${z1!.url}/zoneegresses/egress`, { type: 'ZoneEgress', name: 'egress', networking: { address: '127.0.0.1', port: 10002 } }));
  await web.waitFor('backend via zone-1\'s egress', (c) => c.endpoints('backend')?.join() === '127.0.0.1:10002/2@zone-1');
  await web.waitFor('httpbin via zone-1\'s egress', (c) => c.get('cluster', 'httpbin')?.['type'] === 'EDS' && c.endpoints('httpbin')?.join() === '127.0.0.1:10002/1@zone-1');
  const tls = unpack((web.get('cluster', 'backend') as { transport_socket: { typed_config: Any } }).transport_socket.typed_config);
  assert.equal(tls['sni'], 'backend{mesh=default}', 'mesh mTLS names the service in SNI');
  await web.waitFor('its mTLS secrets', (c) => c.names('secret').join() === 'identity_cert:secret:default,mesh_ca:secret:default');

  const egress = new XdsTestClient(xdsAddressOf(z1!), 'egress', 'egress');
  cleanup(() => egress.close());
  await egress.waitFor('the egress routes backend to zone-2\'s ingress and terminates mTLS for httpbin', (c) => {
    const chains = sniChains(c.get('listener', 'inbound:127.0.0.1:10002'));
    return chains.get('backend{mesh=default}')?.join() === 'default:backend,false'
      && chains.get('httpbin{mesh=default}')?.join() === 'default:httpbin,true'
      && c.endpoints('default:backend')?.join() === '127.0.0.1:20001/2@zone-2'
      && c.get('cluster', 'default:httpbin')?.['type'] === 'STRICT_DNS';
  });

  // 3. The egress removed: cross-zone and external traffic has no endpoints.
  const del = await fetch(`${z1!.url}/zoneegresses/egress`, { method: 'DELETE' });
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
  cleanup(() => global.stop());
  const zone = await startZone(global, 'zone-1', dir.dir);
  cleanup(() => zone.stop());
  await eventually('the default mesh in the zone', async () => (await getJson(`${zone.url}/meshes/default`)).status === 200);
  const xds = xdsAddressOf(zone);

  // No token, another dataplane's token, an egress token for an ingress: refused, saying why.
  const webToken = await dataplaneToken(zone, 'default', 'web');
  const refusals: [string, string, 'dataplane' | 'ingress' | 'egress', string | undefined, RegExp][] = [
    ['no token', 'default.web', 'dataplane', undefined, /token/i],
    ['another dataplane\'s token', 'default.db', 'dataplane', webToken, /"default\.web".*"default\.db"|default\.db.*default\.web/],
    ['a zone token without the ingress scope', 'ingress', 'ingress', await fetchZoneToken(global, 'zone-1', ['egress']), /scope|ingress/],
  ];
  for (const [what, id, type, token, reason] of refusals) {
    const c = new XdsTestClient(xds, id, type, token);
    cleanup(() => c.close());
    await eventually(`${what} refused`, async () => c.error !== undefined);
    assert.match(c.error!.details ?? c.error!.message, reason, what);
  }

  // The web's stream opens before its Dataplane exists: it waits, then gets its configuration by push.
  const web = new XdsTestClient(xds, 'default.web', 'dataplane', webToken);
  cleanup(() => web.close());
  await eventually('the zone says why web waits', async () => zone.logs().includes('does not exist in this zone'));
  assert.equal(web.names('listener').length, 0);
  await ok(put(`${zone.url}/meshes/default/dataplanes/web`, dataplane('web', 11001, 'web')));
  await web.waitFor('web configured on the same stream', (c) => c.names('listener').includes('inbound:127.0.0.1:11001'));
  assert.equal(web.error, undefined);

  // An egress with a zone token of scope egress, checked with global's key that came over KDS.
  await ok(put(`${zone.url}/zoneegresses/egress`, { type: 'ZoneEgress', name: 'egress', networking: { address: '127.0.0.1', port: 10002 } }));
  const egress = new XdsTestClient(xds, 'egress', 'egress', await fetchZoneToken(global, 'zone-1', ['egress']));
  cleanup(() => egress.close());
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
