import { SERVICE_TAG } from '@meshfed/shared';
import type { Draft } from '../generate/envoy-parts.js';
import type { Protocol } from '../generate/protocol.js';
import { computeRule, RULE_MATCHES_HASH_TAG, type Rule } from '../rules/index.js';
import type { OutboundDraft, SidecarDraft } from './types.js';

/** A service the proxy has outbounds to, once, however many outbounds (ports, addresses) it has. */
export interface Destination {
  readonly service: string;
  /** The service's protocol, which all its outbounds share. */
  readonly protocol: Protocol;
  /**
   * Every cluster carrying traffic to the service: the outbounds' own shared array (see
   * OutboundDraft.clusters), so a policy on the destination configures each cluster once here.
   */
  readonly clusters: Draft[];
  /** The proxy's outbounds to the service, in order: each has its own listener, filters and routes. */
  readonly outbounds: readonly OutboundDraft[];
}

/** The proxy's destination services, each once, in the order of their first outbound. */
export function destinations(draft: SidecarDraft): Destination[] {
  const byService = new Map<string, { service: string; protocol: Protocol; clusters: Draft[]; outbounds: OutboundDraft[] }>();
  for (const ob of draft.outbounds) {
    const d = byService.get(ob.service);
    if (d) d.outbounds.push(ob);
    else byService.set(ob.service, { service: ob.service, protocol: ob.protocol, clusters: ob.clusters, outbounds: [ob] });
  }
  return [...byService.values()];
}

/**
 * The conf for one HTTP route of a destination: where a policy targets the MeshHTTPRoute the route came
 * from, the rule computed for that route (Kuma: the destination's subset with the hash of the route
 * rule's matches, which the route plugin names the Envoy route by), merged over what the destination
 * gets; otherwise the destination's own conf.
 */
export function routeConf<C>(rules: { readonly to: readonly Rule<C>[] }, service: string, route: Draft, destinationConf: C | undefined): C | undefined {
  const hash = route['name'];
  if (typeof hash !== 'string' || !rules.to.some((r) => r.subset.some((t) => t.key === RULE_MATCHES_HASH_TAG))) return destinationConf;
  const subset = [{ key: RULE_MATCHES_HASH_TAG, value: hash }, { key: SERVICE_TAG, value: service }].sort((a, b) => (a.key < b.key ? -1 : 1));
  return computeRule(rules.to, subset)?.conf ?? destinationConf;
}
