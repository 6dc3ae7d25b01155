/**
 * The gateway overview of a mesh (`GET /meshes/{mesh}/meshgateways/_overview`): each MeshGateway with
 * its listeners, the MeshGatewayRoutes attached to each, and the builtin gateway instances serving it,
 * plus what attaches to nothing. Both control planes answer it from their store; a zone CP adds each
 * instance's xDS insight, global says which zone's CP holds it.
 */
import { z } from 'zod';
import { DataplaneSpec } from './dataplane.js';
import { MeshGatewaySpec } from './mesh-gateway.js';
import { MeshGatewayRouteSpec } from './mesh-gateway-route.js';
import {
  claimingGateways, type GatewayListenerSpec, intersectHostnames, listenerRouteKind, listenerTags, routeKind, routeSelects,
} from './mesh-gateway-matching.js';

const Tags = z.record(z.string(), z.string());
const RouteKind = z.enum(['http', 'tcp']);

export const GatewayRouteRef = z.object({
  name: z.string(),
  kind: RouteKind,
  /** Set when the route attaches on some instances only (its selectors name tags not all of them carry). */
  onlyOn: z.array(z.string()).optional(),
});

export const GatewayListenerOverview = z.object({
  port: z.number(),
  protocol: z.string(),
  /** `*` when the listener names none. */
  hostname: z.string(),
  crossMesh: z.boolean(),
  tags: Tags,
  routes: z.array(GatewayRouteRef),
});

export const GatewayInstanceOverview = z.object({
  zone: z.string(),
  name: z.string(),
  address: z.string(),
  tags: Tags,
  /** The MeshGateway it serves; null when none selects it. */
  gateway: z.string().nullable(),
  problems: z.array(z.string()),
  /** On the zone CP that runs it: its xDS insight, as `…/dataplanes+insights` shows it. */
  insight: z.record(z.string(), z.unknown()).optional(),
  /** On global: the zone whose control plane holds its insight. */
  insightOn: z.string().optional(),
});

export const MeshGatewayOverview = z.object({
  name: z.string(),
  selectors: z.array(z.object({ match: Tags })),
  tags: Tags,
  listeners: z.array(GatewayListenerOverview),
  instances: z.array(GatewayInstanceOverview),
});

export const UnattachedGatewayRoute = z.object({
  name: z.string(),
  kind: RouteKind,
  selectors: z.array(z.object({ match: Tags })),
  reason: z.string(),
});

export const MeshGatewaysOverview = z.object({
  mesh: z.string(),
  /** The zone CP that answered; null on global, which sees every zone's instances but none's insights. */
  zone: z.string().nullable(),
  gateways: z.array(MeshGatewayOverview),
  /** Builtin gateway instances no MeshGateway selects: they get no listeners. */
  unservedInstances: z.array(GatewayInstanceOverview),
  /** Routes attached to no listener of any MeshGateway of the mesh: they route nothing. */
  unattachedRoutes: z.array(UnattachedGatewayRoute),
  /** Invalid MeshGateways and MeshGatewayRoutes, left out above. */
  problems: z.array(z.string()),
});
export type GatewayRouteRef = z.infer<typeof GatewayRouteRef>;
export type GatewayListenerOverview = z.infer<typeof GatewayListenerOverview>;
export type GatewayInstanceOverview = z.infer<typeof GatewayInstanceOverview>;
export type MeshGatewayOverview = z.infer<typeof MeshGatewayOverview>;
export type UnattachedGatewayRoute = z.infer<typeof UnattachedGatewayRoute>;
export type MeshGatewaysOverview = z.infer<typeof MeshGatewaysOverview>;

/** A stored resource as the overview reads it. */
export interface OverviewResource {
  readonly name: string;
  readonly spec: unknown;
}

/** A Dataplane of the mesh, with the zone it runs in and the name its zone knows it by. */
export interface OverviewDataplane extends OverviewResource {
  readonly zone: string;
  /** What the answering CP knows of its sync state: its insight (zone CP), or the zone to ask (global). */
  readonly sync: { readonly insight: Record<string, unknown> } | { readonly insightOn: string };
}

export interface OverviewInput {
  readonly mesh: string;
  readonly zone: string | null;
  readonly gateways: readonly OverviewResource[];
  readonly routes: readonly OverviewResource[];
  /** Every Dataplane of the mesh the CP holds; only BUILTIN gateways are kept. */
  readonly dataplanes: readonly OverviewDataplane[];
}

interface Instance {
  readonly view: Omit<GatewayInstanceOverview, 'gateway' | 'problems'>;
  readonly claiming: readonly string[];
}

type Gateway = { readonly name: string; readonly spec: MeshGatewaySpec };
type Route = { readonly name: string; readonly spec: MeshGatewayRouteSpec };

const byName = (a: { name: string }, b: { name: string }) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);

function parsed<S extends z.ZodType>(kind: string, schema: S, items: readonly OverviewResource[], problems: string[]): { name: string; spec: z.infer<S> }[] {
  const out: { name: string; spec: z.infer<S> }[] = [];
  for (const r of [...items].sort(byName)) {
    const p = schema.safeParse(r.spec);
    if (p.success) out.push({ name: r.name, spec: p.data });
    else problems.push(`${kind} ${r.name} is invalid and left out: ${p.error.issues.map((i) => `${i.path.join('.') || '(spec)'}: ${i.message}`).join('; ')}`);
  }
  return out;
}

/**
 * Why a route attaches on a listener of a given protocol and hostname for an instance's tags, or
 * `tags`/`protocol`/`hostname` for the first test it fails (the most telling one when flagging it).
 */
function attachment(route: Route, l: GatewayListenerSpec, tags: Record<string, string>): 'attached' | 'tags' | 'protocol' | 'hostname' {
  if (!routeSelects(route.spec, tags)) return 'tags';
  if (routeKind(route.spec) !== listenerRouteKind(l.protocol)) return 'protocol';
  const names = route.spec.conf.http?.hostnames ?? [];
  if (names.length > 0 && !names.some((h) => intersectHostnames(h, l.hostname ?? '*') !== undefined)) return 'hostname';
  return 'attached';
}

/** The overview of one mesh's gateways, computed from what the answering CP holds. */
export function meshGatewaysOverview(input: OverviewInput): MeshGatewaysOverview {
  const problems: string[] = [];
  const gateways: Gateway[] = parsed('MeshGateway', MeshGatewaySpec, input.gateways, problems);
  const routes: Route[] = parsed('MeshGatewayRoute', MeshGatewayRouteSpec, input.routes, problems);

  const instances: Instance[] = [];
  for (const dp of input.dataplanes) {
    const spec = DataplaneSpec.safeParse(dp.spec);
    const g = spec.success ? spec.data.networking.gateway : undefined;
    if (!spec.success || g?.type !== 'BUILTIN') continue;
    instances.push({
      view: { zone: dp.zone, name: dp.name, address: spec.data.networking.address, tags: { ...g.tags }, ...dp.sync },
      claiming: claimingGateways(gateways, g.tags).map((c) => c.name),
    });
  }
  instances.sort((a, b) => (a.view.zone !== b.view.zone ? (a.view.zone < b.view.zone ? -1 : 1) : byName(a.view, b.view)));

  const served = (gw: string) => instances.filter((i) => i.claiming[0] === gw);
  const attachedAnywhere = new Set<string>();
  // For each route never attached: the furthest it got (its tags matched a listener, but not its protocol or hostnames).
  const nearMiss = new Map<string, { why: 'protocol' | 'hostname'; where: string }>();

  const overviews = gateways.map((gw): MeshGatewayOverview => {
    const mine = served(gw.name);
    // Without instances, the tags a selector requires stand in for an instance's: what any instance would carry.
    const candidates = mine.length > 0
      ? mine.map((i) => ({ name: i.view.name as string | undefined, tags: i.view.tags }))
      : gw.spec.selectors.map((s) => ({ name: undefined, tags: s.match }));
    const listeners = gw.spec.conf.listeners.map((l): GatewayListenerOverview => {
      const refs: GatewayRouteRef[] = [];
      for (const r of routes) {
        const on: (string | undefined)[] = [];
        for (const c of candidates) {
          const a = attachment(r, l, listenerTags(c.tags, gw.spec, l));
          if (a === 'attached') on.push(c.name);
          else if (a !== 'tags' && !nearMiss.has(r.name)) nearMiss.set(r.name, { why: a, where: `MeshGateway ${gw.name} port ${l.port} (${l.protocol}, hostname ${l.hostname ?? '*'})` });
        }
        if (on.length === 0) continue;
        attachedAnywhere.add(r.name);
        const partial = mine.length > 0 && on.length < candidates.length;
        refs.push({ name: r.name, kind: routeKind(r.spec), ...(partial ? { onlyOn: on.filter((n): n is string => n !== undefined) } : {}) });
      }
      return { port: l.port, protocol: l.protocol, hostname: l.hostname ?? '*', crossMesh: l.crossMesh === true, tags: { ...(l.tags ?? {}) }, routes: refs };
    });
    return {
      name: gw.name,
      selectors: gw.spec.selectors.map((s) => ({ match: { ...s.match } })),
      tags: { ...(gw.spec.tags ?? {}) },
      listeners,
      instances: mine.map((i) => ({
        ...i.view,
        gateway: gw.name,
        problems: i.claiming.length > 1 ? [`MeshGateways ${i.claiming.join(', ')} all select this builtin gateway: it serves ${gw.name} (the first by name) and ignores the others`] : [],
      })),
    };
  });

  const unservedInstances = instances
    .filter((i) => i.claiming.length === 0)
    .map((i) => ({ ...i.view, gateway: null, problems: [`no MeshGateway of mesh ${input.mesh} selects this builtin gateway (tags ${JSON.stringify(i.view.tags)}): it has no listeners`] }));

  const unattachedRoutes = routes
    .filter((r) => !attachedAnywhere.has(r.name))
    .map((r): UnattachedGatewayRoute => {
      const kind = routeKind(r.spec);
      const miss = nearMiss.get(r.name);
      const reason = miss?.why === 'protocol'
        ? `its selectors match ${miss.where}, but it has ${kind} rules: ${kind === 'http' ? 'http routes attach to HTTP and HTTPS listeners' : 'tcp routes attach to TCP and TLS listeners'}`
        : miss?.why === 'hostname'
          ? `its selectors match ${miss.where}, but none of its hostnames (${(r.spec.conf.http?.hostnames ?? []).join(', ')}) intersects the listener's`
          : `its selectors match no listener of any MeshGateway of mesh ${input.mesh} (a listener's tags: its instances' gateway tags, the MeshGateway's tags, the listener's tags)`;
      return { name: r.name, kind, selectors: r.spec.selectors.map((s) => ({ match: { ...s.match } })), reason };
    });

  return { mesh: input.mesh, zone: input.zone, gateways: overviews, unservedInstances, unattachedRoutes, problems };
}
