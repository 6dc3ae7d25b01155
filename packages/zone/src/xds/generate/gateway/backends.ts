import { type GenerationContext, dep } from '../context.js';
import type { Draft } from '../envoy-parts.js';
import { outboundTarget } from '../sidecar.js';
import { isWhole, type MeshIndex, NO_SUBSET, type SubsetTags } from '../zone-index.js';
import type { Any } from '@meshfed/shared';
import type { Backends, GatewayClusterDraft } from '../../plugins/index.js';

/**
 * The clusters a gateway instance's routes send to, each made once (as a sidecar's outbound target:
 * this zone, other zones through their ingresses or this zone's egress, external services), with their
 * endpoints and what the instance then depends on. Cluster drafts stay open until the plugins ran.
 */
export class GatewayBackends implements Backends {
  readonly clusters: GatewayClusterDraft[] = [];
  readonly endpoints = new Map<string, Any>();
  readonly deps: string[] = [];
  readonly problems: string[] = [];
  /** Per external service's cluster, the host its requests must carry. */
  readonly externalHosts = new Map<string, string>();
  readonly #names = new Set<string>();
  constructor(private readonly ctx: GenerationContext, private readonly mesh: MeshIndex) {}

  cluster(service: string, subset: SubsetTags = NO_SUBSET): string {
    if (!isWhole(subset) && (this.mesh.external.has(service) || this.mesh.remoteExternal.has(service))) {
      this.problems.push(`${service} is an ExternalService, which has no subsets: the route's tags are ignored`);
      subset = NO_SUBSET;
    }
    const target = outboundTarget(this.ctx, this.mesh, service, subset);
    const d = dep.service(this.mesh.name, service);
    if (!this.deps.includes(d)) this.deps.push(d);
    if (!this.#names.has(target.name)) {
      this.#names.add(target.name);
      this.clusters.push({ name: target.name, service, protocol: target.protocol, cluster: target.cluster() });
      if (target.endpoints) this.endpoints.set(target.name, target.endpoints);
      if (target.externalHost !== undefined) this.externalHosts.set(target.name, target.externalHost);
      this.problems.push(...target.problems);
    }
    return target.name;
  }

  /** Gateways take the shared endpoint order (locality-aware balancing on gateways is not built). */
  orderLocalities(_cluster: Draft): boolean {
    return false;
  }
}
