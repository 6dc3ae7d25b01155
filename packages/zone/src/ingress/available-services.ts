import { crossMeshGateways } from '../xds/generate/cross-mesh.js';
import { claimingGateways, LABEL_ORIGIN, MeshGatewaySpec, SERVICE_TAG, ZONE_TAG, type ZoneIngressSpec } from '@meshfed/shared';

/** One entry of a ZoneIngress's `availableServices`: a set of instances sharing mesh and tags. */
export type AvailableService = NonNullable<ZoneIngressSpec['availableServices']>[number];

/** What the computation reads of a resource; StoredResource and Resource both fit. */
export interface ResourceView {
  readonly name: string;
  readonly mesh?: string | undefined;
  readonly labels: Readonly<Record<string, string>>;
  readonly spec: Readonly<Record<string, unknown>>;
}

export interface AvailableServicesInput {
  readonly dataplanes: readonly ResourceView[];
  readonly externalServices: readonly ResourceView[];
  readonly meshes: readonly ResourceView[];
  /** MeshGateways: a builtin gateway instance serving a crossMesh listener is offered like a service (cross-mesh.ts). */
  readonly meshGateways?: readonly ResourceView[];
  /**
   * The zone the instances run in: each instance's tags get `kuma.io/zone` (unless the inbound sets it),
   * as Kuma tags every inbound in a multi-zone deployment, so other zones can route to a zone's subset.
   */
  readonly zone?: string;
}


const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** A tag set read off a resource: its pairs sorted by key, and a string naming the set. */
interface TagSet {
  readonly sorted: readonly (readonly [string, string])[];
  readonly key: string;
}

/** Sorted tag pairs, or undefined when malformed or without a service. Never keeps the caller's object. */
function readTags(v: unknown): TagSet | undefined {
  if (!isRecord(v) || typeof v[SERVICE_TAG] !== 'string') return undefined;
  const sorted: (readonly [string, string])[] = [];
  for (const k of Object.keys(v).sort()) {
    const value = v[k];
    if (typeof value !== 'string') return undefined;
    sorted.push([k, value]);
  }
  return { sorted, key: JSON.stringify(sorted) };
}

const receivedFromGlobal = (r: ResourceView) => r.labels[LABEL_ORIGIN] === 'global';

/** Inbounds whose dataplane or Kuma health says ready: no `health`, or `health.ready` not false. */
function healthyInboundTags(dp: ResourceView): TagSet[] {
  const networking = dp.spec.networking;
  if (!isRecord(networking) || networking.gateway !== undefined) return [];
  const inbound = networking.inbound;
  if (!Array.isArray(inbound)) return [];
  const out: TagSet[] = [];
  for (const ib of inbound as unknown[]) {
    if (!isRecord(ib)) continue;
    if (isRecord(ib.health) && ib.health.ready === false) continue;
    const tags = readTags(ib.tags);
    if (tags) out.push(tags);
  }
  return out;
}

/** Valid MeshGateways by mesh, by name (the first by name serves an instance two select). */
function gatewaysByMesh(views: readonly ResourceView[]): Map<string, { name: string; spec: MeshGatewaySpec }[]> {
  const out = new Map<string, { name: string; spec: MeshGatewaySpec }[]>();
  for (const v of views) {
    if (v.mesh === undefined) continue;
    const spec = MeshGatewaySpec.safeParse(v.spec);
    if (spec.success) out.set(v.mesh, [...(out.get(v.mesh) ?? []), { name: v.name, spec: spec.data }]);
  }
  return out;
}

/** A builtin gateway instance's tags when the MeshGateway it serves has a crossMesh listener (other meshes reach it through this zone's ingress). */
function crossMeshGatewayTags(dp: ResourceView, gateways: readonly { name: string; spec: MeshGatewaySpec }[]): TagSet | undefined {
  const networking = dp.spec.networking;
  if (!isRecord(networking) || !isRecord(networking.gateway) || networking.gateway.type !== 'BUILTIN') return undefined;
  const tags = readTags(networking.gateway.tags);
  if (!tags) return undefined;
  const byKey = Object.fromEntries(tags.sorted);
  const serving = claimingGateways(gateways, byKey)[0];
  if (!serving || dp.mesh === undefined) return undefined;
  // The same rule the zone index routes them by (cross-mesh.ts), so nothing is offered that the ingress would not serve.
  const cm = crossMeshGateways(dp.mesh, [{ ...serving, labels: {} }], []).get(byKey[SERVICE_TAG] ?? '');
  return cm?.gateway === serving.name ? tags : undefined;
}

function withZone(tags: TagSet, zone: string): TagSet {
  if (tags.sorted.some(([k]) => k === ZONE_TAG)) return tags;
  const sorted = [...tags.sorted, [ZONE_TAG, zone] as const].sort(([a], [b]) => (a < b ? -1 : 1));
  return { sorted, key: JSON.stringify(sorted) };
}

function zoneEgressEnabled(mesh: ResourceView): boolean {
  const routing = mesh.spec.routing;
  return isRecord(routing) && routing.zoneEgress === true;
}

interface Group {
  readonly mesh: string;
  readonly tags: Record<string, string>;
  /** The tags as sorted [key, value] pairs: the tie-breaker after mesh and service. */
  readonly sorted: readonly (readonly [string, string])[];
  readonly externalService: boolean;
  instances: number;
}

function compareGroups(a: Group, b: Group): number {
  // Code-unit order, never locale order, so every process sorts alike.
  if (a.mesh !== b.mesh) return a.mesh < b.mesh ? -1 : 1;
  const as = a.tags[SERVICE_TAG]!, bs = b.tags[SERVICE_TAG]!;
  if (as !== bs) return as < bs ? -1 : 1;
  const byTags = compareSortedTags(a.sorted, b.sorted);
  if (byTags !== 0) return byTags;
  return Number(a.externalService) - Number(b.externalService);
}

/** Pair by pair, keys then values; a tag set that is a prefix of another sorts first. */
function compareSortedTags(a: Group['sorted'], b: Group['sorted']): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    const [ak, av] = a[i]!, [bk, bv] = b[i]!;
    if (ak !== bk) return ak < bk ? -1 : 1;
    if (av !== bv) return av < bv ? -1 : 1;
  }
  return a.length - b.length;
}

/**
 * What a zone's ingresses offer to other zones: every healthy inbound of every local Dataplane,
 * grouped by mesh and full tag set with its instance count; plus, for meshes routed through
 * ZoneEgress, each ExternalService not pinned to another zone, and in any mesh the ExternalServices
 * pinned to this zone (`kuma.io/zone`), which other zones reach through it (one instance per distinct
 * tag set, as Kuma does).
 * Gateways are left out (no inbounds), but builtin instances of a MeshGateway with a crossMesh listener,
 * which other meshes reach through the ingress; Dataplanes received from global are left out. Sorted by mesh, then
 * `kuma.io/service`, then canonical tags, so equal inputs always give byte-equal output.
 */
export function computeAvailableServices(input: AvailableServicesInput): AvailableService[] {
  const groups = new Map<string, Group>();
  const add = (mesh: string, tags: TagSet, externalService: boolean) => {
    const key = `${externalService ? 'e' : 'd'}\u0000${mesh}\u0000${tags.key}`;
    const g = groups.get(key);
    if (g) {
      if (!externalService) g.instances++;
      return;
    }
    // The output's own object, keys in sorted order.
    groups.set(key, { mesh, tags: Object.fromEntries(tags.sorted), sorted: tags.sorted, externalService, instances: 1 });
  };

  const gateways = gatewaysByMesh(input.meshGateways ?? []);
  for (const dp of input.dataplanes) {
    if (dp.mesh === undefined || receivedFromGlobal(dp)) continue;
    const cross = crossMeshGatewayTags(dp, gateways.get(dp.mesh) ?? []);
    for (const tags of cross ? [cross] : healthyInboundTags(dp)) add(dp.mesh, input.zone === undefined ? tags : withZone(tags, input.zone), false);
  }

  // External services: those pinned to this zone (`kuma.io/zone`), which other zones reach only through
  // it, whatever their mesh's routing; and for meshes routed through ZoneEgress, every one not pinned
  // to another zone.
  const egressMeshes = new Set(input.meshes.filter(zoneEgressEnabled).map((m) => m.name));
  for (const es of input.externalServices) {
    if (es.mesh === undefined) continue;
    const tags = readTags(es.spec.tags);
    if (!tags) continue;
    const pinned = tags.sorted.find(([k]) => k === ZONE_TAG)?.[1];
    if ((input.zone !== undefined && pinned === input.zone) || (egressMeshes.has(es.mesh) && (pinned === undefined || pinned === input.zone))) add(es.mesh, tags, true);
  }

  return [...groups.values()].sort(compareGroups).map((g) => ({
    tags: g.tags,
    instances: g.instances,
    mesh: g.mesh,
    ...(g.externalService ? { externalService: true } : {}),
  }));
}
