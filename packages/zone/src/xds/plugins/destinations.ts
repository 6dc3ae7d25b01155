import type { Draft } from '../generate/envoy-parts.js';
import type { Protocol } from '../generate/protocol.js';
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
