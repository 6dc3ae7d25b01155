import { durationToMs, ENVOY_EXTENSION_NAME, ENVOY_TYPE, SERVICE_TAG, spiffeId } from '@meshfed/shared';
import { type Draft, lazyTyped } from '../generate/envoy-parts.js';
import { envoyDuration, escapeRegex, fractionalPercent } from './envoy-values.js';
import type { FromConf, Rule, Subset, Tag } from '../rules/index.js';
import { listenerToConf } from './gateway-confs.js';
import type { InboundDraft, PolicyPlugin } from './types.js';

type Conf = FromConf<'MeshFaultInjection'>;
type Fault = NonNullable<Conf['http']>[number];

const BANDWIDTH_KBPS: Record<string, number> = { kbps: 1, Mbps: 1000, Gbps: 1_000_000 };

/**
 * One `http[]` entry as Envoy's HTTPFault (Kuma's configurer: abort → http_status, delay →
 * fixed_delay, responseBandwidth → fixed_limit in kbps, each with its percentage). Values the
 * schema allows but Envoy's validation rejects are left out with a problem; an entry left empty
 * gives no filter.
 */
export function faultConfig(fault: Fault, origin: string, problems: string[]): Draft | undefined {
  const out: Draft = {};
  if (fault.delay) {
    if (durationToMs(fault.delay.value) > 0) out['delay'] = { fixed_delay: envoyDuration(fault.delay.value), percentage: fractionalPercent(fault.delay.percentage) };
    else problems.push(`${origin}: a delay must be longer than 0: not injected`);
  }
  if (fault.abort) {
    // fault.proto: http_status must be in 200-599.
    if (fault.abort.httpStatus >= 200) out['abort'] = { http_status: fault.abort.httpStatus, percentage: fractionalPercent(fault.abort.percentage) };
    else problems.push(`${origin}: Envoy aborts only with a status in 200-599, not ${fault.abort.httpStatus}: not injected`);
  }
  if (fault.responseBandwidth) {
    const [, n, unit] = /^(\d+)(\w+)$/.exec(fault.responseBandwidth.limit)!;
    const kbps = Number(n) * BANDWIDTH_KBPS[unit!]!;
    if (kbps >= 1 && kbps <= Number.MAX_SAFE_INTEGER) out['response_rate_limit'] = { fixed_limit: { limit_kbps: kbps }, percentage: fractionalPercent(fault.responseBandwidth.percentage) };
    else if (kbps < 1) problems.push(`${origin}: a response bandwidth must be at least 1kbps: not limited`);
    else problems.push(`${origin}: a response bandwidth of ${fault.responseBandwidth.limit} is beyond what Envoy can hold: not limited`);
  }
  return Object.keys(out).length > 0 ? out : undefined;
}

/**
 * "The client's certificate names this tag": the peer certificate's URI SANs, which Envoy gives
 * comma-separated, include the tag's (the SPIFFE id for the service, `kuma://<tag>/<value>`
 * otherwise, as in the RBAC principals of MeshTrafficPermission).
 */
function sanPredicate(mesh: string, tag: Tag): Draft {
  const uri = tag.key === SERVICE_TAG ? spiffeId(mesh, tag.value) : `kuma://${tag.key}/${tag.value}`;
  const has = {
    single_predicate: {
      input: { name: ENVOY_EXTENSION_NAME.uriSanInput, typed_config: lazyTyped(ENVOY_TYPE.uriSanInput, {}) },
      value_match: { safe_regex: { google_re2: {}, regex: `(.*,)?${escapeRegex(uri)}(,.*)?` } },
    },
  };
  return tag.not ? { not_matcher: has } : has;
}

/**
 * A fault filter for the clients of `subset` only. Kuma 2.7 matched the `x-kuma-tags` header its
 * outbounds add, which meshfed does not send (and any client could forge); current Kuma wraps the
 * filter in a matcher on the peer certificate's URI SAN that skips it for other clients, which is
 * what this does. Without a client certificate no SAN matches.
 */
function forClients(mesh: string, subset: Subset, fault: Draft): Draft {
  const tags = subset.map((t) => sanPredicate(mesh, t));
  const isClient: Draft = tags.length === 1 ? tags[0]! : { and_matcher: { predicate: tags } };
  const isOther = (isClient['not_matcher'] as Draft | undefined) ?? { not_matcher: isClient };
  return {
    name: ENVOY_EXTENSION_NAME.httpFault,
    typed_config: lazyTyped(ENVOY_TYPE.extensionWithMatcher, {
      xds_matcher: {
        matcher_list: {
          matchers: [{
            predicate: isOther,
            on_match: { action: { name: ENVOY_EXTENSION_NAME.skipFilter, typed_config: lazyTyped(ENVOY_TYPE.skipFilter, {}) } },
          }],
        },
      },
      extension_config: { name: ENVOY_EXTENSION_NAME.httpFault, typed_config: lazyTyped(ENVOY_TYPE.httpFault, fault) },
    }),
  };
}

const originsOf = (rules: readonly Rule<Conf>[]): string => [...new Set(rules.flatMap((r) => r.origins))].sort().join(', ');

function applyInbound(mesh: string, mtls: boolean, ib: InboundDraft, rules: readonly Rule<Conf>[], problems: string[]): void {
  const faulty = rules.filter((r) => (r.conf.http ?? []).length > 0);
  if (faulty.length === 0) return;
  if (!ib.http) {
    problems.push(`MeshFaultInjection ${originsOf(faulty)}: faults are injected into HTTP requests only, and inbound ${ib.port} (${ib.service}) speaks ${ib.protocol}: not injected`);
    return;
  }
  const named = faulty.filter((r) => r.subset.length > 0);
  if (named.length > 0 && !mtls) {
    problems.push(`MeshFaultInjection ${originsOf(named)}: without mesh mTLS clients have no identity: faults for the clients named are never injected, faults for the clients not named are injected for every client`);
  }
  const tagged = named.filter((r) => r.subset.some((t) => t.key !== SERVICE_TAG));
  if (tagged.length > 0 && mtls) {
    problems.push(`MeshFaultInjection ${originsOf(tagged)}: clients selected by tags other than ${SERVICE_TAG} are matched by kuma:// URI SANs, which this mesh's certificates do not carry: faults for clients with those tags are never injected, faults for clients without them are injected for every client`);
  }
  const filters: Draft[] = [];
  // Kuma: one filter per rule and entry, rules most specific first. Envoy runs every fault filter
  // whose clients match, so a request can get the faults of several entries.
  for (const rule of faulty) {
    const origin = `MeshFaultInjection ${rule.origins.join(', ')}`;
    for (const fault of rule.conf.http ?? []) {
      const config = faultConfig(fault, origin, problems);
      if (!config) continue;
      filters.push(rule.subset.length === 0 ? { name: ENVOY_EXTENSION_NAME.httpFault, typed_config: lazyTyped(ENVOY_TYPE.httpFault, config) } : forClients(mesh, rule.subset, config));
    }
  }
  insertFaults(ib.http.httpFilters, filters);
}

/**
 * Kuma adds fault filters before the rate limit filter (its fault plugin runs first): a request
 * aborted by a fault takes no token from the limit.
 */
function insertFaults(httpFilters: Draft[], faults: readonly Draft[]): void {
  const rateLimit = httpFilters.findIndex((f) => f['name'] === ENVOY_EXTENSION_NAME.httpLocalRateLimit);
  httpFilters.splice(rateLimit >= 0 ? rateLimit : httpFilters.length - 1, 0, ...faults);
}

/**
 * MeshFaultInjection on a sidecar (Kuma's meshfaultinjection plugin): each inbound that speaks HTTP
 * (http, http2, grpc: Kuma added grpc in 2.10) gets fault filters from its `from` rules, those of a
 * rule naming clients applied to those clients only. A tcp inbound cannot carry HTTP faults: a problem.
 */
export const meshFaultInjectionPlugin: PolicyPlugin<'MeshFaultInjection'> = {
  kind: 'MeshFaultInjection',
  applySidecar(draft, rules, ctx) {
    if (!rules) return;
    for (const ib of draft.inbounds) {
      const from = rules.from[ib.rulesKey];
      if (from) applyInbound(draft.mesh.name, draft.mtls, ib, from, ctx.problems);
    }
  },
  /**
   * A builtin gateway (Kuma's applyToGateways): each HTTP listener gets the faults of the `to` conf
   * for all it forwards (a policy on the MeshGateway takes `to: Mesh` only), for every request; a
   * TCP listener cannot carry HTTP faults: a problem. `from` sections (of mesh-wide policies) stay
   * with the sidecars' inbounds, as in Kuma: a gateway has none.
   */
  applyGateway(draft, rules, ctx) {
    if (!rules) return;
    for (const l of draft.listeners) {
      const computed = listenerToConf(rules, l);
      const faults = computed?.conf.http ?? [];
      if (!computed || faults.length === 0) continue;
      const origin = `MeshFaultInjection ${computed.origins.join(', ')}`;
      if (!l.http) {
        ctx.problems.push(`${origin}: faults are injected into HTTP requests only, and gateway listener ${l.name} is ${l.protocol}: not injected`);
        continue;
      }
      const filters = faults.map((f) => faultConfig(f, origin, ctx.problems)).filter((c) => c !== undefined).map((c) => ({ name: ENVOY_EXTENSION_NAME.httpFault, typed_config: lazyTyped(ENVOY_TYPE.httpFault, c) }));
      insertFaults(l.http.httpFilters, filters);
    }
  },
};
