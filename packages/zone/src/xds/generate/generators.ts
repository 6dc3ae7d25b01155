import type { ProxyType } from '../proxy-id.js';
import type { GeneratedProxy, GenerationContext } from './context.js';
import { generateGateway } from './gateway/index.js';
import { generateProxyless } from './proxyless.js';
import { generateSidecar } from './sidecar.js';
import type { ZoneIndex } from './zone-index.js';
import { generateZoneEgress, generateZoneIngress } from './zone-proxies.js';

const isProxyless = (ix: ZoneIndex, id: string): boolean => ix.dataplanes.get(id)?.spec.networking.proxyless === true;

/**
 * The one table from proxy kind to its generator (Kuma's proxy-template profiles): the reconciler finds a
 * proxy's kind here and nowhere else.
 */
export const GENERATORS: readonly { readonly proxyType: ProxyType; generate(ctx: GenerationContext, index: ZoneIndex, proxyId: string): GeneratedProxy | undefined; has(index: ZoneIndex, proxyId: string): boolean; ids(index: ZoneIndex): Iterable<string> }[] = [
  // Every Dataplane but a BUILTIN gateway or a proxyless app is a sidecar (a DELEGATED gateway is configured as one).
  table('dataplane', (ix) => ix.dataplanes, generateSidecar, (ix, id) => !ix.builtinGateways.has(id) && !isProxyless(ix, id)),
  table('dataplane', (ix) => ix.dataplanes, generateProxyless, isProxyless),
  table('dataplane', (ix) => ix.builtinGateways, generateGateway),
  table('ingress', (ix) => ix.ingresses, generateZoneIngress),
  table('egress', (ix) => ix.egresses, generateZoneEgress),
];

function table<P>(proxyType: ProxyType, proxies: (ix: ZoneIndex) => ReadonlyMap<string, P>, gen: (ctx: GenerationContext, proxy: P) => GeneratedProxy, only?: (ix: ZoneIndex, proxyId: string) => boolean) {
  const has = (index: ZoneIndex, proxyId: string) => proxies(index).has(proxyId) && (only === undefined || only(index, proxyId));
  return {
    proxyType,
    generate(ctx: GenerationContext, index: ZoneIndex, proxyId: string) {
      const p = proxies(index).get(proxyId);
      return p === undefined || !has(index, proxyId) ? undefined : gen(ctx, p);
    },
    has,
    ids: (index: ZoneIndex): Iterable<string> => (only === undefined ? proxies(index).keys() : [...proxies(index).keys()].filter((id) => only(index, id))),
  };
}

/** Whether the index holds a proxy of any kind under this id. */
export const isProxyOf = (index: ZoneIndex, proxyId: string): boolean => GENERATORS.some((g) => g.has(index, proxyId));
