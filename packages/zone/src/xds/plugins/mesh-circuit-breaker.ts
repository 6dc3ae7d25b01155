import type { Draft } from '../generate/envoy-parts.js';
import { destinations } from './destinations.js';
import { envoyDuration, envoyPercent } from './envoy-values.js';
import { clusterToConfs } from './gateway-confs.js';
import type { PolicyPlugin } from './types.js';
import type { FromConf, ToConf } from '../rules/index.js';
import { computeForAnyClient } from '../rules/index.js';

type Conf = ToConf<'MeshCircuitBreaker'> | FromConf<'MeshCircuitBreaker'>;
type ConnectionLimits = NonNullable<Conf['connectionLimits']>;
type OutlierDetection = NonNullable<Conf['outlierDetection']>;
type Detectors = NonNullable<OutlierDetection['detectors']>;

const UINT32_MAX = 0xffffffff;
const u32 = (value: number) => ({ value });
/** Kuma's detectors are on (enforced for every ejection they call for) or off; a new object each time, as drafts are changed in place. */
const enforcing = (on: boolean) => u32(on ? 100 : 0);

/**
 * Kuma's success-rate standard deviation factor: the decimal times 1000, truncated (Envoy divides
 * success_rate_stdev_factor by 1000). Decimal strings are read digit by digit, so "1.001" is 1001,
 * not 1000.9999 truncated.
 */
export function stdevFactorThousandths(v: number | string): number {
  const s = String(v);
  const m = /^(\d+)(?:\.(\d+))?$/.exec(s);
  if (!m) return Math.trunc(Number(v) * 1000);
  return Number(m[1]) * 1000 + Number(`${m[2] ?? ''}000`.slice(0, 3));
}

/** Kuma's configureCircuitBreakers: one DEFAULT-priority threshold, tracking the remaining budget. */
function circuitBreakers(c: ConnectionLimits): Draft {
  const t: Draft = { priority: 'DEFAULT', track_remaining: true };
  if (c.maxConnectionPools !== undefined) t['max_connection_pools'] = u32(c.maxConnectionPools);
  if (c.maxConnections !== undefined) t['max_connections'] = u32(c.maxConnections);
  if (c.maxPendingRequests !== undefined) t['max_pending_requests'] = u32(c.maxPendingRequests);
  if (c.maxRetries !== undefined) t['max_retries'] = u32(c.maxRetries);
  if (c.maxRequests !== undefined) t['max_requests'] = u32(c.maxRequests);
  return { thresholds: [t] };
}

/**
 * Kuma's configureDetectors: each consecutive-failure detector is enforced with its count, or off
 * (enforcing 0) when absent; success rate and failure percentage likewise, their local-origin
 * enforcement following (it only counts with splitExternalAndLocalErrors). Without any detectors Kuma
 * switches off only the three consecutive ones, leaving success rate at Envoy's default.
 */
function detectors(od: Draft, d: Detectors | undefined, problems: string[]): void {
  const consecutive = (count: number | undefined, countField: string, enforcingField: string) => {
    od[enforcingField] = enforcing(count !== undefined);
    if (count !== undefined) od[countField] = u32(count);
  };
  consecutive(d?.totalFailures?.consecutive, 'consecutive_5xx', 'enforcing_consecutive_5xx');
  consecutive(d?.localOriginFailures?.consecutive, 'consecutive_local_origin_failure', 'enforcing_consecutive_local_origin_failure');
  consecutive(d?.gatewayFailures?.consecutive, 'consecutive_gateway_failure', 'enforcing_consecutive_gateway_failure');
  if (!d) return;

  const sr = d.successRate;
  od['enforcing_success_rate'] = enforcing(Boolean(sr));
  od['enforcing_local_origin_success_rate'] = enforcing(Boolean(sr));
  if (sr?.minimumHosts !== undefined) od['success_rate_minimum_hosts'] = u32(sr.minimumHosts);
  if (sr?.requestVolume !== undefined) od['success_rate_request_volume'] = u32(sr.requestVolume);
  if (sr?.standardDeviationFactor !== undefined) {
    const factor = stdevFactorThousandths(sr.standardDeviationFactor);
    if (factor <= UINT32_MAX) od['success_rate_stdev_factor'] = u32(factor);
    else problems.push(`outlierDetection.detectors.successRate.standardDeviationFactor ${sr.standardDeviationFactor} is too large for Envoy: its default (1.9) is used`);
  }

  const fp = d.failurePercentage;
  od['enforcing_failure_percentage'] = enforcing(Boolean(fp));
  od['enforcing_failure_percentage_local_origin'] = enforcing(Boolean(fp));
  if (fp?.minimumHosts !== undefined) od['failure_percentage_minimum_hosts'] = u32(fp.minimumHosts);
  if (fp?.requestVolume !== undefined) od['failure_percentage_request_volume'] = u32(fp.requestVolume);
  if (fp?.threshold !== undefined) od['failure_percentage_threshold'] = u32(fp.threshold);
}

/**
 * Kuma's meshcircuitbreaker configurer on one cluster: `connectionLimits` → circuit_breakers;
 * `outlierDetection` → outlier_detection unless `disabled` (then nothing of it applies, the healthy
 * panic threshold included), and its `healthyPanicThreshold` → the cluster's
 * common_lb_config.healthy_panic_threshold.
 */
function configureCluster(conf: Conf, cluster: Draft, problems: string[]): void {
  if (conf.connectionLimits) cluster['circuit_breakers'] = circuitBreakers(conf.connectionLimits);
  const o = conf.outlierDetection;
  if (!o || o.disabled) return;
  const od: Draft = {};
  if (o.interval !== undefined) od['interval'] = envoyDuration(o.interval);
  if (o.baseEjectionTime !== undefined) od['base_ejection_time'] = envoyDuration(o.baseEjectionTime);
  if (o.splitExternalAndLocalErrors !== undefined) od['split_external_local_origin_errors'] = o.splitExternalAndLocalErrors;
  if (o.maxEjectionPercent !== undefined) od['max_ejection_percent'] = u32(o.maxEjectionPercent);
  detectors(od, o.detectors, problems);
  cluster['outlier_detection'] = od;
  if (o.healthyPanicThreshold !== undefined) {
    const lb = (cluster['common_lb_config'] ??= {}) as Draft;
    lb['healthy_panic_threshold'] = envoyPercent(o.healthyPanicThreshold);
  }
}

/**
 * MeshCircuitBreaker (Kuma's meshcircuitbreaker plugin): every cluster carrying an outbound's traffic
 * by the conf computed for its destination service (`to`), and each inbound's local cluster by the
 * conf computed for any client (`from`, computed for the whole mesh as Kuma does).
 */
export const meshCircuitBreakerPlugin: PolicyPlugin<'MeshCircuitBreaker'> = {
  kind: 'MeshCircuitBreaker',
  applySidecar(draft, rules, ctx) {
    if (!rules) return;
    const problems = new Set<string>();
    const apply = (conf: Conf, origins: readonly string[], what: string, clusters: readonly Draft[]) => {
      const found: string[] = [];
      for (const c of clusters) configureCluster(conf, c, found);
      for (const p of found) problems.add(`MeshCircuitBreaker ${origins.join(', ')} for ${what}: ${p}`);
    };
    for (const d of destinations(draft)) {
      const computed = rules.toByService[d.service];
      if (computed) apply(computed.conf, computed.origins, d.service, d.clusters);
    }
    for (const ib of draft.inbounds) {
      const rule = computeForAnyClient(rules.from[ib.rulesKey]);
      if (rule) apply(rule.conf, rule.origins, `inbound ${ib.rulesKey}`, [ib.localCluster]);
    }
    ctx.problems.push(...problems);
  },
  /** A builtin gateway (Kuma's applyToGateways): each cluster by the `to` conf for its service (gateway-confs). */
  applyGateway(draft, rules, ctx) {
    if (!rules) return;
    const problems = new Set<string>();
    for (const c of clusterToConfs(rules, draft, ctx.problems)) {
      const found: string[] = [];
      configureCluster(c.conf, c.cluster.cluster, found);
      for (const p of found) problems.add(`MeshCircuitBreaker ${c.origins.join(', ')} for ${c.cluster.service}: ${p}`);
    }
    ctx.problems.push(...problems);
  },
};
