// The zone `npm run bench -- xds` configures: one mesh with builtin mTLS, N dataplanes over 500 local
// services (N/500 instances each), each calling 5 other services, some of which only another zone
// offers (through its ZoneIngress, synced from global), and this zone's own ZoneIngress. With
// BENCH_XDS_POLICIES > 0, also that many targetRef policies of each type (see policies()).
import { LABEL_ORIGIN, LABEL_ZONE, POLICY_DESCRIPTORS, type Resource } from '@meshfed/shared';

export const MESH = 'default';
export const ZONE = 'zone-1';
export const CA_BACKEND = 'ca-1';
/** Local services: dataplane i is an instance of service i % SERVICES. */
export const SERVICES = 500;
/** Services only zone-2 offers (svc-500 … svc-549), and local services it offers too (svc-0 … svc-49). */
export const REMOTE_ONLY = 50;
export const REMOTE_SHARED = 50;
export const OUTBOUNDS = 5;
export const LOCAL_INGRESS = 'zone-1-ingress';
export const REMOTE_INGRESS = 'zone-2-ingress';

const GLOBAL = { [LABEL_ORIGIN]: 'global' };
export const service = (s: number) => `svc-${s}`;
export const dpName = (i: number) => `dp-${i}`;
export const dpProxyId = (i: number) => `${MESH}.${dpName(i)}`;

/** The services dataplanes of service `s` call: 5 others spread over the local and remote-only ones. */
export function outboundServices(s: number): number[] {
  return Array.from({ length: OUTBOUNDS }, (_, k) => (s + 37 * (k + 1)) % (SERVICES + REMOTE_ONLY));
}

/** Dataplane i's address; `generation` moves it (a restarted pod with a new IP). */
export function dpAddress(i: number, generation = 0): string {
  return `10.${generation % 250}.${(i >> 8) & 255}.${i & 255}`;
}

/**
 * Dataplane i; `sharded` (the bench with policies) adds the inbound tag `shard` = its service % SHARDS,
 * which the generated policies select by: the instances of one service stay alike.
 */
export function dataplane(i: number, generation = 0, sharded = false): Resource {
  const s = i % SERVICES;
  const tags: Record<string, string> = { 'kuma.io/service': service(s), 'kuma.io/protocol': 'tcp' };
  if (sharded) tags[SHARD_TAG] = String(s % SHARDS);
  return {
    type: 'Dataplane', mesh: MESH, name: dpName(i), labels: { app: service(s) },
    spec: {
      networking: {
        address: dpAddress(i, generation),
        inbound: [{ port: 8080, servicePort: 80, tags }],
        outbound: outboundServices(s).map((t) => ({ port: 10_000 + t, tags: { 'kuma.io/service': service(t) } })),
      },
    },
  };
}

export function meshSpec(mtls: boolean): Record<string, unknown> {
  return { mtls: { ...(mtls ? { enabledBackend: CA_BACKEND } : {}), backends: [{ name: CA_BACKEND, type: 'builtin' }] } };
}

export function mesh(mtls: boolean): Resource {
  return { type: 'Mesh', name: MESH, labels: GLOBAL, spec: meshSpec(mtls) };
}

/** zone-2's ingress as global sends it down: its services, with instance counts. */
export function remoteIngress(): Resource {
  const offered = [
    ...Array.from({ length: REMOTE_SHARED }, (_, s) => ({ s, instances: 2 })),
    ...Array.from({ length: REMOTE_ONLY }, (_, k) => ({ s: SERVICES + k, instances: 3 })),
  ];
  return {
    type: 'ZoneIngress', name: REMOTE_INGRESS, labels: { ...GLOBAL, [LABEL_ZONE]: 'zone-2' },
    spec: {
      zone: 'zone-2',
      networking: { address: '10.250.0.1', port: 10001, advertisedAddress: '203.0.113.10', advertisedPort: 10001 },
      availableServices: offered.map(({ s, instances }) => ({ mesh: MESH, tags: { 'kuma.io/service': service(s) }, instances })),
    },
  };
}

/** This zone's own ingress (other zones reach its services through it); it is one more ADS stream. */
export function localIngress(): Resource {
  return {
    type: 'ZoneIngress', name: LOCAL_INGRESS, labels: {},
    spec: { zone: ZONE, networking: { address: '10.251.0.1', port: 10001, advertisedAddress: '198.51.100.10', advertisedPort: 10001 } },
  };
}

/** Every proxy of the zone that opens an ADS stream. */
export function proxies(n: number, withLocalIngress: boolean): { id: string; type: 'dataplane' | 'ingress' }[] {
  const out: { id: string; type: 'dataplane' | 'ingress' }[] = Array.from({ length: n }, (_, i) => ({ id: dpProxyId(i), type: 'dataplane' as const }));
  if (withLocalIngress) out.push({ id: LOCAL_INGRESS, type: 'ingress' });
  return out;
}

// ---------------------------------------------------------------------------------------------
// Policies (BENCH_XDS_POLICIES): `count` of each targetRef type, as global sends them down.

/** The inbound tag policies select dataplanes by: service % SHARDS, so one shard is 1% of the dataplanes. */
export const SHARD_TAG = 'shard';
export const SHARDS = 100;
/** The shard whose MeshTimeout phase (e) changes. */
export const CHANGED_SHARD = 7;
/** MeshTimeout selecting CHANGED_SHARD, `from` Mesh: phase (e) alternates its connectionTimeout (inbound side). */
export const SHARD_TIMEOUT = 'bench-shard-timeout';
/** MeshTimeout targeting the Mesh, `to` Mesh: phase (f) toggles its connectionTimeout (every outbound cluster). */
export const MESH_TIMEOUT = 'bench-mesh-timeout';
/** With mesh mTLS, MeshTrafficPermission denies by default: one policy allows everyone. */
export const ALLOW_ALL = 'bench-allow-all';
/** connectionTimeout values of the two changed policies, as committed at setup. */
export const SHARD_TIMEOUT_VALUES = ['2s', '3s'] as const;
export const MESH_TIMEOUT_VALUES = ['4s', '6s'] as const;

type Entry = { targetRef: Record<string, unknown>; default?: unknown; rules?: unknown };
const MESH_REF = { kind: 'Mesh' };

/** A policy resource, refused loudly unless its type's schema (the one the zone parses it with) accepts it. */
export function policyResource(kind: string, name: string, spec: Record<string, unknown>): Resource {
  const d = POLICY_DESCRIPTORS.find((x) => x.kind === kind);
  if (!d) throw new Error(`bench policy ${name}: unknown policy type ${kind}`);
  const body = { spec };
  const r = d.spec.safeParse(body);
  if (!r.success) {
    throw new Error(`bench policy ${kind} ${name} is invalid: ${r.error.issues.map((i) => `${i.path.map(String).join('.')}: ${i.message}`).join('; ')}`);
  }
  return { type: kind as Resource['type'], mesh: MESH, name, labels: GLOBAL, spec: body };
}

/** A policy type's place in POLICY_DESCRIPTORS: what varies its policies' targets. */
export const policyTypeIndex = (kind: string) => POLICY_DESCRIPTORS.findIndex((d) => d.kind === kind);

/**
 * Which dataplanes policy j of a type selects, and whom its `to` entries name: shard j % SHARDS (the
 * services s with s % SHARDS equal to it), and one outbound service of one of those services, varied
 * with j and the type so that the types do not all name the same destination. `n` bounds the local
 * services (fewer dataplanes than SERVICES leave some without instances).
 */
export function policyTarget(j: number, typeIndex: number, n: number): { shard: number; caller: number; target: number; other: number } {
  const shard = j % SHARDS;
  const local = Math.min(n, SERVICES);
  const perShard = Math.ceil(SERVICES / SHARDS);
  let caller = shard + SHARDS * ((Math.floor(j / SHARDS) + typeIndex) % perShard);
  if (caller >= local) caller = shard;
  const target = outboundServices(caller)[(j + typeIndex) % OUTBOUNDS]!;
  // A second destination for the TCP route's split: a local service with instances.
  const other = (target + 1) % local;
  return { shard, caller, target, other };
}

/**
 * Policy j of `kind`: top-level MeshSubset {shard}, `to` entries naming a MeshService the shard calls,
 * `from` entries of kind Mesh where the type has `from`; TCP-relevant settings, since the sidecars here
 * are TCP (HTTP-only settings would stay unapplied). MeshFaultInjection injects HTTP faults only: on a
 * TCP inbound meshfed reports real faults as a problem of every selected proxy, so its policies carry
 * an empty fault list (selected, matched and merged; nothing for Envoy).
 */
export function policy(kind: string, j: number, n: number): Resource {
  const { shard, target, other } = policyTarget(j, policyTypeIndex(kind), n);
  const svcRef = { kind: 'MeshService', name: service(target) };
  const to = (conf: unknown): Entry[] => [{ targetRef: svcRef, default: conf }];
  const from = (conf: unknown): Entry[] => [{ targetRef: MESH_REF, default: conf }];
  let body: { from?: Entry[]; to?: Entry[] };
  switch (kind) {
    case 'MeshTrafficPermission':
      body = { from: from({ action: 'Allow' }) };
      break;
    case 'MeshTimeout':
      // connectionTimeout only `to` one service: phases (e) and (f) change it elsewhere (inbound, other outbounds).
      body = { to: to({ connectionTimeout: `${1 + (j % 5)}s`, idleTimeout: `${10 + (j % 50)}m` }), from: from({ idleTimeout: '2h' }) };
      break;
    case 'MeshRetry':
      body = { to: to({ tcp: { maxConnectAttempt: 1 + (j % 5) } }) };
      break;
    case 'MeshCircuitBreaker':
      body = {
        to: to({
          connectionLimits: { maxConnections: 1024 + j, maxPendingRequests: 256, maxRequests: 1024 },
          outlierDetection: { interval: '5s', baseEjectionTime: '30s', maxEjectionPercent: 20, detectors: { totalFailures: { consecutive: 5 + (j % 5) } } },
        }),
        from: from({ connectionLimits: { maxConnections: 2048 + j } }),
      };
      break;
    case 'MeshHealthCheck':
      body = { to: to({ interval: `${5 + (j % 10)}s`, timeout: '2s', unhealthyThreshold: 3, healthyThreshold: 1, tcp: {} }) };
      break;
    case 'MeshRateLimit':
      // `to` is for gateways; a sidecar's limit is on its inbound.
      body = { from: from({ local: { tcp: { connectionRate: { num: 100 + j, interval: '1s' } } } }) };
      break;
    case 'MeshFaultInjection':
      body = { from: from({ http: [] }) };
      break;
    case 'MeshLoadBalancingStrategy': {
      const lbs = [
        { type: 'RoundRobin' },
        { type: 'LeastRequest', leastRequest: { choiceCount: 2 + (j % 3) } },
        { type: 'RingHash', ringHash: { hashFunction: 'XXHash', minRingSize: 1024, maxRingSize: 8192 } },
        { type: 'Random' },
        { type: 'Maglev' },
      ];
      // localityAwareness disabled: balancing across zones as the mesh does (no routing.localityAwareLoadBalancing).
      body = { to: to({ loadBalancer: lbs[j % lbs.length], localityAwareness: { disabled: true } }) };
      break;
    }
    case 'MeshHTTPRoute':
      body = {
        to: [{
          targetRef: svcRef,
          rules: [{
            matches: [{ path: { type: 'PathPrefix', value: `/api/v${j}` } }],
            default: {
              filters: [{ type: 'RequestHeaderModifier', requestHeaderModifier: { set: [{ name: 'x-bench-policy', value: String(j) }] } }],
              backendRefs: [{ kind: 'MeshService', name: service(target), weight: 100 }],
            },
          }],
        }],
      };
      break;
    case 'MeshTCPRoute':
      body = {
        to: [{
          targetRef: svcRef,
          rules: [{ default: { backendRefs: [{ kind: 'MeshService', name: service(target), weight: 90 }, { kind: 'MeshService', name: service(other), weight: 10 }] } }],
        }],
      };
      break;
    case 'MeshAccessLog':
      body = {
        from: from({ backends: [{ file: { path: '/dev/stdout' } }] }),
        to: to({ backends: [{ file: { path: `/var/log/envoy/bench-${j}.log`, format: { type: 'Plain', plain: '[%START_TIME%] %KUMA_SOURCE_SERVICE% -> %KUMA_DESTINATION_SERVICE% %BYTES_SENT%' } } }] }),
      };
      break;
    default:
      throw new Error(`no bench policy for type ${kind}`);
  }
  return policyResource(kind, `bench-${kind.toLowerCase()}-${j}`, { targetRef: { kind: 'MeshSubset', tags: { [SHARD_TAG]: String(shard) } }, ...body });
}

/** The MeshTimeout phase (e) changes: it selects CHANGED_SHARD's dataplanes (1% of them), inbound side. */
export function shardTimeout(connectionTimeout: string): Resource {
  return policyResource('MeshTimeout', SHARD_TIMEOUT, {
    targetRef: { kind: 'MeshSubset', tags: { [SHARD_TAG]: String(CHANGED_SHARD) } },
    from: [{ targetRef: MESH_REF, default: { connectionTimeout } }],
  });
}

/** The MeshTimeout phase (f) changes: the whole mesh, every outbound (a shard's policy overrides one service). */
export function meshTimeout(connectionTimeout: string): Resource {
  return policyResource('MeshTimeout', MESH_TIMEOUT, { targetRef: MESH_REF, to: [{ targetRef: MESH_REF, default: { connectionTimeout } }] });
}

/** Every policy of the bench with `count` per type: count x 11, the allow-all permission, and the two changed MeshTimeouts. */
export function policies(count: number, n: number): Resource[] {
  if (count <= 0) return [];
  return [
    ...POLICY_DESCRIPTORS.flatMap((d) => Array.from({ length: count }, (_, j) => policy(d.kind, j, n))),
    policyResource('MeshTrafficPermission', ALLOW_ALL, { targetRef: MESH_REF, from: [{ targetRef: MESH_REF, default: { action: 'Allow' } }] }),
    shardTimeout(SHARD_TIMEOUT_VALUES[0]),
    meshTimeout(MESH_TIMEOUT_VALUES[0]),
  ];
}
