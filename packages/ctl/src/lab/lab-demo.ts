import { claimingGateways, type MeshGatewaySpec } from '@meshfed/shared/resources';
import { problemCell, syncedCell } from '../commands/inspect.js';
import { renderTable } from '../table.js';
import { at, scalarText, type WireResource } from '../wire.js';
import type { LabPort } from './lab-plan.js';
import { trafficResources } from './lab-traffic-plan.js';

/**
 * The lab's demo (issue: `web` in zone-1 calling `backend` in both zones, an ingress in both zones, an
 * egress in zone-1, one external service), in the default mesh with builtin mTLS; backend speaks HTTP
 * in two versions, and policies let only web call it, split web's calls 90/10 and bound them in time.
 * A builtin gateway `edge-gateway` (an instance in zone-1) takes outside traffic: HTTP on 8080 for
 * foo.example.com, `/api` to backend, and a TCP port to backend. Every address is 127.0.0.1 with its
 * own port, so a real Envoy started from `POST /bootstrap` on this machine can take any proxy's place.
 */
export interface DemoResource {
  /** `global`, or the zone the resource is applied on. */
  readonly where: 'global' | 'zone-1' | 'zone-2';
  readonly path: string;
  readonly body: Record<string, unknown>;
}

const dataplane = (name: string, inbound: number, tags: Record<string, string>, outbound: [string, number][] = []) => ({
  type: 'Dataplane', mesh: 'default', name,
  networking: {
    address: '127.0.0.1',
    inbound: [{ port: inbound, servicePort: inbound - 1, tags }],
    ...(outbound.length > 0 ? { outbound: outbound.map(([s, port]) => ({ port, tags: { 'kuma.io/service': s } })) } : {}),
  },
});

const ingress = (port: number) => ({
  type: 'ZoneIngress', name: 'ingress',
  networking: { address: '127.0.0.1', port, advertisedAddress: '127.0.0.1', advertisedPort: port },
});

/** backend speaks HTTP (so routes and HTTP timeouts apply), in two versions. */
const backend = (version: string) => ({ 'kuma.io/service': 'backend', 'kuma.io/protocol': 'http', version });

/** The demo's resources, in the order they are applied; ports shift with the lab's offset. */
export function demoResources(offset: number): DemoResource[] {
  const p = (n: number) => n + offset;
  return [
    // Builtin mTLS: zone ingresses route cross-zone traffic by its SNI, so without it web would reach zone-1's backend only.
    {
      where: 'global', path: '/meshes/default',
      body: { type: 'Mesh', name: 'default', mtls: { enabledBackend: 'ca-1', backends: [{ name: 'ca-1', type: 'builtin' }] } },
    },
    {
      where: 'global', path: '/meshes/default/external-services/httpbin',
      body: { type: 'ExternalService', mesh: 'default', name: 'httpbin', tags: { 'kuma.io/service': 'httpbin' }, networking: { address: 'httpbin.org:443', tls: { enabled: true } } },
    },
    // With mTLS on, nothing may call a service until a MeshTrafficPermission allows it (Kuma 2.x creates none): only web may call backend.
    {
      where: 'global', path: '/meshes/default/meshtrafficpermissions/backend-from-web',
      body: {
        type: 'MeshTrafficPermission', mesh: 'default', name: 'backend-from-web',
        spec: { targetRef: { kind: 'MeshService', name: 'backend' }, from: [{ targetRef: { kind: 'MeshService', name: 'web' }, default: { action: 'Allow' } }] },
      },
    },
    // External services are guarded at the zone egress the same way: web may call httpbin through it.
    {
      where: 'global', path: '/meshes/default/meshtrafficpermissions/httpbin-from-web',
      body: {
        type: 'MeshTrafficPermission', mesh: 'default', name: 'httpbin-from-web',
        spec: { targetRef: { kind: 'MeshService', name: 'httpbin' }, from: [{ targetRef: { kind: 'MeshService', name: 'web' }, default: { action: 'Allow' } }] },
      },
    },
    // The live traffic's callers may call echo (the gRPC apps the lab starts beside meshfed-dp agents).
    ...trafficResources(),
    // web's calls to backend: 90% to v1, 10% to v2 (v2 runs in zone-2 only), with a 5 s request timeout.
    {
      where: 'global', path: '/meshes/default/meshhttproutes/backend-split',
      body: {
        type: 'MeshHTTPRoute', mesh: 'default', name: 'backend-split',
        spec: {
          targetRef: { kind: 'MeshService', name: 'web' },
          to: [{
            targetRef: { kind: 'MeshService', name: 'backend' },
            rules: [{
              matches: [{ path: { type: 'PathPrefix', value: '/' } }],
              default: {
                backendRefs: [
                  { kind: 'MeshServiceSubset', name: 'backend', tags: { version: 'v1' }, weight: 90 },
                  { kind: 'MeshServiceSubset', name: 'backend', tags: { version: 'v2' }, weight: 10 },
                ],
              },
            }],
          }],
        },
      },
    },
    {
      where: 'global', path: '/meshes/default/meshtimeouts/backend-timeout',
      body: {
        type: 'MeshTimeout', mesh: 'default', name: 'backend-timeout',
        spec: { targetRef: { kind: 'MeshService', name: 'web' }, to: [{ targetRef: { kind: 'MeshService', name: 'backend' }, default: { connectionTimeout: '2s', http: { requestTimeout: '5s' } } }] },
      },
    },
    // The builtin gateway (gateway.md): its listeners, on the instances its selectors match.
    {
      where: 'global', path: '/meshes/default/meshgateways/edge-gateway',
      body: {
        type: 'MeshGateway', mesh: 'default', name: 'edge-gateway',
        selectors: [{ match: { 'kuma.io/service': 'edge-gateway' } }],
        conf: {
          listeners: [
            { port: p(8080), protocol: 'HTTP', hostname: 'foo.example.com', tags: { port: `http/${p(8080)}` } },
            { port: p(9000), protocol: 'TCP', tags: { port: `tcp/${p(9000)}` } },
          ],
        },
      },
    },
    // Routes attach to a listener by its tags (the instance's, the gateway's, the listener's).
    {
      where: 'global', path: '/meshes/default/meshgatewayroutes/edge-gateway-route',
      body: {
        type: 'MeshGatewayRoute', mesh: 'default', name: 'edge-gateway-route',
        selectors: [{ match: { 'kuma.io/service': 'edge-gateway', port: `http/${p(8080)}` } }],
        conf: { http: { rules: [{ matches: [{ path: { match: 'PREFIX', value: '/api' } }], backends: [{ destination: { 'kuma.io/service': 'backend' } }] }] } },
      },
    },
    {
      where: 'global', path: '/meshes/default/meshgatewayroutes/edge-gateway-tcp',
      body: {
        type: 'MeshGatewayRoute', mesh: 'default', name: 'edge-gateway-tcp',
        selectors: [{ match: { 'kuma.io/service': 'edge-gateway', port: `tcp/${p(9000)}` } }],
        conf: { tcp: { rules: [{ backends: [{ destination: { 'kuma.io/service': 'backend' } }] }] } },
      },
    },
    // The gateway calls backend with its own mTLS identity (spiffe://default/edge-gateway), which backend must let in too.
    {
      where: 'global', path: '/meshes/default/meshtrafficpermissions/backend-from-edge-gateway',
      body: {
        type: 'MeshTrafficPermission', mesh: 'default', name: 'backend-from-edge-gateway',
        spec: { targetRef: { kind: 'MeshService', name: 'backend' }, from: [{ targetRef: { kind: 'MeshService', name: 'edge-gateway' }, default: { action: 'Allow' } }] },
      },
    },
    { where: 'zone-1', path: '/zoneingresses/ingress', body: ingress(p(10001)) },
    { where: 'zone-1', path: '/zoneegresses/egress', body: { type: 'ZoneEgress', name: 'egress', networking: { address: '127.0.0.1', port: p(10002) } } },
    { where: 'zone-1', path: '/meshes/default/dataplanes/web', body: dataplane('web', p(11001), { 'kuma.io/service': 'web' }, [['backend', p(12001)], ['httpbin', p(12002)]]) },
    { where: 'zone-1', path: '/meshes/default/dataplanes/backend-1', body: dataplane('backend-1', p(11011), backend('v1')) },
    {
      where: 'zone-1', path: '/meshes/default/dataplanes/edge-gateway-1',
      body: { type: 'Dataplane', mesh: 'default', name: 'edge-gateway-1', networking: { address: '127.0.0.1', gateway: { type: 'BUILTIN', tags: { 'kuma.io/service': 'edge-gateway' } } } },
    },
    { where: 'zone-2', path: '/zoneingresses/ingress', body: ingress(p(20001)) },
    { where: 'zone-2', path: '/meshes/default/dataplanes/backend-1', body: dataplane('backend-1', p(21001), backend('v1')) },
    { where: 'zone-2', path: '/meshes/default/dataplanes/backend-2', body: dataplane('backend-2', p(21011), backend('v2')) },
  ];
}

interface DemoNetworking {
  readonly port?: number;
  readonly gateway?: { readonly type: string; readonly tags: Record<string, string> };
  readonly inbound?: readonly { port: number }[];
  readonly outbound?: readonly { port: number; tags: Record<string, string> }[];
}

/**
 * The ports the demo's proxies listen on (a real Envoy taking a proxy's place binds them), read from
 * the resources themselves so they cannot drift apart: a builtin gateway instance binds the listener
 * ports of the MeshGateway it serves. An inbound's servicePort is not among them: that is the
 * application's, which may well be running already.
 */
export function demoPorts(resources: readonly DemoResource[]): LabPort[] {
  const gateways = resources
    .filter((r) => r.body['type'] === 'MeshGateway')
    .map((r) => ({ name: String(r.body['name']), spec: r.body as unknown as MeshGatewaySpec }));
  return resources.flatMap(({ where, body }) => {
    const net = body['networking'] as DemoNetworking | undefined;
    if (!net) return [];
    if (net.gateway?.type === 'BUILTIN') {
      const served = claimingGateways(gateways, net.gateway.tags)[0];
      return (served?.spec.conf.listeners ?? []).map((l) => ({ role: `${where} ${String(body['name'])} ${l.protocol} listener`, port: l.port }));
    }
    const kind = body['type'] === 'ZoneIngress' ? 'ingress' : body['type'] === 'ZoneEgress' ? 'egress' : undefined;
    if (kind !== undefined) return net.port === undefined ? [] : [{ role: `${where} ${kind}`, port: net.port }];
    const name = `${where} ${String(body['name'])}`;
    return [
      ...(net.inbound ?? []).map((i) => ({ role: `${name} inbound`, port: i.port })),
      ...(net.outbound ?? []).map((o) => ({ role: `${name} outbound to ${o.tags['kuma.io/service']}`, port: o.port })),
    ];
  });
}

/** PUTs every demo resource on the API of its place; throws with the refusal's body when one is refused. */
export async function applyDemo(apis: Readonly<Record<DemoResource['where'], string>>, offset: number, timeoutMs = 10_000): Promise<void> {
  for (const r of demoResources(offset)) {
    const url = `${apis[r.where]}${r.path}`;
    // The default mesh reaches zones over KDS a moment after they connect: retry a refusal for want of it.
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const res = await fetch(url, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify(r.body), signal: AbortSignal.timeout(5000) });
      if (res.ok) break;
      const text = await res.text();
      if (Date.now() > deadline || !(res.status === 404 || res.status === 400 && text.includes('mesh'))) {
        throw new Error(`the demo's ${r.path} was refused by ${r.where}: ${res.status} ${text}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

const PROXY_LISTS = [
  { type: 'dataplane', path: '/dataplanes+insights' },
  { type: 'zoneingress', path: '/zoneingresses+insights' },
  { type: 'zoneegress', path: '/zoneegresses+insights' },
] as const;

interface ProxyRow {
  readonly zone: string;
  readonly type: string;
  readonly name: string;
  readonly item: WireResource;
}

async function proxiesOf(zone: string, api: string): Promise<ProxyRow[]> {
  const rows: ProxyRow[] = [];
  for (const l of PROXY_LISTS) {
    const res = await fetch(`${api}${l.path}`, { signal: AbortSignal.timeout(5000) });
    if (!res.ok) throw new Error(`${zone} answered ${res.status} to ${l.path}`);
    const body = (await res.json()) as { items?: WireResource[] };
    // Other zones' ingresses are listed too (they arrive over KDS), but they are not this zone's proxies.
    const local = (body.items ?? []).filter((i) => at(i, 'labels', 'kuma.io/origin') !== 'global');
    for (const item of local) rows.push({ zone, type: l.type, name: item.mesh ? `${item.mesh}/${item.name}` : item.name, item });
  }
  return rows;
}

/**
 * Each zone's proxies with the version of the configuration the zone CP computed for them and whether
 * a proxy has ACKed it. Waits (bounded) until every demo proxy has a configuration, so the table does
 * not show a moment mid-propagation.
 */
export async function demoProxyTable(zones: readonly { name: string; api: string }[], timeoutMs = 10_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  let rows: ProxyRow[] = [];
  do {
    rows = (await Promise.all(zones.map((z) => proxiesOf(z.name, z.api)))).flat();
    if (rows.length > 0 && rows.every((r) => scalarText(at(r.item, 'insight', 'configVersion')) !== undefined)) break;
    await new Promise((resolve) => setTimeout(resolve, 100));
  } while (Date.now() < deadline);
  const ackState = (r: ProxyRow) => (at(r.item, 'insight', 'connected') === true ? syncedCell(r.item) : 'no proxy connected');
  return renderTable(['ZONE', 'PROXY', 'TYPE', 'CONFIG VERSION', 'ACK STATE', 'PROBLEM'], rows.map((r) => [
    r.zone, r.name, r.type, scalarText(at(r.item, 'insight', 'configVersion'))?.slice(0, 8) ?? '-', ackState(r), problemCell(r.item),
  ]));
}
