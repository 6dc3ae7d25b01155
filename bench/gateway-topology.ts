// The zone `npm run bench -- gateway` configures: one mesh with builtin mTLS (xds-topology.ts's),
// SERVICES HTTP services with INSTANCES local instances each,
// the first REMOTE of which zone-2 also offers through its ZoneIngress; then, per case, one builtin
// gateway (MeshGateway `edge` with one HTTP listener per hostname, MeshGatewayRoutes with the rules)
// or one sidecar calling every service.
import { LABEL_ORIGIN, LABEL_ZONE, MeshGatewayDescriptor, MeshGatewayRouteDescriptor, type Resource } from '@meshfed/shared';
import { MESH, policyResource } from './xds-topology.js';

export { CA_BACKEND, MESH, mesh, ZONE } from './xds-topology.js';

const GLOBAL = { [LABEL_ORIGIN]: 'global' };
const SERVICE = 'kuma.io/service';
const PROTOCOL = 'kuma.io/protocol';
export const service = (s: number) => `svc-${s}`;
export const GATEWAY_SERVICE = 'edge';
export const GATEWAY_DP = 'edge-1';
export const SIDECAR_SERVICE = 'client';
export const SIDECAR_DP = 'client-1';
export const SIDECAR_ROUTE = 'client-route';
export const hostname = (h: number) => `h${h}.example.com`;
export const routeName = (h: number) => `edge-route-${h}`;

/** A resource refused loudly unless the schema the zone parses it with accepts its spec. */
function checked(d: { kind: string; spec: { safeParse(x: unknown): { success: boolean; error?: { issues: { path: PropertyKey[]; message: string }[] } } } }, r: Resource): Resource {
  const p = d.spec.safeParse(r.spec);
  if (!p.success) throw new Error(`bench ${d.kind} ${r.name} is invalid: ${(p.error?.issues ?? []).map((i) => `${i.path.map(String).join('.')}: ${i.message}`).join('; ')}`);
  return r;
}

/** Instance k of service s: HTTP, one inbound. */
export function instance(s: number, k: number, instances: number): Resource {
  const i = s * instances + k;
  return {
    type: 'Dataplane', mesh: MESH, name: `${service(s)}-${k}`, labels: {},
    spec: { networking: { address: `10.1.${(i >> 8) & 255}.${i & 255}`, inbound: [{ port: 8080, tags: { [SERVICE]: service(s), [PROTOCOL]: 'http', version: `v${k % 2}` } }] } },
  };
}

/** zone-2's ingress as global sends it down: the first `remote` services, 2 instances each there. */
export function remoteIngress(remote: number): Resource {
  return {
    type: 'ZoneIngress', name: 'zone-2-ingress', labels: { ...GLOBAL, [LABEL_ZONE]: 'zone-2' },
    spec: {
      zone: 'zone-2',
      networking: { address: '10.250.0.1', port: 10001, advertisedAddress: '203.0.113.10', advertisedPort: 10001 },
      availableServices: Array.from({ length: remote }, (_, s) => ({ mesh: MESH, tags: { [SERVICE]: service(s), [PROTOCOL]: 'http', version: 'v0' }, instances: 2 })),
    },
  };
}

export function gatewayDataplane(): Resource {
  return { type: 'Dataplane', mesh: MESH, name: GATEWAY_DP, labels: {}, spec: { networking: { address: '10.0.0.10', gateway: { type: 'BUILTIN', tags: { [SERVICE]: GATEWAY_SERVICE } } } } };
}

/** MeshGateway `edge`: one HTTP listener on port 8080 per hostname, tagged so that one route attaches to each. */
export function meshGateway(hostnames: number): Resource {
  return checked(MeshGatewayDescriptor, {
    type: 'MeshGateway', mesh: MESH, name: GATEWAY_SERVICE, labels: GLOBAL,
    spec: {
      selectors: [{ match: { [SERVICE]: GATEWAY_SERVICE } }],
      conf: { listeners: Array.from({ length: hostnames }, (_, h) => ({ port: 8080, protocol: 'HTTP', hostname: hostname(h), tags: { vhost: `h${h}` } })) },
    },
  });
}

/** Rules per hostname: `routes` spread as evenly as they go, the first hostnames taking one more. */
export const rulesOf = (h: number, routes: number, hostnames: number) => Math.floor(routes / hostnames) + (h < routes % hostnames ? 1 : 0);

/**
 * The route of hostname h (attached through its listener's tag): rule k of it is the route's j-th
 * over the gateway, sending to service j % services; its matches cycle through a path prefix, an exact
 * path, a prefix with a header, a regex, and a method with a 80/20 split across two services (a fifth
 * of the rules). `generation` changes rule 0's path: what the route-change phase commits.
 */
export function gatewayRoute(h: number, routes: number, hostnames: number, services: number, generation = 0): Resource {
  const first = Array.from({ length: h }, (_, x) => rulesOf(x, routes, hostnames)).reduce((a, b) => a + b, 0);
  const dest = (j: number, version?: string) => ({ [SERVICE]: service(j % services), ...(version ? { version } : {}) });
  const rules = Array.from({ length: rulesOf(h, routes, hostnames) }, (_, k) => {
    const j = first + k;
    switch (k % 5) {
      case 0:
        return { matches: [{ path: { match: 'PREFIX', value: `/api/v${k}${k === 0 ? `/g${generation}` : ''}` } }], backends: [{ destination: dest(j) }] };
      case 1:
        return { matches: [{ path: { match: 'EXACT', value: `/items/${k}` } }], backends: [{ destination: dest(j, 'v1') }] };
      case 2:
        return { matches: [{ path: { match: 'PREFIX', value: `/svc/${k}` }, headers: [{ match: 'EXACT', name: 'x-tenant', value: `t${k}` }] }], backends: [{ destination: dest(j) }] };
      case 3:
        return { matches: [{ path: { match: 'REGEX', value: `^/r${k}/[0-9]+$` } }], backends: [{ destination: dest(j) }] };
      default:
        return {
          matches: [{ path: { match: 'PREFIX', value: `/split/${k}` }, method: 'GET' }],
          backends: [{ weight: 80, destination: dest(j) }, { weight: 20, destination: dest(j + 1) }],
        };
    }
  });
  return checked(MeshGatewayRouteDescriptor, {
    type: 'MeshGatewayRoute', mesh: MESH, name: routeName(h), labels: GLOBAL,
    spec: { selectors: [{ match: { [SERVICE]: GATEWAY_SERVICE, vhost: `h${h}` } }], conf: { http: { rules } } },
  });
}

/** The baseline sidecar: one HTTP inbound, an outbound to every service. */
export function sidecarDataplane(services: number): Resource {
  return {
    type: 'Dataplane', mesh: MESH, name: SIDECAR_DP, labels: {},
    spec: {
      networking: {
        address: '10.0.0.20',
        inbound: [{ port: 8080, tags: { [SERVICE]: SIDECAR_SERVICE, [PROTOCOL]: 'http' } }],
        outbound: Array.from({ length: services }, (_, s) => ({ port: 10_000 + s, tags: { [SERVICE]: service(s) } })),
      },
    },
  };
}

/** The sidecar's counterpart of a route change: a MeshHTTPRoute of the client to svc-0 whose path prefix moves with `generation`. */
export function sidecarRoute(generation = 0): Resource {
  return policyResource('MeshHTTPRoute', SIDECAR_ROUTE, {
    targetRef: { kind: 'MeshService', name: SIDECAR_SERVICE },
    to: [{
      targetRef: { kind: 'MeshService', name: service(0) },
      rules: [{ matches: [{ path: { type: 'PathPrefix', value: `/api/g${generation}` } }], default: { backendRefs: [{ kind: 'MeshService', name: service(0), weight: 100 }] } }],
    }],
  });
}
