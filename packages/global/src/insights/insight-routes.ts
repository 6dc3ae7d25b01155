import {
  type ApiServerOptions, BadRequestError, readAccess, baseUrl, DataplaneDescriptor, MAX_PAGE_SIZE, NotFoundError, type ResourceKind,
  type ResourceStore, type StoredResource, ZoneEgressDescriptor, ZoneIngressDescriptor, type ZoneOverview,
} from '@meshfed/shared';
import { z } from 'zod';
import { isZoneOnline, readZoneInsight, zoneOverview } from './zone-overview.js';

/** The Fastify instance the API server hands to extra routes (so this package needs no Fastify of its own). */
type App = Parameters<NonNullable<ApiServerOptions['extraRoutes']>>[0];

export interface InsightRoutesOptions {
  readonly store: ResourceStore;
  /** Where the online threshold comes from: a ZoneInsights (its offline timeout plus one flush interval). */
  readonly insights: { readonly staleAfterMs: number };
  readonly now?: () => number;
}

export interface GlobalInsight {
  readonly zones: { readonly online: number; readonly offline: number; readonly total: number };
  readonly resources: Readonly<Record<'Dataplane' | 'ZoneIngress' | 'ZoneEgress', { readonly total: number }>>;
  readonly meshes: { readonly total: number };
}

const Paging = z.object({
  size: z.coerce.number({ error: 'must be a number' }).int('must be an integer').min(1, 'must be at least 1').max(MAX_PAGE_SIZE, `must be at most ${MAX_PAGE_SIZE}`).default(100),
  offset: z.coerce.number({ error: 'must be a number' }).int('must be an integer').min(0, 'cannot be negative').default(0),
});

/** The proxy types: counted by `/global-insight`, inspected on their zone's CP. */
const PROXIES = [DataplaneDescriptor, ZoneIngressDescriptor, ZoneEgressDescriptor] as const;
const COUNTED = PROXIES.map((d) => d.kind);

/**
 * `GET /zones+insights[/{name}]` and `GET /global-insight` on the global CP. Everything is computed
 * from the store (Zones joined with their ZoneInsights), so any replica answers the same. The
 * zone CPs' proxy paths (`…+insights`, `…/xds`) answer a 400 that says to ask the zone.
 */
export function registerInsightRoutes(app: App, options: InsightRoutesOptions): void {
  const { store } = options;
  const now = options.now ?? Date.now;
  const overview = async (zone: StoredResource): Promise<ZoneOverview> =>
    zoneOverview(zone, await store.get({ type: 'ZoneInsight', name: zone.name }), now(), options.insights.staleAfterMs);

  app.get<{ Querystring: Record<string, string> }>('/zones+insights', readAccess('ZoneInsight'), async (request) => {
    const q = Paging.safeParse(request.query);
    if (!q.success) {
      const i = q.error.issues[0]!;
      throw new BadRequestError('Invalid query', `${String(i.path[0])}: ${i.message}`, q.error.issues.map((x) => ({ field: String(x.path[0]), message: x.message })));
    }
    const { size, offset } = q.data;
    const page = await store.list('Zone', { limit: size, offset });
    return {
      total: page.total,
      items: await Promise.all(page.items.map(overview)),
      next: page.next !== undefined ? `${baseUrl(request)}${request.url.split('?')[0]}?size=${size}&offset=${page.next}` : null,
    };
  });

  app.get<{ Params: { name: string } }>('/zones+insights/:name', readAccess('ZoneInsight'), async (request) => {
    const zone = await store.get({ type: 'Zone', name: request.params.name });
    if (!zone) throw new NotFoundError(`Zone "${request.params.name}" does not exist`);
    return overview(zone);
  });

  app.get('/global-insight', readAccess('ZoneInsight'), async (): Promise<GlobalInsight> => {
    const [zones, insights, meshes, ...proxies] = await Promise.all([
      listAll(store, 'Zone'),
      listAll(store, 'ZoneInsight'),
      store.list('Mesh', { limit: 1 }),
      ...COUNTED.map((type) => store.list(type, { limit: 1 })),
    ]);
    const at = now();
    const names = new Set(zones.map((z) => z.name));
    const online = insights.filter((i) => names.has(i.name) && isZoneOnline(readZoneInsight(i.spec), at, options.insights.staleAfterMs)).length;
    const resources = Object.fromEntries(COUNTED.map((type, i) => [type, { total: proxies[i]!.total }])) as GlobalInsight['resources'];
    return { zones: { online, offline: zones.length - online, total: zones.length }, resources, meshes: { total: meshes.total } };
  });

  // Proxies connect to their zone's CP, which alone holds their xDS state and Envoy configuration;
  // global only has their resources, over KDS. Without these routes the zone's paths would reach the
  // generic resource routes and answer a bare 404 (`unknown resource type "dataplanes+insights"`).
  const notHere = (what: string, run: string, how = `Run "${run} --cp <zone CP API URL>"`) => async () => {
    const zones = (await listAll(store, 'Zone')).map((z) => z.name);
    throw new BadRequestError(
      'Not served here',
      `the global control plane does not hold ${what}: proxies connect to the control plane of their zone, which does. ` +
        `${how}; ${zones.length > 0 ? `zones: ${zones.join(', ')}` : 'no zone is known yet'}`,
    );
  };
  for (const d of PROXIES) {
    const base = d.scope === 'mesh' ? `/meshes/:mesh/${d.plural}` : `/${d.plural}`;
    const insights = notHere('proxy insights', `meshfed inspect ${d.plural}`);
    for (const path of [`${base}+insights`, `${base}+insights/:name`, ...(d.scope === 'mesh' ? [`/${d.plural}+insights`] : [])]) app.get(path, readAccess(d.kind), insights);
    app.get(`${base}/:name/xds`, readAccess(d.kind), notHere("proxies' Envoy configuration", `meshfed inspect ${d.plural} NAME --config-dump`));
  }
  // Policy rules are computed by the zone that runs the proxy, from what it holds.
  app.get('/meshes/:mesh/dataplanes/:name/_rules', readAccess('Dataplane'), notHere("proxies' policy rules", 'meshfed inspect dataplane NAME --rules'));
  app.get('/meshes/:mesh/:plural/:name/_resources/dataplanes', readAccess('Dataplane'), notHere('which proxies a policy affects', '', 'Ask each zone CP: GET <zone CP API URL>/meshes/MESH/PLURAL/NAME/_resources/dataplanes'));
}

/** Every resource of a global-scoped type, page by page (zones and their insights: dozens, not millions). */
async function listAll(store: ResourceStore, type: ResourceKind): Promise<StoredResource[]> {
  const out: StoredResource[] = [];
  for (let offset: number | undefined = 0; offset !== undefined;) {
    const page = await store.list(type, { limit: MAX_PAGE_SIZE, offset });
    out.push(...page.items);
    offset = page.next;
  }
  return out;
}
