import { ENVOY_EXTENSION_NAME, ENVOY_TYPE } from '@meshfed/shared';
import { type Draft, lazyTyped } from '../generate/envoy-parts.js';
import type { Protocol } from '../generate/protocol.js';
import { destinations } from './destinations.js';
import { clusterToConfs } from './gateway-confs.js';
import { envoyDuration, envoyPercent, headerValueOptions } from './envoy-values.js';
import type { ToConf } from '../rules/index.js';
import type { PolicyPlugin } from './types.js';

type Conf = ToConf<'MeshHealthCheck'>;
type Checker = 'tcp' | 'http' | 'grpc';

// Kuma's configurer defaults: Envoy requires all four, and the policy may leave any of them out.
const DEFAULT_INTERVAL = '1m';
const DEFAULT_TIMEOUT = '15s';
const DEFAULT_UNHEALTHY_THRESHOLD = 5;
const DEFAULT_HEALTHY_THRESHOLD = 1;
const DEFAULT_HTTP_PATH = '/';

const enabled = (c: { disabled?: boolean | undefined } | undefined): boolean => c !== undefined && c.disabled !== true;

/** The checker of a protocol's own kind: http for http and http2. */
const ownChecker = (protocol: Protocol): Checker => (protocol === 'http' || protocol === 'http2' ? 'http' : protocol === 'grpc' ? 'grpc' : 'tcp');

/**
 * Which checker probes a service (Kuma's selectHealthCheckType): the one of the service's protocol
 * (http for http and http2), and tcp only where that one is present and explicitly disabled. A conf
 * with only `tcp` therefore checks nothing on an HTTP service, as in Kuma.
 */
export function checkerFor(protocol: Protocol, conf: Conf): Checker | undefined {
  const own = ownChecker(protocol);
  if (enabled(conf[own])) return own;
  if (own !== 'tcp' && conf[own]?.disabled === true && enabled(conf.tcp)) return 'tcp';
  return undefined;
}

/** Envoy's TCP payloads are hex text; the policy's are base64 (an empty one means connect only). */
function payload(base64: string): Draft | undefined {
  const hex = Buffer.from(base64, 'base64').toString('hex');
  return hex === '' ? undefined : { text: hex };
}

function tcpChecker(tcp: NonNullable<Conf['tcp']>): Draft {
  // Kuma hex-encodes the base64 text itself (its golden files send "cGluZwo=" as 63476c...), against
  // its own documentation ("Base64 encoded content of the message"): we send the decoded bytes.
  const send = tcp.send !== undefined ? payload(tcp.send) : undefined;
  const receive = (tcp.receive ?? []).map(payload).filter((p) => p !== undefined);
  return { ...(send ? { send } : {}), ...(receive.length > 0 ? { receive } : {}) };
}

function httpChecker(protocol: Protocol, http: NonNullable<Conf['http']>): Draft {
  const headers = headerValueOptions(http.requestHeadersToAdd);
  return {
    path: http.path ?? DEFAULT_HTTP_PATH,
    ...(headers.length > 0 ? { request_headers_to_add: headers } : {}),
    // One status per half-open range, as Kuma maps them.
    ...(http.expectedStatuses ? { expected_statuses: http.expectedStatuses.map((s) => ({ start: s, end: s + 1 })) } : {}),
    codec_client_type: protocol === 'http2' ? 'HTTP2' : 'HTTP1',
  };
}

function grpcChecker(grpc: NonNullable<Conf['grpc']>): Draft {
  return {
    ...(grpc.serviceName !== undefined ? { service_name: grpc.serviceName } : {}),
    ...(grpc.authority !== undefined ? { authority: grpc.authority } : {}),
  };
}

/** Kuma's buildHealthCheck and the chosen checker, as one entry of the cluster's health_checks. */
function healthCheck(conf: Conf, protocol: Protocol, checker: Checker): Draft {
  const hc: Draft = {
    timeout: envoyDuration(conf.timeout ?? DEFAULT_TIMEOUT),
    interval: envoyDuration(conf.interval ?? DEFAULT_INTERVAL),
    unhealthy_threshold: { value: conf.unhealthyThreshold ?? DEFAULT_UNHEALTHY_THRESHOLD },
    healthy_threshold: { value: conf.healthyThreshold ?? DEFAULT_HEALTHY_THRESHOLD },
  };
  if (conf.initialJitter !== undefined) hc['initial_jitter'] = envoyDuration(conf.initialJitter);
  if (conf.intervalJitter !== undefined) hc['interval_jitter'] = envoyDuration(conf.intervalJitter);
  if (conf.intervalJitterPercent !== undefined) hc['interval_jitter_percent'] = conf.intervalJitterPercent;
  // Not in Kuma's API; meshfed's schema has it, and Envoy probes an unhealthy host at this pace.
  if (conf.unhealthyInterval !== undefined) hc['unhealthy_interval'] = envoyDuration(conf.unhealthyInterval);
  if (conf.noTrafficInterval !== undefined) hc['no_traffic_interval'] = envoyDuration(conf.noTrafficInterval);
  if (conf.reuseConnection !== undefined) hc['reuse_connection'] = { value: conf.reuseConnection };
  if (conf.alwaysLogHealthCheckFailures !== undefined) hc['always_log_health_check_failures'] = conf.alwaysLogHealthCheckFailures;
  // The file sink extension, as Kuma writes it: HealthCheck.event_log_path is deprecated.
  if (conf.eventLogPath !== undefined) {
    hc['event_logger'] = [{ name: ENVOY_EXTENSION_NAME.healthCheckFileSink, typed_config: lazyTyped(ENVOY_TYPE.healthCheckFileSink, { event_log_path: conf.eventLogPath }) }];
  }
  if (checker === 'tcp') hc['tcp_health_check'] = tcpChecker(conf.tcp!);
  else if (checker === 'http') hc['http_health_check'] = httpChecker(protocol, conf.http!);
  else hc['grpc_health_check'] = grpcChecker(conf.grpc!);
  return hc;
}

/**
 * Kuma's healthPanicThreshold and failTrafficOnPanic. Envoy's fail_traffic_on_panic lives only in
 * zone_aware_lb_config, which excludes locality_weighted_lb_config (one oneof); Kuma skips the field
 * when the cluster has the latter, noting that it never uses it. meshfed's EDS clusters always do, so
 * the flag would never apply: it takes its place instead. Balancing across zones is kept, since
 * every endpoint's own weight already carries its share (a zone's locality weight is their sum).
 */
function panicMode(cluster: Draft, conf: Conf): void {
  if (conf.healthyPanicThreshold === undefined && conf.failTrafficOnPanic !== true) return;
  const common = (cluster['common_lb_config'] ??= {}) as Draft;
  if (conf.healthyPanicThreshold !== undefined) common['healthy_panic_threshold'] = envoyPercent(conf.healthyPanicThreshold);
  if (conf.failTrafficOnPanic === true) {
    delete common['locality_weighted_lb_config'];
    common['zone_aware_lb_config'] = { ...(common['zone_aware_lb_config'] as Draft | undefined), fail_traffic_on_panic: true };
  }
}

/**
 * MeshHealthCheck (Kuma's meshhealthcheck plugin): active health checks on every cluster carrying
 * traffic to a destination, from the conf computed for that service. The service's protocol picks the
 * checker (see checkerFor); with none, only the panic settings apply, as in Kuma.
 */
export const meshHealthCheckPlugin: PolicyPlugin<'MeshHealthCheck'> = {
  kind: 'MeshHealthCheck',
  applySidecar(draft, rules, ctx) {
    if (!rules) return;
    for (const d of destinations(draft)) {
      const computed = rules.toByService[d.service];
      if (!computed) continue;
      configureClusters(computed.conf, computed.origins, d.service, d.protocol, d.clusters, ctx.problems);
    }
  },
  /**
   * A builtin gateway (Kuma's applyToGateways): each cluster by the `to` conf for its service
   * (gateway-confs). Kuma picks the checker by the listener's protocol (http on HTTP listeners); the
   * cluster's own protocol is used here, as for a sidecar, so a tcp service behind an HTTP route is
   * not probed with HTTP requests it cannot answer.
   */
  applyGateway(draft, rules, ctx) {
    if (!rules) return;
    for (const c of clusterToConfs(rules, draft, ctx.problems)) configureClusters(c.conf, c.origins, c.cluster.service, c.cluster.protocol, [c.cluster.cluster], ctx.problems);
  },
};

/** The conf for one service on the clusters carrying its traffic. */
function configureClusters(conf: Conf, origins: readonly string[], service: string, protocol: Protocol, clusters: readonly Draft[], problems: string[]): void {
  const checker = checkerFor(protocol, conf);
  if (checker === undefined) {
    // Only when the conf says nothing about the service's own protocol: a disabled checker is intended.
    const own = ownChecker(protocol);
    if (conf[own] === undefined && (enabled(conf.tcp) || enabled(conf.http) || enabled(conf.grpc))) {
      problems.push(`MeshHealthCheck ${origins.join(', ')}: ${service} speaks ${protocol} and the policy has no ${own} section: it is not health checked (tcp stands in only for a ${own} section with disabled: true)`);
    }
  }
  for (const cluster of clusters) {
    panicMode(cluster, conf);
    // Assigned, not appended: the policy owns the cluster's active health checks.
    if (checker !== undefined) cluster['health_checks'] = [healthCheck(conf, protocol, checker)];
  }
}
