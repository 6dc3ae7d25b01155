import type { FastifyInstance } from 'fastify';
import {
  dataplaneNodeId, GATEWAY_OVERVIEW_PATH, gatewayOverviewAccess, LABEL_ORIGIN, meshGatewaysOverview, type MeshGatewaysOverview, readGatewayResources,
  type ResourceStore,
} from '@meshfed/shared';
import type { ProxyInsights } from './xds/proxy-insights.js';
import type { SnapshotCache } from './xds/snapshot-cache.js';
import { insightView } from './xds/xds-routes.js';

export interface GatewayOverviewRouteOptions {
  readonly store: ResourceStore;
  readonly zone: string;
  readonly insights: ProxyInsights;
  readonly cache: SnapshotCache;
  /** Why a proxy has no (or partial) configuration, known before it ever connects (the reconciler's explain). */
  readonly explain: (proxyId: string) => string | undefined;
}

/**
 * `GET /meshes/{mesh}/meshgateways/_overview` on a zone CP: this zone's builtin gateway instances,
 * each with its xDS insight as `…/dataplanes+insights` shows it (connected, per-type ACK/NACK, the
 * problem of its configuration), matched to the MeshGateways and routes global sent down.
 */
export function registerGatewayOverviewRoute(app: FastifyInstance, o: GatewayOverviewRouteOptions): void {
  app.get<{ Params: { mesh: string } }>(GATEWAY_OVERVIEW_PATH, gatewayOverviewAccess, async (request): Promise<MeshGatewaysOverview> => {
    const { mesh } = request.params;
    const { gateways, routes, dataplanes } = await readGatewayResources(o.store, mesh);
    return meshGatewaysOverview({
      mesh, zone: o.zone, gateways, routes,
      // Dataplanes are the zone's own; anything that came down from global runs elsewhere.
      dataplanes: dataplanes.filter((dp) => dp.labels[LABEL_ORIGIN] !== 'global').map((dp) => {
        const proxyId = dataplaneNodeId(mesh, dp.name);
        const insight = insightView(o.insights.get(proxyId), o.cache.get(proxyId));
        const problem = insight['problem'] ?? o.explain(proxyId);
        return { name: dp.name, spec: dp.spec, zone: o.zone, sync: { insight: { ...insight, ...(problem !== undefined ? { problem } : {}) } } };
      }),
    });
  });
}
