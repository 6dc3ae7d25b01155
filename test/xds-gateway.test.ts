// Gateways on global shape gateway instances in two zones, proven on real ADS streams over TLS: a
// builtin gateway in zone-1 gets an HTTP listener whose route for foo.example.com /api goes to backend
// (its zone-1 instance and zone-2's ingress), an HTTPS listener with the mesh Secret's certificate, a
// TCP listener with weighted backends; the same MeshGateway served in zone-2 is configured alike; a
// cross-mesh listener in zone-1 is reached by a dataplane of another mesh in zone-2 through zone-1's
// ingress; each change arrives by push.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { type Any, type EnvoyObject, unpack } from '@meshfed/shared';
import { cleanups } from './support/cleanup.js';
import { put, startXdsFederation } from './support/federation.js';
import { dataplane, ok } from './support/xds-resources.js';
import { XdsTestClient, xdsTargetOf } from './support/xds-client.js';

const cleanup = (f: () => unknown) => cleanups.push(f);

const mtls = { enabledBackend: 'ca-1', backends: [{ name: 'ca-1', type: 'builtin' }] };
const ingress = (port: number) => ({ type: 'ZoneIngress', name: 'ingress', networking: { address: '127.0.0.1', port, advertisedAddress: '127.0.0.1', advertisedPort: port } });
const builtin = (mesh: string, name: string, service: string) => ({ type: 'Dataplane', mesh, name, networking: { address: '127.0.0.1', gateway: { type: 'BUILTIN', tags: { 'kuma.io/service': service } } } });

type Typed = { typed_config: Any };
type Chain = { filter_chain_match?: { server_names?: string[] }; filters: Typed[]; transport_socket?: Typed };
const chainsOf = (l: EnvoyObject | undefined): Chain[] => (l?.['filter_chains'] as Chain[] | undefined) ?? [];
const terminalOf = (c: Chain | undefined): EnvoyObject | undefined => (c?.filters.at(-1) ? unpack(c.filters.at(-1)!.typed_config) : undefined);
type Route = { match: { prefix?: string; path?: string; path_separated_prefix?: string }; route?: { cluster?: string; weighted_clusters?: { clusters: { name: string; weight: { value: number } }[] } } };
type VirtualHost = { name: string; domains: string[]; routes: Route[] };
const virtualHosts = (l: EnvoyObject | undefined): VirtualHost[] => ((terminalOf(chainsOf(l)[0]) as { route_config?: { virtual_hosts?: VirtualHost[] } } | undefined)?.route_config?.virtual_hosts ?? []);
/** `<match> -> <cluster or weighted clusters>` for each route of a virtual host. */
const routeTable = (vh: VirtualHost | undefined) => (vh?.routes ?? []).map((r) =>
  `${r.match.path ?? r.match.path_separated_prefix ?? r.match.prefix ?? '?'} -> ${r.route?.cluster ?? (r.route?.weighted_clusters?.clusters ?? []).map((c) => `${c.name}:${c.weight.value}`).join(',')}`);

/** A self-signed certificate and its key for foo.example.com, as the PEM text of one Secret. */
function fooCertificate(dir: string): { pem: string; cert: string } {
  const key = join(dir, 'foo.key');
  const crt = join(dir, 'foo.crt');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key, '-out', crt, '-days', '1', '-subj', '/CN=foo.example.com', '-addext', 'subjectAltName=DNS:foo.example.com'], { stdio: 'ignore' });
  const cert = readFileSync(crt, 'utf8');
  return { pem: `${readFileSync(key, 'utf8')}${cert}`, cert };
}

test('gateways on global configure builtin instances in two zones by push: HTTP /api to backend in both zones, HTTPS with the Secret, weighted TCP, cross-mesh from another zone', { timeout: 120_000 }, async () => {
  const { dir, global, z1, z2 } = await startXdsFederation(cleanup);

  await ok(put(`${global.url}/meshes/default`, { type: 'Mesh', name: 'default', mtls }));
  await ok(put(`${global.url}/meshes/other`, { type: 'Mesh', name: 'other', mtls }));
  const { pem, cert } = fooCertificate(dir);
  await ok(put(`${global.url}/meshes/default/secrets/foo-cert`, { type: 'Secret', mesh: 'default', name: 'foo-cert', data: Buffer.from(pem).toString('base64') }));
  await ok(put(`${global.url}/meshes/default/meshgateways/edge-gateway`, {
    type: 'MeshGateway', mesh: 'default', name: 'edge-gateway',
    selectors: [{ match: { 'kuma.io/service': 'edge-gateway' } }],
    conf: {
      listeners: [
        { port: 8080, protocol: 'HTTP', hostname: 'foo.example.com' },
        { port: 8443, protocol: 'HTTPS', hostname: 'foo.example.com', tls: { mode: 'TERMINATE', certificates: [{ secret: 'foo-cert' }] } },
        { port: 9000, protocol: 'TCP', tags: { port: 'tcp-9000' } },
      ],
    },
  }));
  await ok(put(`${global.url}/meshes/default/meshgatewayroutes/edge-api`, {
    type: 'MeshGatewayRoute', mesh: 'default', name: 'edge-api',
    selectors: [{ match: { 'kuma.io/service': 'edge-gateway' } }],
    conf: { http: { hostnames: ['foo.example.com'], rules: [{ matches: [{ path: { match: 'PREFIX', value: '/api' } }], backends: [{ destination: { 'kuma.io/service': 'backend' } }] }] } },
  }));
  await ok(put(`${global.url}/meshes/default/meshgatewayroutes/edge-tcp`, {
    type: 'MeshGatewayRoute', mesh: 'default', name: 'edge-tcp',
    selectors: [{ match: { 'kuma.io/service': 'edge-gateway', port: 'tcp-9000' } }],
    conf: { tcp: { rules: [{ backends: [{ weight: 3, destination: { 'kuma.io/service': 'db' } }, { weight: 1, destination: { 'kuma.io/service': 'backend' } }] }] } },
  }));
  await ok(put(`${global.url}/meshes/default/meshgateways/cross-gateway`, {
    type: 'MeshGateway', mesh: 'default', name: 'cross-gateway',
    selectors: [{ match: { 'kuma.io/service': 'cross-gateway' } }],
    conf: { listeners: [{ port: 8081, protocol: 'HTTP', crossMesh: true, hostname: 'default.mesh' }] },
  }));
  await ok(put(`${global.url}/meshes/default/meshgatewayroutes/cross-api`, {
    type: 'MeshGatewayRoute', mesh: 'default', name: 'cross-api',
    selectors: [{ match: { 'kuma.io/service': 'cross-gateway' } }],
    conf: { http: { rules: [{ matches: [{ path: { match: 'PREFIX', value: '/' } }], backends: [{ destination: { 'kuma.io/service': 'backend' } }] }] } },
  }));

  await ok(put(`${z1.url}/zoneingresses/ingress`, ingress(10001)));
  await ok(put(`${z2.url}/zoneingresses/ingress`, ingress(20001)));
  const http = { 'kuma.io/service': 'backend', 'kuma.io/protocol': 'http' };
  await ok(put(`${z1.url}/meshes/default/dataplanes/backend-1`, dataplane('backend-1', 11011, http)));
  await ok(put(`${z2.url}/meshes/default/dataplanes/backend-2`, dataplane('backend-2', 21011, http)));
  await ok(put(`${z1.url}/meshes/default/dataplanes/db-1`, dataplane('db-1', 11021, 'db')));
  await ok(put(`${z1.url}/meshes/default/dataplanes/edge-1`, builtin('default', 'edge-1', 'edge-gateway')));
  await ok(put(`${z2.url}/meshes/default/dataplanes/edge-2`, builtin('default', 'edge-2', 'edge-gateway')));
  await ok(put(`${z1.url}/meshes/default/dataplanes/cross-1`, builtin('default', 'cross-1', 'cross-gateway')));
  await ok(put(`${z2.url}/meshes/other/dataplanes/client`, {
    type: 'Dataplane', mesh: 'other', name: 'client',
    networking: { address: '127.0.0.1', inbound: [{ port: 21031, tags: { 'kuma.io/service': 'client' } }], outbound: [{ port: 22081, tags: { 'kuma.io/service': 'cross-gateway', 'kuma.io/mesh': 'default' } }] },
  }));

  const [xds1, xds2] = await Promise.all([xdsTargetOf(z1), xdsTargetOf(z2)]);
  const edge1 = new XdsTestClient(xds1, 'default.edge-1', 'dataplane');
  const edge2 = new XdsTestClient(xds2, 'default.edge-2', 'dataplane');
  const client = new XdsTestClient(xds2, 'other.client', 'dataplane');
  const ingress1 = new XdsTestClient(xds1, 'ingress', 'ingress');
  // 1. HTTP: foo.example.com /api to backend, whose endpoints are zone-1's instance and zone-2's ingress.
  await edge1.waitFor('edge-1 routes foo.example.com /api to backend in both zones', (c) => {
    const vh = virtualHosts(c.get('listener', 'edge-gateway:HTTP:8080')).find((v) => v.domains.includes('foo.example.com'));
    return routeTable(vh).join() === '/api -> backend' && c.endpoints('backend')?.join() === '127.0.0.1:11011/1@zone-1,127.0.0.1:20001/1@zone-2';
  });
  const listener = edge1.get('listener', 'edge-gateway:HTTP:8080') as { address: { socket_address: { port_value: number } } };
  assert.equal(listener.address.socket_address.port_value, 8080);

  // 2. HTTPS: TLS terminated with the Secret's certificate for foo.example.com (SNI), then the same routes.
  const https = edge1.get('listener', 'edge-gateway:HTTPS:8443');
  const tlsChain = chainsOf(https).find((c) => c.filter_chain_match?.server_names?.includes('foo.example.com'));
  assert.ok(tlsChain?.transport_socket, 'the HTTPS listener has a TLS chain for foo.example.com');
  const certificateOf = async (): Promise<string | undefined> => {
    const tls = unpack(tlsChain!.transport_socket!.typed_config) as { common_tls_context?: { tls_certificates?: { certificate_chain?: { inline_string?: string } }[]; tls_certificate_sds_secret_configs?: { name: string }[] } };
    const inline = tls.common_tls_context?.tls_certificates?.[0]?.certificate_chain?.inline_string;
    if (inline !== undefined) return inline;
    const sds = tls.common_tls_context?.tls_certificate_sds_secret_configs?.[0]?.name;
    const secret = sds === undefined ? undefined : (edge1.get('secret', sds) as { tls_certificate?: { certificate_chain?: { inline_string?: string } } } | undefined);
    return secret?.tls_certificate?.certificate_chain?.inline_string;
  };
  assert.equal((await certificateOf())?.trim(), cert.trim(), 'the chain carries the Secret\'s certificate');
  assert.deepEqual(routeTable(virtualHosts(https).find((v) => v.domains.includes('foo.example.com'))), ['/api -> backend']);

  // 3. TCP: 3:1 between db and backend.
  const tcp = terminalOf(chainsOf(edge1.get('listener', 'edge-gateway:TCP:9000'))[0]) as { weighted_clusters?: { clusters: { name: string; weight: number }[] } } | undefined;
  assert.deepEqual(tcp?.weighted_clusters?.clusters.map((c) => `${c.name}:${c.weight}`), ['db:3', 'backend:1']);

  // 4. The same MeshGateway in zone-2: the same listeners and routes; backend is its own instance and zone-1's ingress.
  await edge2.waitFor('edge-2 serves the same gateway', (c) =>
    routeTable(virtualHosts(c.get('listener', 'edge-gateway:HTTP:8080')).find((v) => v.domains.includes('foo.example.com'))).join() === '/api -> backend'
    && c.endpoints('backend')?.join() === '127.0.0.1:10001/1@zone-1,127.0.0.1:21011/1@zone-2');
  assert.deepEqual(edge2.names('listener'), edge1.names('listener'));
  assert.deepEqual(virtualHosts(edge2.get('listener', 'edge-gateway:HTTP:8080')), virtualHosts(edge1.get('listener', 'edge-gateway:HTTP:8080')));

  // 5. Cross-mesh: mesh other's client in zone-2 reaches cross-gateway through zone-1's ingress, with its
  // own identity, checking the gateway's against mesh default's CA; zone-1's ingress routes its SNI.
  const cluster = 'cross-gateway{kuma.io/mesh=default}';
  await client.waitFor('the client\'s cross-mesh cluster goes to zone-1\'s ingress', (c) => c.endpoints(cluster)?.join() === '127.0.0.1:10001/1@zone-1');
  const upstream = unpack((client.get('cluster', cluster)!['transport_socket'] as Typed).typed_config) as {
    sni: string; common_tls_context: { tls_certificate_sds_secret_configs: { name: string }[]; combined_validation_context: { default_validation_context: { match_typed_subject_alt_names: { matcher: { exact: string } }[] }; validation_context_sds_secret_config: { name: string } } };
  };
  assert.equal(upstream.sni, 'cross-gateway{mesh=default}');
  assert.equal(upstream.common_tls_context.tls_certificate_sds_secret_configs[0]!.name, 'identity_cert:secret:other');
  assert.equal(upstream.common_tls_context.combined_validation_context.default_validation_context.match_typed_subject_alt_names[0]!.matcher.exact, 'spiffe://default/cross-gateway');
  assert.ok(client.get('secret', 'mesh_ca:secret:default'), 'the client holds mesh default\'s CA');
  await ingress1.waitFor('zone-1\'s ingress routes the cross-mesh gateway\'s SNI to its instance', (c) =>
    chainsOf(c.get('listener', 'inbound:127.0.0.1:10001')).some((ch) => ch.filter_chain_match?.server_names?.includes('cross-gateway{mesh=default}'))
    && c.endpoints('default:cross-gateway')?.join() === '127.0.0.1:8081/1@zone-1');
  const cross1 = new XdsTestClient(xds1, 'default.cross-1', 'dataplane');
  await cross1.waitFor('the cross-mesh listener terminates mesh mTLS trusting both meshes\' CAs', (c) => {
    const ts = chainsOf(c.get('listener', 'cross-gateway:HTTP:8081'))[0]?.transport_socket;
    const bundle = (c.get('secret', 'mesh_ca:cross-mesh') as { validation_context?: { trusted_ca?: { inline_string?: string } } } | undefined)?.validation_context?.trusted_ca?.inline_string ?? '';
    return ts !== undefined && (bundle.match(/BEGIN CERTIFICATE/g) ?? []).length === 2;
  });

  // 6. A route change arrives by push, in both zones.
  await ok(put(`${global.url}/meshes/default/meshgatewayroutes/edge-api`, {
    type: 'MeshGatewayRoute', mesh: 'default', name: 'edge-api',
    selectors: [{ match: { 'kuma.io/service': 'edge-gateway' } }],
    conf: { http: { hostnames: ['foo.example.com'], rules: [{ matches: [{ path: { match: 'PREFIX', value: '/v2/api' } }], backends: [{ destination: { 'kuma.io/service': 'backend' } }] }] } },
  }));
  for (const [c, zone] of [[edge1, 'zone-1'], [edge2, 'zone-2']] as const) {
    await c.waitFor(`${zone}'s gateway routes /v2/api`, (s) => routeTable(virtualHosts(s.get('listener', 'edge-gateway:HTTP:8080')).find((v) => v.domains.includes('foo.example.com'))).join() === '/v2/api -> backend');
  }
});
