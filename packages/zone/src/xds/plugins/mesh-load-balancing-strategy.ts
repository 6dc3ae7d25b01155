import { createHash } from 'node:crypto';
import { canonicalJson, UINT32_MAX } from '@meshfed/shared';
import type { Draft } from '../generate/envoy-parts.js';
import type { Endpoint } from '../generate/zone-index.js';
import { isHttp } from '../generate/protocol.js';
import { envoyDuration } from './envoy-values.js';
import type { ToConf } from '../rules/index.js';
import { type Destination, destinations } from './destinations.js';
import { clusterToConfs, listenerRoutes, routeToConf, tcpToConf } from './gateway-confs.js';
import type { PolicyPlugin, SidecarDraft } from './types.js';

type Conf = ToConf<'MeshLoadBalancingStrategy'>;
type LoadBalancer = NonNullable<Conf['loadBalancer']>;
type HashPolicy = NonNullable<NonNullable<LoadBalancer['ringHash']>['hashPolicies']>[number];

// Envoy's ring sizes when unset (cluster.proto RingHashLbConfig): it refuses a minimum above the maximum.
const ENVOY_MIN_RING = 1024;
const ENVOY_MAX_RING = 8 * 1024 * 1024;
// Every algorithm's settings share the cluster's `lb_config` oneof.
const LB_CONFIGS = ['least_request_lb_config', 'ring_hash_lb_config', 'maglev_lb_config'] as const;

function isPrime(n: number): boolean {
  if (n < 2) return false;
  for (let d = 2; d * d <= n; d++) if (n % d === 0) return false;
  return true;
}

function setLbConfig(cluster: Draft, field: (typeof LB_CONFIGS)[number] | undefined, value?: Draft): void {
  for (const f of LB_CONFIGS) delete cluster[f];
  if (field !== undefined && value !== undefined) cluster[field] = value;
}

/**
 * Kuma's LoadBalancerConfigurer: the algorithm and its own settings (a merged conf may carry another
 * algorithm's settings from a less specific policy: they are ignored, as in Kuma). What Envoy would
 * refuse is left out and said in `problems`.
 */
function applyLoadBalancer(cluster: Draft, lb: LoadBalancer, problems: string[]): void {
  const name = cluster['name'] as string;
  switch (lb.type) {
    case 'RoundRobin':
      cluster['lb_policy'] = 'ROUND_ROBIN';
      setLbConfig(cluster, undefined);
      break;
    case 'Random':
      cluster['lb_policy'] = 'RANDOM';
      setLbConfig(cluster, undefined);
      break;
    case 'LeastRequest': {
      cluster['lb_policy'] = 'LEAST_REQUEST';
      const lr = lb.leastRequest;
      const config: Draft = {};
      if (lr?.choiceCount !== undefined) config['choice_count'] = { value: lr.choiceCount };
      if (lr?.activeRequestBias !== undefined) {
        // RuntimeDouble.runtime_key is required (min_len 1 in base.proto), though Kuma leaves it
        // empty; a key no runtime layer defines leaves the default in force.
        config['active_request_bias'] = { default_value: Number(lr.activeRequestBias), runtime_key: `meshfed.lb.${name}.active_request_bias` };
      }
      setLbConfig(cluster, 'least_request_lb_config', Object.keys(config).length > 0 ? config : undefined);
      break;
    }
    case 'RingHash': {
      cluster['lb_policy'] = 'RING_HASH';
      const rh = lb.ringHash;
      if (!rh) {
        setLbConfig(cluster, undefined);
        break;
      }
      let min = rh.minRingSize;
      const max = rh.maxRingSize;
      // Each bound may come from a different policy, or be Envoy's default: check them together.
      if ((min ?? ENVOY_MIN_RING) > (max ?? ENVOY_MAX_RING)) {
        problems.push(`cluster ${name}: ringHash minRingSize ${min ?? `(Envoy's default ${ENVOY_MIN_RING})`} is greater than maxRingSize ${max}: the minimum is lowered to ${max}`);
        min = max;
      }
      setLbConfig(cluster, 'ring_hash_lb_config', {
        ...(min !== undefined ? { minimum_ring_size: { value: min } } : {}),
        ...(max !== undefined ? { maximum_ring_size: { value: max } } : {}),
        ...(rh.hashFunction !== undefined ? { hash_function: rh.hashFunction === 'MurmurHash2' ? 'MURMUR_HASH_2' : 'XX_HASH' } : {}),
      });
      break;
    }
    case 'Maglev': {
      cluster['lb_policy'] = 'MAGLEV';
      const size = lb.maglev?.tableSize;
      if (size !== undefined && !isPrime(size)) {
        problems.push(`cluster ${name}: maglev tableSize ${size} is not a prime number, which Envoy requires: Envoy's default (65537) is used`);
      }
      setLbConfig(cluster, 'maglev_lb_config', size !== undefined && isPrime(size) ? { table_size: { value: size } } : undefined);
      break;
    }
  }
}

/** Kuma's HashPolicyConfigurer: one Envoy route hash policy per policy entry, in order. */
function envoyHashPolicy(hp: HashPolicy): Draft {
  let spec: Draft;
  switch (hp.type) {
    case 'Header':
      spec = { header: { header_name: hp.header!.name } };
      break;
    case 'Cookie':
      spec = {
        cookie: {
          name: hp.cookie!.name,
          ...(hp.cookie!.ttl !== undefined ? { ttl: envoyDuration(hp.cookie!.ttl) } : {}),
          ...(hp.cookie!.path !== undefined ? { path: hp.cookie!.path } : {}),
        },
      };
      break;
    case 'Connection':
      spec = { connection_properties: { source_ip: hp.connection!.sourceIP === true } };
      break;
    case 'QueryParameter':
      spec = { query_parameter: { name: hp.queryParameter!.name } };
      break;
    case 'FilterState':
      spec = { filter_state: { key: hp.filterState!.key } };
      break;
  }
  return { ...spec, ...(hp.terminal === true ? { terminal: true } : {}) };
}

function hashPoliciesOf(lb: LoadBalancer | undefined): readonly HashPolicy[] {
  if (lb?.type === 'RingHash') return lb.ringHash?.hashPolicies ?? [];
  if (lb?.type === 'Maglev') return lb.maglev?.hashPolicies ?? [];
  return [];
}

/** Whether the caller's traffic to `service` can reach another zone: only then do priorities matter. */
function crossesZones(draft: SidecarDraft, service: string): boolean {
  return draft.mtls && !draft.mesh.external.has(service) && (draft.mesh.remote.get(service)?.length ?? 0) > 0;
}

type Failover = NonNullable<NonNullable<NonNullable<Conf['localityAwareness']>['crossZone']>['failover']>[number];

/**
 * The caller's priority of each locality (Kuma's crossZone failover): the local zone first (0); then
 * each failover entry that applies to the caller's zone (no `from`, or `from.zones` naming it), in
 * order, one priority each: `Any` every zone not yet placed, `Only` its zones, `AnyExcept` every
 * zone but its own, `None` ends the list. Zones no entry places get no traffic. Without failover
 * entries every other zone is priority 1. Through a local ZoneEgress each zone keeps its locality
 * (generate/sidecar.ts destinationOf) up to the egress, which balances across them itself (said).
 */
function failoverPriorities(zone: string, failover: readonly Failover[] | undefined): (e: { zone: string; subZone?: string | undefined }) => number | undefined {
  const entries = (failover ?? []).filter((f) => !f.from || f.from.zones.includes(zone));
  return (e) => {
    if (e.zone === zone && e.subZone === undefined) return 0;
    if (failover === undefined) return 1;
    for (const [i, f] of entries.entries()) {
      const zones = f.to.zones ?? [];
      if (f.to.type === 'None') return undefined;
      if (f.to.type === 'Any') return i + 1;
      if (f.to.type === 'Only' && zones.includes(e.zone)) return i + 1;
      if (f.to.type === 'AnyExcept' && !zones.includes(e.zone)) return i + 1;
    }
    return undefined;
  };
}

/**
 * Locality awareness, per caller (Kuma orders a destination's localities for each proxy its policy
 * selects): the destination's clusters get this proxy's own endpoint order (Backends.orderLocalities)
 * when it differs from the shared one, which is local-first exactly when the mesh has
 * `routing.localityAwareLoadBalancing`. On unless `disabled`: the local zone first, then other zones,
 * or the crossZone failover order with its threshold as Envoy's overprovisioning factor; the local
 * zone's instances in weighted affinity groups (affinityGroups). `disabled` also drops
 * locality-weighted balancing.
 */
function applyLocality(draft: SidecarDraft, d: Destination, conf: Conf, origins: string, problems: string[]): void {
  const la = conf.localityAwareness;
  const disabled = la?.disabled === true;
  if (disabled) {
    for (const cluster of d.clusters) {
      const common = cluster['common_lb_config'] as Draft | undefined;
      if (!common) continue;
      delete common['locality_weighted_lb_config'];
      if (Object.keys(common).length === 0) delete cluster['common_lb_config'];
    }
  }
  const affinity = disabled ? undefined : affinityGroups(draft, la?.localZone?.affinityTags);
  const crosses = crossesZones(draft, d.service);
  const crossZone = disabled || !crosses ? undefined : la?.crossZone;
  // The shared endpoints already are what this caller needs: nothing of its own.
  const priorities = crosses && (disabled ? draft.mesh.localityAware : !draft.mesh.localityAware || crossZone !== undefined);
  if (!priorities && !affinity) return;
  const threshold = crossZone?.failoverThreshold?.percentage;
  const order = {
    priorityOf: disabled ? () => 0 : failoverPriorities(draft.zone, crossZone?.failover),
    // Kuma: a priority counts as healthy down to `threshold` percent of healthy endpoints.
    // (Capped: a threshold near 0 would ask for a factor no uint32 holds; 1,000,000% is already "never spill over".)
    ...(threshold !== undefined && Number(threshold) > 0 ? { overprovisioningFactor: Math.min(1_000_000, Math.round(10_000 / Number(threshold))) } : {}),
    ...(affinity ? { localGroup: affinity.group } : {}),
  };
  const variant = disabled ? 'no-failover'
    : crossZone === undefined && !affinity ? 'local-first'
      : `${affinity ? 'affinity' : 'failover'}-${stableKey({ crossZone, affinity: affinity?.key })}`;
  if (draft.mesh.zoneEgress && crossZone?.failover?.some((f) => f.to.type !== 'Any')) {
    problems.push(`MeshLoadBalancingStrategy ${origins}: the crossZone failover order for ${d.service} holds up to the zone egress (routing.zoneEgress), which then balances across the other zones' ingresses: the order among other zones is not kept`);
  }
  for (const cluster of d.clusters) draft.backends.orderLocalities(cluster, variant, order);
}

type AffinityTag = NonNullable<NonNullable<NonNullable<Conf['localityAwareness']>['localZone']>['affinityTags']>[number];

/**
 * Kuma's localZone affinity: the local zone's instances that share the caller's value of the first
 * tag form one group, those sharing the second the next, the rest a last one; the groups share the
 * local zone's traffic by weight (the tags' own, or, when none is given, 90/9/…/1: each tag ten times
 * the next). The caller's tags are its inbounds' (the first inbound setting a key wins); a tag the
 * caller lacks groups nobody. `key` names what the groups depend on, for the endpoints' name.
 */
function affinityGroups(draft: SidecarDraft, tags: readonly AffinityTag[] | undefined): { group: (e: Endpoint) => { name: string; weight: number }; key: unknown } | undefined {
  if (!tags || tags.length === 0) return undefined;
  const caller: Record<string, string> = {};
  for (const ib of draft.inbounds) for (const [k, v] of Object.entries(ib.tags)) caller[k] ??= v;
  const n = tags.length;
  // Envoy adds a priority's locality weights into a uint32: each is kept within a share of it.
  const cap = Math.floor(UINT32_MAX / (n + 1));
  const levels = tags.map((t, i) => ({ key: t.key, value: caller[t.key], weight: Math.min(cap, t.weight ?? 9 * 10 ** (n - 1 - i)) }));
  return {
    group: (e) => {
      for (const l of levels) if (l.value !== undefined && e.tags?.[l.key] === l.value) return { name: `${l.key}=${l.value}`, weight: l.weight };
      return { name: 'other', weight: 1 };
    },
    key: levels,
  };
}

/** A short stable name for a conf (its canonical JSON, hashed): the endpoint variant's resource name. */
function stableKey(value: unknown): string {
  return createHash('sha256').update(canonicalJson(value)).digest('base64url').slice(0, 10);
}

/**
 * MeshLoadBalancingStrategy (Kuma's meshloadbalancingstrategy plugin), outbound, from the conf
 * computed for each destination service: the balancing algorithm on every cluster carrying its
 * traffic, ring hash and maglev hash policies on the outbound's routes (HTTP only: Kuma sets none on
 * a tcp_proxy), and what of locality awareness fits a cluster (see applyLocality).
 */
export const meshLoadBalancingStrategyPlugin: PolicyPlugin<'MeshLoadBalancingStrategy'> = {
  kind: 'MeshLoadBalancingStrategy',
  applySidecar(draft, rules, ctx) {
    if (!rules) return;
    for (const d of destinations(draft)) {
      const computed = rules.toByService[d.service];
      if (!computed) continue;
      const { conf } = computed;
      const origins = computed.origins.join(', ');
      const lbProblems: string[] = [];
      if (conf.loadBalancer) {
        for (const cluster of d.clusters) applyLoadBalancer(cluster, conf.loadBalancer, lbProblems);
      }
      ctx.problems.push(...lbProblems.map((p) => `MeshLoadBalancingStrategy ${origins}: ${p}`));
      const hashPolicies = hashPoliciesOf(conf.loadBalancer);
      if (hashPolicies.length > 0 && !isHttp(d.protocol)) {
        ctx.problems.push(`MeshLoadBalancingStrategy ${origins}: hashPolicies for ${d.service} are not applied: it speaks ${d.protocol}, and hash policies are set on HTTP routes; each connection hashes to a random point of the ring`);
      } else if (hashPolicies.length > 0) {
        for (const route of d.outbounds.flatMap((ob) => ob.http?.routes ?? [])) {
          const action = route['route'] as Draft | undefined;
          // Redirects and direct responses pick no cluster: nothing to hash.
          if (action) action['hash_policy'] = [...((action['hash_policy'] as Draft[] | undefined) ?? []), ...hashPolicies.map(envoyHashPolicy)];
        }
      }
      applyLocality(draft, d, conf, origins, ctx.problems);
    }
  },
  /**
   * A builtin gateway (Kuma's configureGateway): each cluster's algorithm by the `to` conf for its
   * service; hash policies on each HTTP route by the route's own conf (gateway-confs: Kuma puts every
   * service's hash policies on every route of the listener). Of locality awareness, only `disabled`
   * (no locality-weighted balancing) applies: a gateway takes the mesh's shared endpoint order (local
   * zone first when the mesh routes locality-aware), and the failover order and affinity groups,
   * which need endpoints of its own, are said not to apply.
   */
  applyGateway(draft, rules, ctx) {
    if (!rules) return;
    const lbProblems = new Set<string>();
    for (const c of clusterToConfs(rules, draft, ctx.problems)) {
      const origins = c.origins.join(', ');
      const found: string[] = [];
      if (c.conf.loadBalancer) applyLoadBalancer(c.cluster.cluster, c.conf.loadBalancer, found);
      for (const p of found) lbProblems.add(`MeshLoadBalancingStrategy ${origins}: ${p}`);
      const la = c.conf.localityAwareness;
      if (la?.disabled === true) {
        const common = c.cluster.cluster['common_lb_config'] as Draft | undefined;
        if (common) {
          delete common['locality_weighted_lb_config'];
          if (Object.keys(common).length === 0) delete c.cluster.cluster['common_lb_config'];
        }
      } else if (la?.crossZone !== undefined || (la?.localZone?.affinityTags?.length ?? 0) > 0) {
        lbProblems.add(`MeshLoadBalancingStrategy ${origins}: localityAwareness crossZone and localZone are not applied on builtin gateways yet: ${c.cluster.service} takes the mesh's shared endpoint order`);
      }
    }
    ctx.problems.push(...lbProblems);
    for (const l of draft.listeners) {
      for (const { vh, route } of listenerRoutes(l)) {
        const computed = routeToConf(rules, l, vh, route, ctx.problems);
        const hashPolicies = hashPoliciesOf(computed?.conf.loadBalancer);
        const action = route.route['route'] as Draft | undefined;
        if (action && hashPolicies.length > 0) action['hash_policy'] = [...((action['hash_policy'] as Draft[] | undefined) ?? []), ...hashPolicies.map(envoyHashPolicy)];
      }
      const tcp = tcpToConf(rules, draft, l);
      if (l.tcpProxy && tcp && hashPoliciesOf(tcp.conf.loadBalancer).length > 0) {
        ctx.problems.push(`MeshLoadBalancingStrategy ${tcp.origins.join(', ')}: hashPolicies are not applied on TCP listener ${l.name}: hash policies are set on HTTP routes; each connection hashes to a random point of the ring`);
      }
    }
  },
};
