import type { EnvoyObject } from '@meshfed/shared';
import type { Draft, HttpDraft, LocalityOrder } from '../generate/envoy-parts.js';
import type { Protocol } from '../generate/protocol.js';
import type { MeshIndex } from '../generate/zone-index.js';
import type { PolicyKind, TypedRules } from '../rules/index.js';

/**
 * A sidecar's configuration before encoding, as the generator built it from the proxy alone: the
 * plugins change it in place from the proxy's rules, then it is encoded once (generate/sidecar.ts).
 * Drafts are the proxy's (or its template's) own objects: a plugin may change any of them.
 */
export interface SidecarDraft {
  readonly mesh: MeshIndex;
  readonly mtls: boolean;
  readonly zone: string;
  readonly inbounds: InboundDraft[];
  readonly outbounds: OutboundDraft[];
  /** Where route plugins get the clusters their backends need. */
  readonly backends: Backends;
  /** Clusters of backends this proxy has no outbound to (a route's backendRef to another service). */
  readonly otherClusters: Draft[];
}

/**
 * The clusters a route's backends need, made once per proxy with their endpoints (EDS) and what the
 * proxy then depends on. A cluster of a service the proxy has an outbound to joins that outbound's
 * `clusters`, so the policies on that service shape it too.
 */
export interface Backends {
  /** The name of the cluster to `service`, or to the instances of it that have all of `subset`'s tags. */
  cluster(service: string, subset?: Readonly<Record<string, string>>): string;
  /**
   * Gives this proxy its own endpoints for an EDS cluster of its draft: the same instances with their
   * localities ordered by `order`, as the resource `<cluster>#<variant>`, which the cluster then asks
   * EDS for (the shared resource is the default order, for every other caller). False when the
   * cluster has no endpoints by EDS (an external service dialled directly).
   */
  orderLocalities(cluster: Draft, variant: string, order: LocalityOrder): boolean;
}

export interface InboundDraft {
  /** Where this inbound's `from` rules are (rules' InboundKey, see generate/matching.ts inboundRulesKey). */
  readonly rulesKey: string;
  readonly port: number;
  readonly service: string;
  readonly tags: Readonly<Record<string, string>>;
  readonly localClusterName: string;
  readonly localCluster: Draft;
  /** The inbound's own `kuma.io/protocol` (Kuma configures an inbound by its tag alone). */
  readonly protocol: Protocol;
  /**
   * The chain's network filters in order; the terminal one (tcp_proxy or the HTTP connection manager) is
   * last. With `acceptPlaintext`, the plaintext chains are made from these at encoding, all but those
   * marked as checking the mesh identity (envoy-parts meshIdentityFilter: RBAC): a plugin's change here
   * (and in `tcpProxy`, `http`) reaches every chain.
   */
  readonly filters: Draft[];
  /** The typed config of the terminal tcp_proxy, when the protocol is tcp. */
  readonly tcpProxy?: Draft;
  /** The HTTP connection manager's parts, when the protocol is http, http2 or grpc. */
  readonly http?: HttpDraft;
  /** Server side of mesh mTLS, when the mesh has mTLS. */
  readonly transportSocket?: EnvoyObject;
  /**
   * PERMISSIVE mTLS (the mesh's enabled backend's mode): besides the mesh mTLS chain, the listener takes
   * plaintext, and TLS that is not the mesh's, on chains without TLS termination and without the
   * filters checking the mesh identity (see envoy-parts inboundChains). Unset: mTLS only (STRICT), or
   * plaintext only when the mesh has no mTLS.
   */
  readonly acceptPlaintext?: boolean;
}

export interface OutboundDraft {
  readonly service: string;
  readonly listenerName: string;
  readonly address: string;
  readonly port: number;
  readonly clusterName: string;
  /** Shared by the outbounds of one service (one cluster per destination). */
  readonly cluster: Draft;
  /**
   * Every cluster that carries this service's traffic: `cluster` first, then those a route policy
   * adds (a split to a subset of the service's instances). Shared like `cluster`; policies on the
   * destination (circuit breaking, health checks, balancing) apply to each.
   */
  readonly clusters: Draft[];
  /** What the caller speaks to the service: the protocol all its instances agree on (see MeshIndex.protocols). */
  readonly protocol: Protocol;
  readonly filters: Draft[];
  /** Set when the protocol is tcp. */
  readonly tcpProxy?: Draft;
  /** Set when the protocol is http, http2 or grpc. */
  readonly http?: HttpDraft;
}

/**
 * A builtin gateway's configuration before encoding (generate/gateway/): its listeners, with their
 * HTTP virtual hosts and routes or TCP proxy, and the clusters its routes send to. Plugins change it
 * in place from the gateway's rules (`from` and `gatewayTo` by listener, see rules/), as Kuma's plugins
 * configure a gateway's listeners, routes and clusters; then it is encoded once.
 */
export interface GatewayDraft {
  readonly mesh: MeshIndex;
  readonly mtls: boolean;
  readonly zone: string;
  /** The MeshGateway the instance serves. */
  readonly gateway: string;
  /** The instance's own service (its gateway tags' kuma.io/service): its identity, and the source in access logs. */
  readonly service: string;
  readonly listeners: GatewayListenerDraft[];
  /** Every cluster the routes send to (mirrors included), once each, with the service it carries. */
  readonly clusters: GatewayClusterDraft[];
  /** Where route plugins get the clusters their backends need (a new one joins `clusters`). */
  readonly backends: Backends;
}

export type GatewayProtocol = 'HTTP' | 'HTTPS' | 'TCP' | 'TLS';

export interface GatewayListenerDraft {
  /** Where this listener's rules are: `from[rulesKey]`, `gatewayTo.byListener[rulesKey]` (generate/matching.ts inboundRulesKey). */
  readonly rulesKey: string;
  /** The Envoy listener's name (`<gateway>:<protocol>:<port>`), also its stat prefix. */
  readonly name: string;
  readonly port: number;
  readonly protocol: GatewayProtocol;
  /** The listener's own fields (address, buffer limits, listener filters); filter chains are made at encoding. */
  readonly listener: Draft;
  /**
   * Network filters every chain runs before its terminal one (connection limit, RBAC), in order; a
   * plugin may add its own.
   */
  readonly filters: Draft[];
  /** One Envoy filter chain per entry: a match (SNI, transport) and TLS termination; all share `filters` and the terminal filter. */
  readonly chains: GatewayChainDraft[];
  /** HTTP and HTTPS: the connection manager shared by every chain, and its virtual hosts. */
  readonly http?: GatewayHttpDraft;
  /** TCP and TLS: the typed config of the terminal tcp_proxy. */
  readonly tcpProxy?: Draft;
  /** A `crossMesh: true` HTTP listener: reached by proxies of other meshes over this mesh's mTLS. */
  readonly crossMesh?: true;
}

export interface GatewayChainDraft {
  readonly serverNames?: readonly string[];
  readonly transportSocket?: Draft;
  /** The SDS secrets its TLS names (the certificates it serves). */
  readonly secrets?: readonly Draft[];
}

export interface GatewayHttpDraft {
  /** The HTTP connection manager's typed config. */
  readonly hcm: Draft;
  /** Its HTTP filters, the router last. */
  readonly httpFilters: Draft[];
  readonly virtualHosts: GatewayVirtualHostDraft[];
}

export interface GatewayVirtualHostDraft {
  /** The virtual host's domain (a listener hostname, or narrower from a route's hostnames). */
  readonly hostname: string;
  /** The listener hostname it serves under (`*` for a listener without one): `gatewayTo.byListenerHostname[<rulesKey>:<this>]`. */
  readonly listenerHostname: string;
  readonly virtualHost: Draft;
  readonly routes: GatewayRouteDraft[];
}

export interface GatewayRouteDraft {
  /** The Envoy route (its `name` is the rule-matches hash when it comes from a MeshHTTPRoute rule). */
  readonly route: Draft;
  /** The services its backends are (Kuma's heuristics choose a policy by them), in the route's order. */
  readonly services: readonly string[];
}

export interface GatewayClusterDraft {
  readonly name: string;
  readonly service: string;
  readonly protocol: Protocol;
  readonly cluster: Draft;
}

export interface PluginContext {
  /** What keeps part of a policy from applying: shown on the proxy's insight. */
  readonly problems: string[];
}

/** One policy type's part of a proxy's configuration (Kuma's pkg/plugins/policies/<type>/plugin). */
export interface PolicyPlugin<K extends PolicyKind = PolicyKind> {
  readonly kind: K;
  /** `rules` is undefined when no policy of the type selects the proxy (some types then still act: MeshTrafficPermission denies). */
  applySidecar(draft: SidecarDraft, rules: TypedRules<K> | undefined, ctx: PluginContext): void;
  /** A builtin gateway's part; a type without it does not apply to builtin gateways (said on the instance). */
  applyGateway?(draft: GatewayDraft, rules: TypedRules<K> | undefined, ctx: PluginContext): void;
}
