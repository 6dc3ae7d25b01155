import type { ProxyType } from '../proxy-id.js';
import type { GeneratedProxy, GenerationContext } from './context.js';
import { generateSidecar } from './sidecar.js';
import type { ZoneIndex } from './zone-index.js';
import { generateZoneEgress, generateZoneIngress } from './zone-proxies.js';

/**
 * The one table from proxy kind to its generator (Kuma's proxy-template profiles): the reconciler finds a
 * proxy's kind here and nowhere else.
 */
export const GENERATORS: readonly { readonly proxyType: ProxyType; generate(ctx: GenerationContext, index: ZoneIndex, proxyId: string): GeneratedProxy | undefined; has(index: ZoneIndex, proxyId: string): boolean; ids(index: ZoneIndex): Iterable<string> }[] = [
  table('dataplane', (ix) => ix.dataplanes, generateSidecar),
  table('ingress', (ix) => ix.ingresses, generateZoneIngress),
  table('egress', (ix) => ix.egresses, generateZoneEgress),
];

function table<P>(proxyType: ProxyType, proxies: (ix: ZoneIndex) => ReadonlyMap<string, P>, gen: (ctx: GenerationContext, proxy: P) => GeneratedProxy) {
  return {
    proxyType,
    generate(ctx: GenerationContext, index: ZoneIndex, proxyId: string) {
      const p = proxies(index).get(proxyId);
      return p === undefined ? undefined : gen(ctx, p);
    },
    has: (index: ZoneIndex, proxyId: string) => proxies(index).has(proxyId),
    ids: (index: ZoneIndex) => proxies(index).keys(),
  };
}

/** Whether the index holds a proxy of any kind under this id. */
export const isProxyOf = (index: ZoneIndex, proxyId: string): boolean => GENERATORS.some((g) => g.has(index, proxyId));
