import { ENVOY_EXTENSION_NAME, ENVOY_TYPE, envoyRoot } from '@meshfed/shared';
import { type Draft, lazyTyped, statPrefix } from '../generate/envoy-parts.js';
import { envoyDuration, fractionalPercent, headerValueOptions } from './envoy-values.js';
import type { FromConf, Rule } from '../rules/index.js';
import { computeForAnyClient } from '../rules/index.js';
import { listenerFromConf, listenerRoutes, listenerToConf, routeToConf } from './gateway-confs.js';
import type { GatewayListenerDraft, InboundDraft, PolicyPlugin } from './types.js';

type Conf = FromConf<'MeshRateLimit'>;
type LocalHttp = NonNullable<Conf['local']['http']>;
type Rate = NonNullable<LocalHttp['requestRate']>;

// Envoy's local_ratelimit.proto: response_headers_to_add has max_items 10.
const MAX_RESPONSE_HEADERS = 10;

/** A rate as Envoy's token bucket (Kuma's configurer): `num` tokens, all refilled every `interval`. */
function tokenBucket(rate: Rate): Draft {
  return { max_tokens: rate.num, tokens_per_fill: { value: rate.num }, fill_interval: envoyDuration(rate.interval) };
}

const ALWAYS = (runtimeKey: string): Draft => ({ default_value: fractionalPercent(100), runtime_key: runtimeKey });

// HttpStatus.code is an enum with `defined_only`: a code the enum lacks (418, 499…) would be NACKed.
let statusCodes: ReadonlySet<number> | undefined;
function envoyKnowsStatus(code: number): boolean {
  statusCodes ??= new Set(Object.values(envoyRoot().lookupEnum('envoy.type.v3.StatusCode').values).filter((v) => v !== 0));
  return statusCodes.has(code);
}

/**
 * Kuma's NewRateLimitConfiguration: the token bucket, filter enabled and enforced for every request
 * (runtime keys `local_rate_limit_enabled`/`_enforced`), the status and headers of `onRateLimit`.
 * Kuma puts this on every route of the inbound (typed_per_filter_config) under an empty listener-level
 * filter; an inbound has a single catch-all route, so the same limit sits on the filter itself, where
 * no route added later can escape it. The stat prefix is per inbound (Kuma: `rate_limit` for all),
 * as the RBAC filter's, so each inbound counts apart.
 */
function httpFilter(stat: string, requestRate: Rate, on: LocalHttp['onRateLimit'], origin: string, problems: string[]): Draft {
  return { name: ENVOY_EXTENSION_NAME.httpLocalRateLimit, typed_config: localRateLimit(stat, requestRate, on, origin, problems) };
}

/** Envoy's LocalRateLimit for one rate, as the filter's config or a route's own (typed_per_filter_config). */
function localRateLimit(stat: string, requestRate: Rate, on: LocalHttp['onRateLimit'], origin: string, problems: string[]): Draft {
  let status: Draft | undefined;
  if (on?.status !== undefined) {
    if (!envoyKnowsStatus(on.status)) problems.push(`${origin}: Envoy cannot answer a rate-limited request with status ${on.status}: it answers 429`);
    else {
      if (on.status < 400) problems.push(`${origin}: Envoy answers 429 instead of ${on.status} (a rate-limited request gets an error status)`);
      status = { code: on.status };
    }
  }
  const headers = headerValueOptions(on?.headers);
  if (headers.length > MAX_RESPONSE_HEADERS) {
    problems.push(`${origin}: Envoy adds at most ${MAX_RESPONSE_HEADERS} headers to a rate-limited response: ${headers.slice(MAX_RESPONSE_HEADERS).map((h) => h.header.key).join(', ')} left out`);
  }
  return lazyTyped(ENVOY_TYPE.httpLocalRateLimit, {
    stat_prefix: stat,
    ...(status ? { status } : {}),
    token_bucket: tokenBucket(requestRate),
    filter_enabled: ALWAYS('local_rate_limit_enabled'),
    filter_enforced: ALWAYS('local_rate_limit_enforced'),
    ...(headers.length > 0 ? { response_headers_to_add: headers.slice(0, MAX_RESPONSE_HEADERS) } : {}),
  }) as Draft;
}

function tcpFilter(stat: string, connectionRate: Rate): Draft {
  return {
    name: ENVOY_EXTENSION_NAME.networkLocalRateLimit,
    typed_config: lazyTyped(ENVOY_TYPE.networkLocalRateLimit, { stat_prefix: stat, token_bucket: tokenBucket(connectionRate) }),
  };
}

function applyInbound(ib: InboundDraft, rule: Rule<Conf>, problems: string[]): void {
  const { http, tcp } = rule.conf.local;
  const origin = `MeshRateLimit ${rule.origins.join(', ')}`;
  // `disabled`, or a section without a rate (only onRateLimit), limits nothing: Kuma adds no filter.
  // An http section on a tcp inbound is left alone without a problem, as in Kuma: a mesh-wide policy
  // with both sections is the common case, and its tcp section still applies there.
  if (http && !http.disabled && http.requestRate && ib.http) {
    const router = ib.http.httpFilters.length - 1;
    ib.http.httpFilters.splice(router, 0, httpFilter(statPrefix(ib.localClusterName), http.requestRate, http.onRateLimit, origin, problems));
  }
  if (tcp && !tcp.disabled && tcp.connectionRate) {
    // Kuma prepends its filter, then MeshTrafficPermission prepends RBAC: a denied client is turned
    // away before it can take the connections of allowed ones. Applies to HTTP inbounds too (Kuma's
    // ConfigureFilterChain adds it to any filter chain).
    const afterRbac = ib.filters.findIndex((f) => f['name'] !== ENVOY_EXTENSION_NAME.networkRbac);
    ib.filters.splice(afterRbac, 0, tcpFilter(statPrefix(ib.localClusterName), tcp.connectionRate));
  }
}

/**
 * MeshRateLimit on a sidecar (Kuma's meshratelimit plugin): local limits on each inbound, from the
 * conf its `from` rules give any client (Kuma computes it for MeshSubset(): `from` takes only Mesh, so
 * there are no per-client limits). `local.http` → an HTTP local rate limit filter before the router
 * (HTTP inbounds only); `local.tcp` → a network local rate limit filter on new connections.
 */
export const meshRateLimitPlugin: PolicyPlugin<'MeshRateLimit'> = {
  kind: 'MeshRateLimit',
  applySidecar(draft, rules, ctx) {
    if (!rules) return;
    for (const ib of draft.inbounds) {
      const rule = computeForAnyClient(rules.from[ib.rulesKey]);
      if (rule) applyInbound(ib, rule, ctx.problems);
    }
    // `to` (on a MeshGateway or a MeshHTTPRoute) limits a route's traffic: not applied to a sidecar's routes yet.
    const routed = [...new Set(rules.to.flatMap((r) => r.origins))];
    if (routed.length > 0) ctx.problems.push(`MeshRateLimit ${routed.join(', ')}: a \`to\` rate limit (per route) is not applied on sidecars yet; only \`from\` is`);
  },
  /**
   * A builtin gateway: each listener's limits from the conf for all it forwards (`to`, what a policy
   * on the MeshGateway gives), else from its `from` conf for any client (Kuma 2.7 reads `from` there);
   * `local.http` → the HTTP local rate limit filter before the router, `local.tcp` → a network filter
   * on new connections (on every listener, as Kuma's ConfigureFilterChain). A route whose own `to`
   * conf differs (a policy on the MeshHTTPRoute it comes from) gets its own limit as the filter's
   * per-route config, as Kuma configures routes; the filter is then added without a bucket of its own
   * where the listener has none, so it limits only those routes.
   */
  applyGateway(draft, rules, ctx) {
    if (!rules) return;
    for (const l of draft.listeners) {
      const common = listenerToConf(rules, l) ?? listenerFromConf(rules, l);
      const stat = statPrefix(l.name);
      if (common) applyGatewayListener(l, stat, common.conf as Conf, `MeshRateLimit ${common.origins.join(', ')}`, ctx.problems);
      for (const { vh, route } of listenerRoutes(l)) {
        const own = routeToConf(rules, l, vh, route);
        const http = own?.conf.local.http;
        if (!own || JSON.stringify(own.conf) === JSON.stringify(common?.conf) || !http || http.disabled || !http.requestRate) continue;
        const filters = l.http!.httpFilters;
        if (!filters.some((f) => f['name'] === ENVOY_EXTENSION_NAME.httpLocalRateLimit)) {
          filters.splice(filters.length - 1, 0, { name: ENVOY_EXTENSION_NAME.httpLocalRateLimit, typed_config: lazyTyped(ENVOY_TYPE.httpLocalRateLimit, { stat_prefix: stat }) });
        }
        const perFilter = ((route.route['typed_per_filter_config'] ??= {}) as Draft);
        perFilter[ENVOY_EXTENSION_NAME.httpLocalRateLimit] = localRateLimit(stat, http.requestRate, http.onRateLimit, `MeshRateLimit ${own.origins.join(', ')}`, ctx.problems);
      }
    }
  },
};

function applyGatewayListener(l: GatewayListenerDraft, stat: string, conf: Conf, origin: string, problems: string[]): void {
  const { http, tcp } = conf.local;
  if (http && !http.disabled && http.requestRate && l.http) {
    l.http.httpFilters.splice(l.http.httpFilters.length - 1, 0, httpFilter(stat, http.requestRate, http.onRateLimit, origin, problems));
  }
  if (tcp && !tcp.disabled && tcp.connectionRate) l.filters.unshift(tcpFilter(stat, tcp.connectionRate));
}
