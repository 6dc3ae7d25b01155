// Turning mesh mTLS on without downtime, as Kuma: mTLS off → PERMISSIVE → STRICT on global, proven on
// real ADS streams over TLS to two zones. In PERMISSIVE the callee's inbound listener has the TLS
// inspector and takes plaintext next to mesh mTLS (RBAC from MeshTrafficPermission on the mTLS chain
// only), while callers in the other zone already speak mesh mTLS through the ingress; in STRICT the same
// stream gets the single mTLS chain by push. No NACK, no stream ended, errored or reopened.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type Any, type EnvoyObject, unpack } from '@meshfed/shared';
import { cleanups } from './support/cleanup.js';
import { eventually, getJson, put, startXdsFederation } from './support/federation.js';
import { dataplane, ok } from './support/xds-resources.js';
import { XdsTestClient, xdsTargetOf } from './support/xds-client.js';

const cleanup = (f: () => unknown) => cleanups.push(f);

const mesh = (mode?: 'PERMISSIVE' | 'STRICT') => ({
  type: 'Mesh', name: 'default',
  ...(mode ? { mtls: { enabledBackend: 'ca-1', backends: [{ name: 'ca-1', type: 'builtin', mode }] } } : {}),
});

interface Chain {
  filter_chain_match?: { transport_protocol?: string; application_protocols?: string[]; server_names?: string[] };
  filters: { name: string; typed_config: Any }[];
  transport_socket?: { typed_config: Any };
}
/** A listener's chains as `match|filters|tls`: e.g. `tls+kuma|rbac,http_connection_manager|mtls`. */
function chainsOf(l: EnvoyObject | undefined): string[] | undefined {
  if (!l) return undefined;
  return ((l['filter_chains'] ?? []) as Chain[]).map((c) => {
    const m = c.filter_chain_match;
    const match = m ? `${m.transport_protocol ?? ''}${m.application_protocols ? `+${m.application_protocols.join('+')}` : ''}` : '*';
    const filters = c.filters.map((f) => f.name.replace('envoy.filters.network.', '')).join(',');
    return `${match}|${filters}|${c.transport_socket ? 'mtls' : 'none'}`;
  });
}
const listenerFilters = (l: EnvoyObject | undefined) => ((l?.['listener_filters'] ?? []) as { name: string }[]).map((f) => f.name);
/** The SPIFFE ids each chain's RBAC filter allows (undefined: the chain has no RBAC). */
function allowedByChain(l: EnvoyObject | undefined): (string | undefined)[] {
  return ((l?.['filter_chains'] ?? []) as Chain[]).map((c) => {
    const rbac = c.filters.find((f) => f.name === 'envoy.filters.network.rbac');
    if (!rbac) return undefined;
    const rules = unpack(rbac.typed_config)['rules'] as { policies?: Record<string, { principals?: { authenticated?: { principal_name?: { exact?: string } } }[] }> };
    return Object.values(rules.policies ?? {}).flatMap((p) => (p.principals ?? []).map((x) => x.authenticated?.principal_name?.exact ?? '?')).sort().join();
  });
}

test('mTLS off → PERMISSIVE → STRICT on global: both zones\' proxies follow by push on the same streams, without a NACK', { timeout: 120_000 }, async () => {
  const { global, z1, z2 } = await startXdsFederation(cleanup);

  // backend (HTTP) in zone-1 behind its ingress; web in zone-1 and in zone-2 call it.
  await ok(put(`${z1.url}/zoneingresses/ingress`, { type: 'ZoneIngress', name: 'ingress', networking: { address: '127.0.0.1', port: 10001, advertisedAddress: '127.0.0.1', advertisedPort: 10001 } }));
  await ok(put(`${z1.url}/meshes/default/dataplanes/backend`, dataplane('backend', 11011, { 'kuma.io/service': 'backend', 'kuma.io/protocol': 'http' })));
  await ok(put(`${z1.url}/meshes/default/dataplanes/web`, dataplane('web', 11001, { 'kuma.io/service': 'web' }, [['backend', 12001]])));
  await ok(put(`${z2.url}/meshes/default/dataplanes/web`, dataplane('web', 21001, { 'kuma.io/service': 'web' }, [['backend', 22001]])));
  await ok(put(`${global.url}/meshes/default/meshtrafficpermissions/backend-from-web`, {
    type: 'MeshTrafficPermission', mesh: 'default', name: 'backend-from-web',
    spec: { targetRef: { kind: 'MeshService', name: 'backend' }, from: [{ targetRef: { kind: 'MeshService', name: 'web' }, default: { action: 'Allow' } }] },
  }));

  const [xds1, xds2] = await Promise.all([xdsTargetOf(z1), xdsTargetOf(z2)]);
  const callee = new XdsTestClient(xds1, 'default.backend', 'dataplane');
  const web1 = new XdsTestClient(xds1, 'default.web', 'dataplane');
  const web2 = new XdsTestClient(xds2, 'default.web', 'dataplane');
  const streams = [callee, web1, web2];
  const inbound = 'inbound:127.0.0.1:11011';
  const upstreamTls = (c: XdsTestClient) => c.get('cluster', 'backend')?.['transport_socket'] !== undefined;

  // 1. mTLS off: one plaintext chain, no RBAC (no identity to check), no inspector; zone-2 cannot reach backend.
  await callee.waitFor('backend\'s plaintext listener', (c) => chainsOf(c.get('listener', inbound))?.join(' ') === '*|http_connection_manager|none');
  assert.deepEqual(listenerFilters(callee.get('listener', inbound)), []);
  await web1.waitFor('web calls backend in plaintext', (c) => c.get('cluster', 'backend') !== undefined && !upstreamTls(c));

  // 2. PERMISSIVE: the TLS inspector; plaintext and non-mesh TLS chains without RBAC or TLS termination,
  // and the mesh mTLS chain (TLS with ALPN kuma) with the permission's RBAC. Callers speak mTLS already.
  await ok(put(`${global.url}/meshes/default`, mesh('PERMISSIVE')));
  const permissive = ['raw_buffer|http_connection_manager|none', 'tls|http_connection_manager|none', 'tls+kuma|rbac,http_connection_manager|mtls'];
  await callee.waitFor('backend\'s PERMISSIVE listener', (c) => chainsOf(c.get('listener', inbound))?.join(' ') === permissive.join(' '));
  const l = callee.get('listener', inbound);
  assert.deepEqual(listenerFilters(l), ['envoy.filters.listener.tls_inspector']);
  assert.deepEqual(allowedByChain(l), [undefined, undefined, 'spiffe://default/web'], 'RBAC on the mesh mTLS chain alone');
  // Envoy refuses a listener whose chains match alike: each match is its own.
  const matches = ((l?.['filter_chains'] ?? []) as Chain[]).map((c) => JSON.stringify(c.filter_chain_match ?? {}));
  assert.equal(new Set(matches).size, matches.length);
  await web1.waitFor('zone-1\'s web calls backend over mesh mTLS', (c) => upstreamTls(c) && c.endpoints('backend')?.join() === '127.0.0.1:11011/1@zone-1');
  await web2.waitFor('zone-2\'s web calls backend over mesh mTLS, through zone-1\'s ingress', (c) => upstreamTls(c) && c.endpoints('backend')?.join() === '127.0.0.1:10001/1@zone-1');
  const sni = unpack((web2.get('cluster', 'backend') as { transport_socket: { typed_config: Any } }).transport_socket.typed_config)['sni'];
  assert.equal(sni, 'backend{mesh=default}');

  // 3. STRICT: the same streams get the single mesh mTLS chain by push; callers are left as they were.
  const before = callee.responses;
  await ok(put(`${global.url}/meshes/default`, mesh('STRICT')));
  await callee.waitFor('backend\'s STRICT listener', (c) => chainsOf(c.get('listener', inbound))?.join(' ') === '*|rbac,http_connection_manager|mtls');
  assert.ok(callee.responses > before, 'pushed');
  assert.deepEqual(listenerFilters(callee.get('listener', inbound)), [], 'no TLS inspector: nothing to tell apart');
  assert.deepEqual(allowedByChain(callee.get('listener', inbound)), ['spiffe://default/web']);
  assert.ok(upstreamTls(web1) && upstreamTls(web2));

  // No stream failed or ended, and the zones saw every response ACKed on the first stream of each proxy.
  for (const c of streams) {
    assert.equal(c.error, undefined);
    assert.equal(c.ended, false);
  }
  for (const [zone, name] of [[z1, 'backend'], [z1, 'web'], [z2, 'web']] as const) {
    const insight = await eventually(`${zone.url}'s ${name} synced`, async () => {
      const body = (await getJson(`${zone.url}/meshes/default/dataplanes+insights/${name}`)).body as { insight: { synced: boolean } };
      return body.insight.synced ? body.insight : undefined;
    }) as { connected: boolean; streams: number; types: Record<string, { nacks: number; lastNack?: unknown; acks: number }> };
    assert.equal(insight.connected, true);
    assert.equal(insight.streams, 1, `${name}: one stream, never reopened`);
    assert.ok(Object.keys(insight.types).length > 0);
    for (const [type, t] of Object.entries(insight.types)) {
      assert.equal(t.nacks, 0, `${name} ${type}: no NACK`);
      assert.equal(t.lastNack, undefined, `${name} ${type}: no lastNack`);
    }
  }
});
