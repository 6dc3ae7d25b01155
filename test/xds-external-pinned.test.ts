// An ExternalService pinned to zone-2 (`kuma.io/zone`), proven on real ADS streams over TLS: zone-1's
// sidecar → zone-1's egress → zone-2's ingress → zone-2's egress → the service, with routing.zoneEgress;
// without it, zone-1's sidecar goes straight to zone-2's ingress. Each change by push.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type Any, type EnvoyObject, unpack } from '@meshfed/shared';
import { cleanups } from './support/cleanup.js';
import { put, startXdsFederation } from './support/federation.js';
import { ok } from './support/xds-resources.js';
import { XdsTestClient, xdsTargetOf } from './support/xds-client.js';

const cleanup = (f: () => unknown) => cleanups.push(f);

const mesh = (zoneEgress: boolean) => ({
  type: 'Mesh', name: 'default', mtls: { enabledBackend: 'ca-1', backends: [{ name: 'ca-1', type: 'builtin' }] }, ...(zoneEgress ? { routing: { zoneEgress: true } } : {}),
});

type Chain = { filter_chain_match?: { server_names?: string[] }; filters: { typed_config: Any }[]; transport_socket?: unknown };
/** A zone proxy's chain for `sni`: where its last filter sends the traffic, and whether it terminates TLS. */
function chainFor(l: EnvoyObject | undefined, sni: string): string | undefined {
  const chain = ((l?.['filter_chains'] ?? []) as Chain[]).find((c) => c.filter_chain_match?.server_names?.includes(sni));
  if (!chain) return undefined;
  return `${String(unpack(chain.filters.at(-1)!.typed_config)['cluster'])}${chain.transport_socket ? ' (terminates)' : ''}`;
}

test('an ExternalService pinned to zone-2 is reached from zone-1 only through zone-2: via both egresses and zone-2\'s ingress, or straight to that ingress', { timeout: 120_000 }, async () => {
  const { global, z1, z2 } = await startXdsFederation(cleanup);

  await ok(put(`${global.url}/meshes/default`, mesh(true)));
  await ok(put(`${global.url}/meshes/default/external-services/ledger`, {
    type: 'ExternalService', mesh: 'default', name: 'ledger', tags: { 'kuma.io/service': 'ledger', 'kuma.io/zone': 'zone-2' }, networking: { address: 'ledger.internal:5432' },
  }));
  await ok(put(`${global.url}/meshes/default/meshtrafficpermissions/ledger-from-web`, {
    type: 'MeshTrafficPermission', mesh: 'default', name: 'ledger-from-web',
    spec: { targetRef: { kind: 'MeshService', name: 'ledger' }, from: [{ targetRef: { kind: 'MeshService', name: 'web' }, default: { action: 'Allow' } }] },
  }));
  await ok(put(`${z1.url}/zoneegresses/egress`, { type: 'ZoneEgress', name: 'egress', networking: { address: '127.0.0.1', port: 10002 } }));
  await ok(put(`${z2.url}/zoneingresses/ingress`, { type: 'ZoneIngress', name: 'ingress', networking: { address: '127.0.0.1', port: 20001, advertisedAddress: '127.0.0.1', advertisedPort: 20001 } }));
  await ok(put(`${z2.url}/zoneegresses/egress`, { type: 'ZoneEgress', name: 'egress', networking: { address: '127.0.0.1', port: 20002 } }));
  await ok(put(`${z1.url}/meshes/default/dataplanes/web`, {
    type: 'Dataplane', mesh: 'default', name: 'web',
    networking: { address: '127.0.0.1', inbound: [{ port: 11001, tags: { 'kuma.io/service': 'web' } }], outbound: [{ port: 12001, tags: { 'kuma.io/service': 'ledger' } }] },
  }));

  const [xds1, xds2] = await Promise.all([xdsTargetOf(z1), xdsTargetOf(z2)]);
  const web = new XdsTestClient(xds1, 'default.web', 'dataplane');
  const egress1 = new XdsTestClient(xds1, 'egress', 'egress');
  const ingress2 = new XdsTestClient(xds2, 'ingress', 'ingress');
  const egress2 = new XdsTestClient(xds2, 'egress', 'egress');
  const streams = [web, egress1, ingress2, egress2];

  // zone-1's sidecar: to its own egress, in zone-2's locality; the mTLS peer it accepts is an egress.
  await web.waitFor('web sends ledger to zone-1\'s egress, standing for zone-2', (c) => c.endpoints('ledger')?.join() === '127.0.0.1:10002/1@zone-2');
  const tls = unpack((web.get('cluster', 'ledger') as { transport_socket: { typed_config: Any } }).transport_socket.typed_config) as {
    sni: string; common_tls_context: { combined_validation_context: { default_validation_context: { match_typed_subject_alt_names: { matcher: unknown }[] } } };
  };
  assert.equal(tls.sni, 'ledger{mesh=default}');
  assert.deepEqual(tls.common_tls_context.combined_validation_context.default_validation_context.match_typed_subject_alt_names[0]!.matcher, { exact: 'spiffe://default/zone-egress' });
  // zone-1's egress passes it through to zone-2's ingress and never originates it itself.
  await egress1.waitFor('zone-1\'s egress relays ledger to zone-2\'s ingress', (c) =>
    chainFor(c.get('listener', 'inbound:127.0.0.1:10002'), 'ledger{mesh=default}') === 'default:ledger'
    && c.endpoints('default:ledger')?.join() === '127.0.0.1:20001/1@zone-2');
  assert.notEqual(egress1.get('cluster', 'default:ledger')?.['type'], 'STRICT_DNS', 'zone-1 does not dial ledger');
  // zone-2's ingress passes it on to zone-2's egress, which terminates mTLS and dials ledger.internal.
  await ingress2.waitFor('zone-2\'s ingress passes ledger to its egress', (c) =>
    chainFor(c.get('listener', 'inbound:127.0.0.1:20001'), 'ledger{mesh=default}') === 'default:ledger'
    && c.endpoints('default:ledger')?.join() === '127.0.0.1:20002/1@zone-2');
  await egress2.waitFor('zone-2\'s egress terminates mTLS for ledger and originates it', (c) =>
    chainFor(c.get('listener', 'inbound:127.0.0.1:20002'), 'ledger{mesh=default}') === 'default:ledger (terminates)'
    && c.get('cluster', 'default:ledger')?.['type'] === 'STRICT_DNS');

  // Without routing.zoneEgress: zone-1's sidecar goes straight to zone-2's ingress.
  await ok(put(`${global.url}/meshes/default`, mesh(false)));
  await web.waitFor('web sends ledger straight to zone-2\'s ingress', (c) => c.endpoints('ledger')?.join() === '127.0.0.1:20001/1@zone-2');
  await ingress2.waitFor('zone-2\'s ingress still passes ledger to its egress', (c) => chainFor(c.get('listener', 'inbound:127.0.0.1:20001'), 'ledger{mesh=default}') === 'default:ledger');

  for (const c of streams) {
    assert.equal(c.error, undefined);
    assert.equal(c.ended, false);
  }
});
