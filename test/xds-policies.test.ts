// Policies applied on global shape the proxies of two zones, proven on real ADS streams over TLS:
// MeshTrafficPermission as RBAC on the callee, MeshTimeout and MeshRetry on the caller's route and
// cluster for one destination only, a MeshHTTPRoute 90/10 split to subsets whose endpoints are the
// right versions in both zones (zone ingresses serving the subsets' SNIs), each change by push.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type Any, type EnvoyObject, unpack } from '@meshfed/shared';
import { cleanups } from './support/cleanup.js';
import { put, startXdsFederation } from './support/federation.js';
import { dataplane, ok } from './support/xds-resources.js';
import { XdsTestClient, xdsTargetOf } from './support/xds-client.js';

const cleanup = (f: () => unknown) => cleanups.push(f);

const backend = (version: string) => ({ 'kuma.io/service': 'backend', 'kuma.io/protocol': 'http', version });
const ingress = (port: number) => ({ type: 'ZoneIngress', name: 'ingress', networking: { address: '127.0.0.1', port, advertisedAddress: '127.0.0.1', advertisedPort: port } });

type Typed = { typed_config: Any };
/** The typed configs of a listener's first filter chain, in order (their `@type`-less fields). */
function filtersOf(l: EnvoyObject | undefined): EnvoyObject[] {
  const chain = (l?.['filter_chains'] as { filters: Typed[] }[] | undefined)?.[0];
  return (chain?.filters ?? []).map((f) => unpack(f.typed_config));
}
/** The routes of an outbound's HTTP connection manager (inline route configuration). */
function routesOf(l: EnvoyObject | undefined): EnvoyObject[] {
  const hcm = filtersOf(l).at(-1) as { route_config?: { virtual_hosts?: { routes?: EnvoyObject[] }[] } } | undefined;
  return hcm?.route_config?.virtual_hosts?.[0]?.routes ?? [];
}
const seconds = (d: unknown) => (d as { seconds?: number } | undefined)?.seconds;
/** The SPIFFE ids an inbound's RBAC filter allows (empty: nobody). */
function allowed(l: EnvoyObject | undefined): string[] | undefined {
  const rbac = filtersOf(l).find((f) => 'rules' in f) as { rules?: { policies?: Record<string, { principals?: { authenticated?: { principal_name?: { exact?: string } } }[] }> } } | undefined;
  if (!rbac) return undefined;
  return Object.values(rbac.rules?.policies ?? {}).flatMap((p) => (p.principals ?? []).map((x) => x.authenticated?.principal_name?.exact ?? '?')).sort();
}
const split = (route: EnvoyObject | undefined) =>
  ((route?.['route'] as { weighted_clusters?: { clusters?: { name: string; weight?: { value: number } }[] } } | undefined)?.weighted_clusters?.clusters ?? [])
    .map((c) => `${c.name}:${c.weight?.value ?? 0}`).join(',');

test('policies on global reach both zones\' proxies by push: RBAC, timeouts and retries for one destination, a 90/10 split to versions across zones', { timeout: 120_000 }, async () => {
  const { global, z1, z2 } = await startXdsFederation(cleanup);

  await ok(put(`${global.url}/meshes/default`, { type: 'Mesh', name: 'default', mtls: { enabledBackend: 'ca-1', backends: [{ name: 'ca-1', type: 'builtin' }] } }));
  await ok(put(`${z1.url}/zoneingresses/ingress`, ingress(10001)));
  await ok(put(`${z2.url}/zoneingresses/ingress`, ingress(20001)));
  await ok(put(`${z1.url}/meshes/default/dataplanes/backend-v1`, dataplane('backend-v1', 11011, backend('v1'))));
  await ok(put(`${z1.url}/meshes/default/dataplanes/other`, dataplane('other', 11021, { 'kuma.io/service': 'other', 'kuma.io/protocol': 'http' })));
  await ok(put(`${z2.url}/meshes/default/dataplanes/backend-v1`, dataplane('backend-v1', 21011, backend('v1'))));
  await ok(put(`${z2.url}/meshes/default/dataplanes/backend-v2`, dataplane('backend-v2', 21021, backend('v2'))));
  await ok(put(`${z1.url}/meshes/default/dataplanes/web`, dataplane('web', 11001, { 'kuma.io/service': 'web' }, [['backend', 12001], ['other', 12002]])));
  await ok(put(`${z2.url}/meshes/default/dataplanes/web`, dataplane('web', 21001, { 'kuma.io/service': 'web' }, [['backend', 22001]])));

  const [xds1, xds2] = await Promise.all([xdsTargetOf(z1), xdsTargetOf(z2)]);
  const web1 = new XdsTestClient(xds1, 'default.web', 'dataplane');
  const web2 = new XdsTestClient(xds2, 'default.web', 'dataplane');
  const callee = new XdsTestClient(xds1, 'default.backend-v1', 'dataplane');
  const ingress2 = new XdsTestClient(xds2, 'ingress', 'ingress');
  const streams = [web1, web2, callee, ingress2];
  const inbound = 'inbound:127.0.0.1:11011';
  const out1 = 'outbound:127.0.0.1:12001';

  // 1. With mTLS on and no permission, the callee's RBAC lets nobody in; an Allow for web, then a Deny.
  await callee.waitFor('backend denies everyone', (c) => allowed(c.get('listener', inbound))?.length === 0);
  const permission = (action: string) => ({
    type: 'MeshTrafficPermission', mesh: 'default', name: 'backend-from-web',
    spec: { targetRef: { kind: 'MeshService', name: 'backend' }, from: [{ targetRef: { kind: 'MeshService', name: 'web' }, default: { action } }] },
  });
  await ok(put(`${global.url}/meshes/default/meshtrafficpermissions/backend-from-web`, permission('Allow')));
  await callee.waitFor('backend lets web in', (c) => allowed(c.get('listener', inbound))?.join() === 'spiffe://default/web');
  await ok(put(`${global.url}/meshes/default/meshtrafficpermissions/backend-from-web`, permission('Deny')));
  await callee.waitFor('a Deny for web is no principal at all', (c) => allowed(c.get('listener', inbound))?.length === 0);

  // 2. A timeout and retries for web's calls to backend only: its route and cluster for backend, not
  // for other. (Top-level MeshService web: more specific than the mesh's default policies, which win
  // over another Mesh-wide policy by name.)
  await ok(put(`${global.url}/meshes/default/meshtimeouts/to-backend`, {
    type: 'MeshTimeout', mesh: 'default', name: 'to-backend',
    spec: { targetRef: { kind: 'MeshService', name: 'web' }, to: [{ targetRef: { kind: 'MeshService', name: 'backend' }, default: { connectionTimeout: '3s', http: { requestTimeout: '2s' } } }] },
  }));
  await ok(put(`${global.url}/meshes/default/meshretries/to-backend`, {
    type: 'MeshRetry', mesh: 'default', name: 'to-backend',
    spec: { targetRef: { kind: 'MeshService', name: 'web' }, to: [{ targetRef: { kind: 'MeshService', name: 'backend' }, default: { http: { numRetries: 7 } } }] },
  }));
  await web1.waitFor('backend\'s route has the 2s timeout and 7 retries, its cluster the 3s connect timeout', (c) => {
    const route = routesOf(c.get('listener', out1)).at(-1) as { route?: { timeout?: unknown; retry_policy?: { num_retries?: { value: number } } } } | undefined;
    return seconds(route?.route?.timeout) === 2 && route?.route?.retry_policy?.num_retries?.value === 7 && seconds(c.get('cluster', 'backend')?.['connect_timeout']) === 3;
  });
  const other = routesOf(web1.get('listener', 'outbound:127.0.0.1:12002')).at(-1) as { route?: { timeout?: unknown; retry_policy?: { num_retries?: { value: number } } } };
  assert.notEqual(seconds(other.route?.timeout), 2, 'other keeps its own request timeout');
  assert.notEqual(other.route?.retry_policy?.num_retries?.value, 7, 'other keeps its own retries');
  assert.notEqual(seconds(web1.get('cluster', 'other')?.['connect_timeout']), 3);

  // 3. A MeshHTTPRoute splits web's calls to backend 90/10 between v1 and v2, in both zones.
  await ok(put(`${global.url}/meshes/default/meshhttproutes/backend-split`, {
    type: 'MeshHTTPRoute', mesh: 'default', name: 'backend-split',
    spec: {
      targetRef: { kind: 'MeshService', name: 'web' },
      to: [{
        targetRef: { kind: 'MeshService', name: 'backend' },
        rules: [{
          matches: [{ path: { type: 'PathPrefix', value: '/' } }],
          default: { backendRefs: [{ kind: 'MeshServiceSubset', name: 'backend', tags: { version: 'v1' }, weight: 90 }, { kind: 'MeshServiceSubset', name: 'backend', tags: { version: 'v2' }, weight: 10 }] },
        }],
      }],
    },
  }));
  const v1 = 'backend{version=v1}';
  const v2 = 'backend{version=v2}';
  await web1.waitFor('zone-1\'s web splits 90/10; v1 is its local instance and zone-2\'s ingress, v2 zone-2\'s ingress only', (c) =>
    split(routesOf(c.get('listener', out1))[0]) === `${v1}:90,${v2}:10`
    && c.endpoints(v1)?.join() === '127.0.0.1:11011/1@zone-1,127.0.0.1:20001/1@zone-2'
    && c.endpoints(v2)?.join() === '127.0.0.1:20001/1@zone-2');
  await web2.waitFor('zone-2\'s web splits the same; v1 is its local instance and zone-1\'s ingress, v2 its local instance', (c) =>
    split(routesOf(c.get('listener', 'outbound:127.0.0.1:22001'))[0]) === `${v1}:90,${v2}:10`
    && c.endpoints(v1)?.join() === '127.0.0.1:10001/1@zone-1,127.0.0.1:21011/1@zone-2'
    && c.endpoints(v2)?.join() === '127.0.0.1:21021/1@zone-2');
  // The subset's SNI carries its tags, and zone-2's ingress passes each subset to its own instances.
  const tls = unpack((web1.get('cluster', v2) as { transport_socket: { typed_config: Any } }).transport_socket.typed_config);
  assert.equal(tls['sni'], 'backend{mesh=default,version=v2}');
  await ingress2.waitFor('zone-2\'s ingress has a chain per subset', (c) => {
    const chains = ((c.get('listener', 'inbound:127.0.0.1:20001')?.['filter_chains'] ?? []) as { filter_chain_match?: { server_names?: string[] }; filters: Typed[] }[])
      .map((ch) => `${ch.filter_chain_match?.server_names?.[0]}>${String(unpack(ch.filters.at(-1)!.typed_config)['cluster'])}`);
    return chains.includes('backend{mesh=default,version=v2}>default:backend{version=v2}')
      && c.endpoints('default:backend{version=v2}')?.join() === '127.0.0.1:21021/1@zone-2'
      && c.endpoints('default:backend{version=v1}')?.join() === '127.0.0.1:21011/1@zone-2';
  });

  // Every change arrived by push on the streams opened at the start.
  for (const c of streams) {
    assert.equal(c.error, undefined);
    assert.equal(c.ended, false);
  }
});
