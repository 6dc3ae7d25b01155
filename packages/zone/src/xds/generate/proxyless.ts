import {
  type Any, ENVOY_EXTENSION_NAME, ENVOY_TYPE, grpcServerListenerName, PROXYLESS_CERT_PROVIDER, SERVICE_TAG, XDS_TYPE_URL,
} from '@meshfed/shared';
import { ADS_CONFIG_SOURCE, type Draft, encodeEnvoy, lazyTyped, loadAssignment, socketAddress, statPrefix } from './envoy-parts.js';
import { dep, endpointsKey, fastHash, type GeneratedProxy, type GenerationContext } from './context.js';
import { inboundRulesKey } from './matching.js';
import { identityOf, planDataplane } from './sidecar.js';
import { type LocalDataplane, type MeshIndex, proxylessServices } from './zone-index.js';
import { escapeRegex } from '../plugins/envoy-values.js';
import { faultConfig } from '../plugins/mesh-fault-injection.js';
import { isSubset } from '../rules/index.js';
import type { InboundDraft, OutboundDraft } from '../plugins/types.js';

/**
 * A proxyless gRPC app's configuration (grpc-js-xds, gRPC's xDS A27-A41), from the same draft and
 * policy plugins as an Envoy sidecar's, re-encoded into what gRPC accepts and nothing it would refuse:
 *
 * - per service of the mesh, a client Listener named by the service (what `xds:///<service>` asks
 *   for) whose api_listener carries the HTTP connection manager with its routes inline (a change then
 *   travels in one LDS push; its name carries a hash of the routes, because grpc-js-xds does not see a
 *   change that only adds fields); fault filters, then the router;
 * - EDS clusters (round robin or ring hash), with mesh mTLS through the certificate provider the
 *   agent's bootstrap declares (A29) instead of SDS, and this zone's instances only;
 * - per inbound, the Listener an XdsServer bound to it asks for, with mesh mTLS and the RBAC filter of
 *   MeshTrafficPermission (A41), its route answered by the server itself (non_forwarding_action).
 *
 * What gRPC cannot do is left out and said in the proxy's problems, never sent to be refused.
 */
export function generateProxyless(ctx: GenerationContext, dp: LocalDataplane): GeneratedProxy {
  const mesh = ctx.index.meshes.get(dp.mesh);
  if (!mesh) return { resources: undefined, deps: [dep.mesh(dp.mesh)], problems: [`mesh "${dp.mesh}" does not exist in this zone (yet)`] };
  const identity = identityOf(dp);
  const { services } = proxylessServices(mesh);
  const { deps, problems, planned } = planDataplane(ctx, mesh, dp, identity, ctx.rules.get(ctx.index, dp), {
    protocol: 'grpc',
    outbounds: services.map((service) => ({ port: 0, tags: { [SERVICE_TAG]: service } })),
  });
  // Which services exist (the client listeners); the destinations' rules are added with their faults.
  deps.push(dep.meshServices(dp.mesh));
  if (!planned) return { resources: undefined, deps, problems };
  const { draft } = planned;
  const said = new Unsupported();
  const mtls = draft.mtls;
  const caller = identity?.split(' ')[0];

  const listeners = new Map<string, Any>();
  const clusters = new Map<string, Any>();
  const endpoints = new Map<string, Any>();
  const addCluster = (c: Draft) => {
    const name = c['name'] as string;
    if (clusters.has(name)) return;
    const converted = grpcCluster(c, mtls ? tlsPeerOf(c) : undefined, said);
    if (!converted) return;
    clusters.set(name, ctx.memo.encode(XDS_TYPE_URL.cluster, converted.cluster));
    const local = (planned.endpointLists.get(converted.edsName) ?? []).filter((e) => e.zone === ctx.index.zone && e.subZone === undefined);
    const remote = (planned.endpointLists.get(converted.edsName) ?? []).filter((e) => e.zone !== ctx.index.zone);
    if (remote.length > 0) {
      const zones = [...new Set(remote.map((e) => e.zone))].sort().join(', ');
      said.say(name, `the instances in ${zones} are out of reach: zone ingresses route by the mTLS SNI <service>{mesh=${dp.mesh}}, and grpc-js sends the dialled target's host (<service>) as SNI; only ${ctx.index.zone}'s instances are used`);
    }
    // Keyed by what it is made of, as a sidecar's: every client of the service shares one encoding,
    // found by a cheap hash instead of hashing the assignment per client.
    const claVersion = `${fastHash(endpointsKey(local))}|${ctx.index.zone}`;
    endpoints.set(converted.edsName, ctx.memo.get(`proxyless-cla:${dp.mesh}:${converted.edsName}`, claVersion, () =>
      encodeEnvoy(XDS_TYPE_URL.endpoint, loadAssignment(converted.edsName, local, ctx.index.zone, false))));
  };
  for (const ob of draft.outbounds) {
    const faults = caller === undefined ? [] : clientFaultFilters(ctx, mesh, ob.service, caller, problems, deps);
    const listener = clientListener(ob, faults, said);
    if (listener) listeners.set(ob.service, ctx.memo.encode(XDS_TYPE_URL.listener, listener));
    for (const c of ob.clusters) addCluster(c);
  }
  for (const c of draft.otherClusters) addCluster(c);

  const n = dp.spec.networking;
  (n.inbound ?? []).forEach((ib, i) => {
    const drafted = draft.inbounds[i]!;
    const address = ib.address ?? n.address;
    // The XdsServer asks by its exact bind string: the dataplane's address, or every interface.
    for (const host of new Set([address, '0.0.0.0'])) {
      const name = grpcServerListenerName(host, ib.port);
      listeners.set(name, ctx.memo.encode(XDS_TYPE_URL.listener, serverListener(name, host, ib.port, drafted, mtls, dp.mesh, said)));
    }
  });
  return {
    resources: { listener: listeners, cluster: clusters, endpoint: endpoints, secret: planned.secrets },
    deps, problems: [...new Set([...problems, ...said.lines()])],
  };
}

const ROUTER: Draft = { name: ENVOY_EXTENSION_NAME.router, typed_config: lazyTyped(ENVOY_TYPE.router, {}) };

/**
 * What gRPC cannot do, said once per kind: the subjects (xds:///<service>, a cluster, an inbound) that
 * share a message are listed together, so a mesh-wide policy is one line, not one per service.
 */
class Unsupported {
  readonly #bySaying = new Map<string, string[]>();

  say(subject: string, message: string): void {
    const subjects = this.#bySaying.get(message);
    if (!subjects) this.#bySaying.set(message, [subject]);
    else if (!subjects.includes(subject)) subjects.push(subject);
  }

  lines(): string[] {
    return [...this.#bySaying].map(([message, subjects]) => `${subjects.join(', ')}: ${message}`);
  }
}

/** A certificate from the provider the agent's bootstrap declares (A29): gRPC takes no SDS. */
const PROVIDER = { instance_name: PROXYLESS_CERT_PROVIDER, certificate_name: 'default' };

function clientListener(ob: OutboundDraft, faults: readonly Draft[], said: Unsupported): Draft | undefined {
  if (!ob.http) return undefined;
  const where = `xds:///${ob.service}`;
  const routes = ob.http.routes.map((r) => grpcRoute(r, where, said)).filter((r): r is Draft => r !== undefined);
  const dropped = ob.http.httpFilters.filter((f) => f['name'] !== ENVOY_EXTENSION_NAME.router);
  for (const f of dropped) said.say(where, `the ${String(f['name'])} filter has no gRPC client equivalent: not applied`);
  const virtualHosts = [{ name: ob.service, domains: ['*'], routes }];
  const http_filters = [...faults, ROUTER];
  return {
    name: ob.service,
    api_listener: {
      api_listener: lazyTyped(ENVOY_TYPE.httpConnectionManager, {
        stat_prefix: statPrefix(`outbound:${ob.service}`),
        route_config: { name: `outbound:${ob.service}:${fastHash(JSON.stringify([virtualHosts, http_filters]))}`, virtual_hosts: virtualHosts },
        http_filters,
      }),
    },
  };
}

/** The header matchers gRPC evaluates (anything else is refused, the route with it). */
const GRPC_HEADER_MATCHERS = ['exact_match', 'safe_regex_match', 'range_match', 'present_match', 'prefix_match', 'suffix_match', 'string_match'];
/** The status names gRPC retries on (A44); others in retry_on are ignored by gRPC, said here. */
const GRPC_RETRY_ON = new Set(['cancelled', 'deadline-exceeded', 'internal', 'resource-exhausted', 'unavailable']);
/**
 * Envoy's transport conditions (in the mesh's default MeshRetry): gRPC covers them without being told
 * (a stream that never reached a server is retried transparently, A6; 502-504 arrive as UNAVAILABLE),
 * so they are dropped without a word.
 */
const GRPC_COVERS = new Set(['connect-failure', 'refused-stream', 'reset', 'gateway-error']);

/** Header changes, rewrites and mirrors a sidecar's route may carry: a gRPC client has none of them. */
const ROUTE_FIELDS_GRPC_IGNORES = ['request_headers_to_add', 'request_headers_to_remove', 'response_headers_to_add', 'response_headers_to_remove'];
const ACTION_FIELDS_GRPC_IGNORES = ['prefix_rewrite', 'regex_rewrite', 'host_rewrite_literal', 'auto_host_rewrite', 'host_rewrite_header', 'host_rewrite_path_regex', 'request_mirror_policies'];

/** A sidecar route as gRPC routes calls: match, cluster or weighted clusters, deadline, retries, header hashing. */
function grpcRoute(route: Draft, where: string, said: Unsupported): Draft | undefined {
  const match = { ...(route['match'] as Draft) };
  // gRPC knows prefix, path and safe_regex only (it would NACK the whole Listener): a PathPrefix is the
  // path itself or it followed by `/…`, which a full-match regex says (gRPC anchors it).
  const separated = match['path_separated_prefix'];
  if (typeof separated === 'string') {
    delete match['path_separated_prefix'];
    match['safe_regex'] = { regex: `${escapeRegex(separated)}(/.*)?` };
  }
  if (match['query_parameters'] !== undefined) {
    said.say(where, `a match on query parameters never holds for a gRPC call: the route is left out`);
    return undefined;
  }
  const headers = (match['headers'] as Draft[] | undefined) ?? [];
  const unsupported = headers.filter((h) => !GRPC_HEADER_MATCHERS.some((k) => h[k] !== undefined));
  if (unsupported.length > 0) {
    said.say(where, `header matches on ${unsupported.map((h) => String(h['name'])).join(', ')} cannot be evaluated by gRPC: the route is left out`);
    return undefined;
  }
  const action = route['route'] as Draft | undefined;
  if (!action) {
    said.say(where, `a ${route['redirect'] ? 'redirect' : route['direct_response'] ? 'direct response' : 'route without a cluster'} cannot be served to a gRPC client: the route is left out`);
    return undefined;
  }
  const out: Draft = {};
  if (action['cluster'] !== undefined) out['cluster'] = action['cluster'];
  else if (action['weighted_clusters'] !== undefined) {
    const clusters = ((action['weighted_clusters'] as Draft)['clusters'] as Draft[]).map((c) => ({ name: c['name'], weight: c['weight'] }));
    out['weighted_clusters'] = { clusters };
  } else {
    said.say(where, `the route has neither a cluster nor weighted clusters: left out`);
    return undefined;
  }
  // gRPC's deadline is max_stream_duration; it ignores the route timeout Envoy applies.
  const stream = action['max_stream_duration'] as Draft | undefined;
  const timeout = action['timeout'] as { seconds?: number; nanos?: number } | undefined;
  if (stream?.['max_stream_duration'] !== undefined) out['max_stream_duration'] = { max_stream_duration: stream['max_stream_duration'] };
  else if (timeout && ((timeout.seconds ?? 0) > 0 || (timeout.nanos ?? 0) > 0)) out['max_stream_duration'] = { max_stream_duration: timeout };
  const retry = action['retry_policy'] as Draft | undefined;
  if (retry) {
    const on = String(retry['retry_on'] ?? '').split(',').map((s) => s.trim()).filter((s) => s !== '');
    const kept = on.filter((s) => GRPC_RETRY_ON.has(s));
    const notGrpc = on.filter((s) => !GRPC_RETRY_ON.has(s) && !GRPC_COVERS.has(s));
    if (notGrpc.length > 0) said.say(where, `gRPC retries on status codes only; ${notGrpc.join(', ')} ignored`);
    if (kept.length > 0) {
      out['retry_policy'] = {
        retry_on: kept.join(','),
        ...(retry['num_retries'] !== undefined ? { num_retries: retry['num_retries'] } : {}),
        ...((retry['retry_back_off'] as Draft | undefined)?.['base_interval'] !== undefined ? { retry_back_off: retry['retry_back_off'] } : {}),
      };
    }
  }
  // What the route does beyond choosing a cluster gRPC does not do: said, never sent.
  const ignored = [
    ...ROUTE_FIELDS_GRPC_IGNORES.filter((k) => route[k] !== undefined),
    ...ACTION_FIELDS_GRPC_IGNORES.filter((k) => action[k] !== undefined),
  ];
  if (ignored.length > 0) said.say(where, `gRPC does not apply ${ignored.join(', ')}: the route is served without them`);
  const hashes = (action['hash_policy'] as Draft[] | undefined) ?? [];
  const byHeader = hashes.filter((h) => h['header'] !== undefined);
  if (byHeader.length < hashes.length) said.say(where, `gRPC hashes by headers only: other hash policies ignored`);
  if (byHeader.length > 0) out['hash_policy'] = byHeader;
  return { match, route: out };
}

/** The SAN the sidecar's cluster checks its peer against (mesh mTLS), read back from its TLS context. */
function tlsPeerOf(c: Draft): string | undefined {
  const tls = (c['transport_socket'] as Draft | undefined)?.['typed_config'] as Draft | undefined;
  const common = tls?.['common_tls_context'] as Draft | undefined;
  const validation = (common?.['combined_validation_context'] as Draft | undefined)?.['default_validation_context'] as Draft | undefined;
  const sans = validation?.['match_typed_subject_alt_names'] as { matcher: { exact?: string } }[] | undefined;
  return sans?.[0]?.matcher.exact;
}

function grpcCluster(c: Draft, peer: string | undefined, said: Unsupported): { cluster: Draft; edsName: string } | undefined {
  const name = c['name'] as string;
  if (c['type'] !== 'EDS') {
    said.say(name, `an external service is dialled by its address, which a proxyless app cannot be given: not reachable from gRPC`);
    return undefined;
  }
  // Under the cluster's own name: the sidecar's locality-ordered variants (`<cluster>#<order>`) order
  // zones, and a proxyless app reaches this zone's instances only.
  const edsName = name;
  const out: Draft = { name, type: 'EDS', eds_cluster_config: { eds_config: ADS_CONFIG_SOURCE } };
  const lb = (c['lb_policy'] as string | undefined) ?? 'ROUND_ROBIN';
  if (lb === 'RING_HASH') {
    const ring = c['ring_hash_lb_config'] as Draft | undefined;
    if (ring?.['hash_function'] !== undefined && ring['hash_function'] !== 'XX_HASH') said.say(name, `gRPC hashes with xxHash only: ${String(ring['hash_function'])} ignored`);
    out['lb_policy'] = 'RING_HASH';
    if (ring) out['ring_hash_lb_config'] = { ...(ring['minimum_ring_size'] ? { minimum_ring_size: ring['minimum_ring_size'] } : {}), ...(ring['maximum_ring_size'] ? { maximum_ring_size: ring['maximum_ring_size'] } : {}) };
  } else {
    if (lb !== 'ROUND_ROBIN') said.say(name, `gRPC balances by round robin or ring hash only: ${lb} is served as ROUND_ROBIN`);
    out['lb_policy'] = 'ROUND_ROBIN';
  }
  // Never absent: grpc-js-xds 1.14 compares a cluster update with the previous one by the old value's
  // keys only, and an absent outlier_detection decodes to a config of no keys, so the update that adds
  // detection later would be taken for no change. Success rate off (it is on by default when the field
  // exists) and failure percentage off by default: the same "no ejection", with every key present.
  out['outlier_detection'] = c['outlier_detection'] ?? { enforcing_success_rate: { value: 0 } };
  const thresholds = ((c['circuit_breakers'] as Draft | undefined)?.['thresholds'] as Draft[] | undefined) ?? [];
  const maxRequests = thresholds.find((t) => t['priority'] === undefined || t['priority'] === 'DEFAULT')?.['max_requests'];
  if (maxRequests !== undefined) out['circuit_breakers'] = { thresholds: [{ max_requests: maxRequests }] };
  if (c['health_checks'] !== undefined) said.say(name, `gRPC runs no active health checks: MeshHealthCheck is not applied to a proxyless app`);
  if (peer !== undefined) {
    out['transport_socket'] = {
      name: ENVOY_EXTENSION_NAME.tlsTransportSocket,
      typed_config: lazyTyped(ENVOY_TYPE.upstreamTlsContext, {
        common_tls_context: {
          tls_certificate_provider_instance: PROVIDER,
          validation_context: { ca_certificate_provider_instance: PROVIDER, match_subject_alt_names: [{ exact: peer }] },
        },
      }),
    };
  }
  return { cluster: out, edsName };
}

/**
 * The Listener an XdsServer asks for: mesh mTLS with a client certificate from the mesh CA required,
 * MeshTrafficPermission's RBAC rules as the HTTP RBAC filter (the sidecar's network filter has the
 * same rules), and the one route gRPC servers take. PERMISSIVE is served as mTLS: gRPC cannot tell
 * TLS from plaintext on one port (its filter chains match on transport protocol `raw_buffer` only).
 */
function serverListener(name: string, host: string, port: number, ib: InboundDraft, mtls: boolean, mesh: string, said: Unsupported): Draft {
  const where = `inbound ${ib.port} (${ib.service})`;
  const rbac = ib.filters.find((f) => f['name'] === ENVOY_EXTENSION_NAME.networkRbac)?.['typed_config'] as Draft | undefined;
  for (const f of ib.http?.httpFilters ?? []) {
    const n = f['name'];
    if (n !== ENVOY_EXTENSION_NAME.router && n !== ENVOY_EXTENSION_NAME.httpFault) said.say(where, `the ${String(n)} filter has no gRPC server equivalent: not applied`);
  }
  if (ib.acceptPlaintext) said.say(where, `PERMISSIVE mTLS is served as STRICT: a gRPC server cannot take TLS and plaintext on one port`);
  const http_filters = [
    ...(rbac ? [{ name: ENVOY_EXTENSION_NAME.httpRbac, typed_config: lazyTyped(ENVOY_TYPE.httpRbac, { rules: rbac['rules'] }) }] : []),
    ROUTER,
  ];
  const chain: Draft = {
    name: `inbound:${ib.service}`,
    filters: [{
      name: ENVOY_EXTENSION_NAME.httpConnectionManager,
      typed_config: lazyTyped(ENVOY_TYPE.httpConnectionManager, {
        stat_prefix: statPrefix(`inbound:${ib.service}`),
        route_config: { name: `inbound:${ib.service}`, virtual_hosts: [{ name: ib.service, domains: ['*'], routes: [{ match: { prefix: '/' }, non_forwarding_action: {} }] }] },
        http_filters,
      }),
    }],
    ...(mtls
      ? {
        transport_socket: {
          name: ENVOY_EXTENSION_NAME.tlsTransportSocket,
          typed_config: lazyTyped(ENVOY_TYPE.downstreamTlsContext, {
            common_tls_context: {
              tls_certificate_provider_instance: PROVIDER,
              // grpc-js-xds servers accept and ignore SAN matchers: a client is admitted by the mesh CA,
              // and who may call is the RBAC filter's (MeshTrafficPermission). Kept for what Envoy-like
              // readers (inspect, config dumps) show.
              validation_context: { ca_certificate_provider_instance: PROVIDER, match_subject_alt_names: [{ prefix: `spiffe://${mesh}/` }] },
            },
            require_client_certificate: { value: true },
          }),
        },
      }
      : {}),
  };
  return { name, address: socketAddress(host, port), filter_chains: [chain] };
}

/** The first local instance of each service by name, per context: whose inbound rules stand for the service's. */
const serversByContext = new WeakMap<GenerationContext, Map<string, { dp: LocalDataplane; rulesKey: string } | undefined>>();

function serverOf(ctx: GenerationContext, mesh: string, service: string): { dp: LocalDataplane; rulesKey: string } | undefined {
  let servers = serversByContext.get(ctx);
  if (!servers) {
    servers = new Map();
    serversByContext.set(ctx, servers);
    const sorted = [...ctx.index.dataplanes.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const dp of sorted) {
      for (const ib of dp.spec.networking.inbound ?? []) {
        const key = `${dp.mesh}\u0000${ib.tags[SERVICE_TAG]}`;
        if (!servers.has(key)) servers.set(key, { dp, rulesKey: inboundRulesKey(ib) });
      }
    }
  }
  return servers.get(`${mesh}\u0000${service}`);
}

/**
 * MeshFaultInjection for a proxyless caller: Kuma injects faults at the destination's inbound (its
 * `from` rules), but gRPC servers inject none (A33 is client side), so the caller injects what the
 * destination's rules give it: those of the service's first instance here, every rule whose clients
 * include the caller's service. One filter per fault entry, each with its own name (gRPC refuses two
 * filters of one name).
 */
function clientFaultFilters(ctx: GenerationContext, mesh: MeshIndex, service: string, caller: string, problems: string[], deps: string[]): Draft[] {
  const server = serverOf(ctx, mesh.name, service);
  if (!server) return [];
  const matched = ctx.rules.get(ctx.index, server.dp);
  // The server's rules, not every policy of the mesh: a change that leaves its faults alone moves nothing here.
  if (matched) deps.push(matched.dep);
  const from = matched?.rules.MeshFaultInjection?.from[server.rulesKey] ?? [];
  const point = [{ key: SERVICE_TAG, value: caller }];
  const filters: Draft[] = [];
  for (const rule of from) {
    if (!isSubset(rule.subset, point)) continue;
    for (const fault of rule.conf.http ?? []) {
      const config = faultConfig(fault, `MeshFaultInjection ${rule.origins.join(', ')}`, problems);
      if (config) filters.push({ name: `${ENVOY_EXTENSION_NAME.httpFault}.${filters.length}`, typed_config: lazyTyped(ENVOY_TYPE.httpFault, config) });
    }
  }
  return filters;
}
