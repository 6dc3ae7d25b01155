import type { Draft } from '../generate/envoy-parts.js';
import { isHttp } from '../generate/protocol.js';
import { envoyDuration } from './envoy-values.js';
import type { ToConf } from '../rules/index.js';
import { type Destination, destinations } from './destinations.js';
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

/**
 * Locality awareness. What Kuma does per caller in the endpoints (other zones at priority 1 unless
 * `disabled`; affinity tags as weighted sub-zones; cross-zone failover as further priorities and an
 * overprovisioning factor) cannot be done here: meshfed's ClusterLoadAssignment of a service is one
 * resource shared by every caller, local-first exactly when the mesh has
 * `routing.localityAwareLoadBalancing`. The cluster part is done (`disabled` drops locality-weighted
 * balancing); the rest is said where it makes a difference.
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
  const crossZone = crossesZones(draft, d.service);
  if (disabled && crossZone && draft.mesh.localityAware) {
    problems.push(`MeshLoadBalancingStrategy ${origins}: localityAwareness.disabled for ${d.service} is not applied to its endpoints: mesh ${draft.mesh.name} has routing.localityAwareLoadBalancing, so other zones' endpoints stay behind the local ones (priority 1) for every caller`);
  }
  if (!disabled && crossZone && !draft.mesh.localityAware) {
    problems.push(`MeshLoadBalancingStrategy ${origins}: locality-aware balancing for ${d.service} (on unless localityAwareness.disabled) is not applied: its endpoints are shared by every caller, and other zones are kept behind the local one only when mesh ${draft.mesh.name} has routing.localityAwareLoadBalancing`);
  }
  if (disabled) return;
  if ((la?.localZone?.affinityTags?.length ?? 0) > 0) {
    problems.push(`MeshLoadBalancingStrategy ${origins}: localityAwareness.localZone.affinityTags for ${d.service} is not supported: it needs endpoints grouped by the caller's own tags, and a service's endpoints are shared by every caller`);
  }
  if (la?.crossZone !== undefined) {
    problems.push(`MeshLoadBalancingStrategy ${origins}: localityAwareness.crossZone for ${d.service} is not supported: failover order and threshold need per-caller endpoint priorities; other zones are used ${draft.mesh.localityAware ? 'when the local zone is unhealthy' : 'like the local one'}`);
  }
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
};
