/**
 * A MeshGatewayRoute rule as the MeshHTTPRoute rule it means, so that both are built into Envoy
 * routes by one function (plugins/mesh-http-route.ts envoyRoute), as Kuma builds both into one gateway
 * route table (pkg/plugins/runtime/gateway/route). What Envoy would refuse, or Kuma leaves out, is left
 * out here with a problem naming the field.
 */
import type { Filter } from '../../plugins/mesh-http-route.js';
import type { HTTPRouteRule } from '../../rules/index.js';
import type { BackendRef } from '../../plugins/backend-refs.js';
import { type GatewayRouteEntry, isWhole, SERVICE_TAG, subsetTags } from '../zone-index.js';

type GatewayHttpRule = NonNullable<GatewayRouteEntry['spec']['conf']['http']>['rules'][number];
type GatewayMatch = GatewayHttpRule['matches'][number];
type Backend = NonNullable<GatewayHttpRule['backends']>[number];
type Match = HTTPRouteRule['matches'][number];
type GatewayFilter = NonNullable<GatewayHttpRule['filters']>[number];
type HeaderOps = NonNullable<GatewayFilter['requestHeader']>;

/** A MeshGatewayRoute match as MeshHTTPRoute's: the same Envoy RouteMatch and the same precedence. */
export function asHttpRouteMatch(m: GatewayMatch): Match {
  const pathType = { EXACT: 'Exact', PREFIX: 'PathPrefix', REGEX: 'RegularExpression' } as const;
  const headerType = { EXACT: 'Exact', REGEX: 'RegularExpression', ABSENT: 'Absent', PRESENT: 'Present' } as const;
  return {
    ...(m.path ? { path: { type: pathType[m.path.match], value: m.path.value } } : {}),
    ...(m.method ? { method: m.method } : {}),
    ...(m.headers?.length ? { headers: m.headers.map((h) => ({ name: h.name, type: headerType[h.match], ...(h.value !== undefined ? { value: h.value } : {}) })) } : {}),
    ...(m.queryParameters?.length ? { queryParams: m.queryParameters.map((q) => ({ name: q.name, type: q.match === 'REGEX' ? 'RegularExpression' : 'Exact', value: q.value })) } : {}),
  } as Match;
}

export const backendRef = (b: Backend): BackendRef => {
  const service = b.destination[SERVICE_TAG]!;
  const subset = subsetTags(b.destination);
  return { kind: isWhole(subset) ? 'MeshService' : 'MeshServiceSubset', name: service, tags: b.destination, ...(b.weight !== undefined ? { weight: b.weight } : {}) };
};

/** Kuma's RouteReplaceHostHeader: setting one of these rewrites the forwarded request's host instead. */
const HOST_HEADERS = new Set(['host', ':authority']);

/**
 * Header operations Envoy takes in request/response_headers_to_add and _to_remove: it refuses
 * pseudo-headers (`:path`…) and the host header there (the listener would be NACKed), so those are
 * left out. A request's `set` of the host is returned apart: it becomes a host rewrite.
 */
function headerOps(ops: HeaderOps, request: boolean, where: string, problems: string[]): { mods?: HeaderOps; host?: string } {
  let host: string | undefined;
  const refused = (name: string) => name.startsWith(':') || name.toLowerCase() === 'host';
  const keep = <T extends { name: string }>(list: readonly T[] | undefined, field: string): T[] => (list ?? []).filter((h) => {
    if (request && field === 'set' && HOST_HEADERS.has(h.name.toLowerCase())) {
      host = (h as unknown as { value: string }).value;
      return false;
    }
    if (!refused(h.name)) return true;
    problems.push(`${where}.${field}: Envoy does not let a route ${field} the ${h.name} header${request && HOST_HEADERS.has(h.name.toLowerCase()) ? ' (`set` rewrites it)' : ''}; it is left out`);
    return false;
  });
  const set = keep(ops.set, 'set');
  const add = keep(ops.add, 'add');
  const remove = keep((ops.remove ?? []).map((name) => ({ name })), 'remove').map((h) => h.name);
  const mods = { ...(set.length ? { set } : {}), ...(add.length ? { add } : {}), ...(remove.length ? { remove } : {}) };
  return { ...(Object.keys(mods).length ? { mods } : {}), ...(host !== undefined ? { host } : {}) };
}

/**
 * Kuma appends `/` to both a prefix match and its replacement (both match whole segments); with
 * Envoy's path_separated_prefix the same is a replacement without its trailing `/`.
 */
const segmentPrefix = (p: string): string => p.replace(/\/+$/, '') || '/';

/**
 * A MeshGatewayRoute rule as a MeshHTTPRoute rule: matches as they are read by asHttpRouteMatch (the
 * caller keeps the gateway's own), backends as backendRefs, filters in their order as MeshHTTPRoute's.
 * As Kuma's gateway: a rule with backends forwards (its redirect is ignored); the rewrite filters
 * merge into one (the last value of each field wins; Envoy takes one path rewrite); a mirror of 0%
 * mirrors nothing.
 */
export function gatewayRuleAsHttpRule(rule: GatewayHttpRule, where: string, problems: string[]): HTTPRouteRule {
  const forwards = (rule.backends ?? []).length > 0;
  const filters: Filter[] = [];
  const rewrite: { replaceFull?: string; replacePrefixMatch?: string; hostToBackendHostname?: boolean; hostname?: string } = {};
  let rewriteAt = -1;
  (rule.filters ?? []).forEach((f, i) => {
    const at = `${where}.filters[${i}]`;
    if (f.requestHeader || f.responseHeader) {
      const request = f.requestHeader !== undefined;
      const { mods, host } = headerOps((f.requestHeader ?? f.responseHeader)!, request, `${at}.${request ? 'requestHeader' : 'responseHeader'}`, problems);
      if (host !== undefined) {
        if (forwards) {
          rewrite.hostname = host;
          delete rewrite.hostToBackendHostname;
          if (rewriteAt < 0) rewriteAt = filters.length;
        } else problems.push(`${at}.requestHeader.set: a redirect is not forwarded, so its host is not rewritten`);
      }
      if (mods) {
        filters.push(request
          ? ({ type: 'RequestHeaderModifier', requestHeaderModifier: mods } as Filter)
          : ({ type: 'ResponseHeaderModifier', responseHeaderModifier: mods } as Filter));
      }
    } else if (f.redirect) {
      if (forwards) {
        problems.push(`${at}.redirect: the rule has backends, so it forwards to them (as Kuma does) and the redirect is ignored`);
        return;
      }
      filters.push({ type: 'RequestRedirect', requestRedirect: { scheme: f.redirect.scheme, hostname: f.redirect.hostname, ...(f.redirect.port !== undefined ? { port: f.redirect.port } : {}), ...(f.redirect.statusCode !== undefined ? { statusCode: f.redirect.statusCode } : {}) } } as Filter);
    } else if (f.rewrite) {
      if (!forwards) {
        problems.push(`${at}.rewrite: the rule redirects (it has no backends), and a redirect is not forwarded; the rewrite is ignored`);
        return;
      }
      const { replaceFull, replacePrefixMatch, hostToBackendHostname } = f.rewrite;
      if (replaceFull !== undefined && replacePrefixMatch !== undefined) {
        problems.push(`${at}.rewrite: replaceFull and replacePrefixMatch are both set; replaceFull is used (Envoy takes one path rewrite)`);
      }
      if (replaceFull !== undefined) {
        rewrite.replaceFull = replaceFull;
        delete rewrite.replacePrefixMatch;
      } else if (replacePrefixMatch !== undefined) {
        const regex = rule.matches.findIndex((m) => m.path?.match === 'REGEX');
        if (regex >= 0) {
          problems.push(`${at}.rewrite.replacePrefixMatch: matches[${regex}] is a REGEX path, which has no prefix to replace; the path is not rewritten`);
        } else {
          rewrite.replacePrefixMatch = segmentPrefix(replacePrefixMatch);
          delete rewrite.replaceFull;
        }
      }
      if (hostToBackendHostname) {
        rewrite.hostToBackendHostname = true;
        delete rewrite.hostname;
      }
      if (rewriteAt < 0) rewriteAt = filters.length;
    } else if (f.mirror) {
      if (!forwards) {
        problems.push(`${at}.mirror: the rule redirects (it has no backends), and a redirect is not forwarded; the mirror is ignored`);
        return;
      }
      if (f.mirror.percentage === 0) return;
      filters.push({
        type: 'RequestMirror',
        requestMirror: { backendRef: backendRef(f.mirror.backend), ...(f.mirror.percentage !== undefined ? { percentage: f.mirror.percentage } : {}) },
      } as Filter);
    }
  });
  if (rewriteAt >= 0) {
    const path = rewrite.replaceFull !== undefined
      ? { type: 'ReplaceFullPath', replaceFullPath: rewrite.replaceFull }
      : rewrite.replacePrefixMatch !== undefined ? { type: 'ReplacePrefixMatch', replacePrefixMatch: rewrite.replacePrefixMatch } : undefined;
    const urlRewrite = { ...(rewrite.hostname !== undefined ? { hostname: rewrite.hostname } : {}), ...(path ? { path } : {}), ...(rewrite.hostToBackendHostname ? { hostToBackendHostname: true } : {}) };
    if (Object.keys(urlRewrite).length > 0) filters.splice(rewriteAt, 0, { type: 'URLRewrite', urlRewrite } as Filter);
  }
  return {
    matches: rule.matches.map(asHttpRouteMatch),
    default: { ...(filters.length ? { filters } : {}), ...(forwards ? { backendRefs: (rule.backends ?? []).map(backendRef) } : {}) },
  } as unknown as HTTPRouteRule;
}
