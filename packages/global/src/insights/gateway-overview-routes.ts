import {
  type ApiServerOptions, GATEWAY_OVERVIEW_PATH, gatewayOverviewAccess, LABEL_DISPLAY_NAME, LABEL_ZONE, meshGatewaysOverview, type MeshGatewaysOverview,
  readGatewayResources, type ResourceStore,
} from '@meshfed/shared';

type App = Parameters<NonNullable<ApiServerOptions['extraRoutes']>>[0];

/**
 * `GET /meshes/{mesh}/meshgateways/_overview` on global: every zone's builtin gateway instances (they
 * come up over KDS, renamed per zone) matched to the MeshGateways and routes applied here. Their xDS
 * state is held by the CP of their zone, which each instance names.
 */
export function registerGatewayOverviewRoute(app: App, store: ResourceStore): void {
  app.get<{ Params: { mesh: string } }>(GATEWAY_OVERVIEW_PATH, gatewayOverviewAccess, async (request): Promise<MeshGatewaysOverview> => {
    const { mesh } = request.params;
    const { gateways, routes, dataplanes } = await readGatewayResources(store, mesh);
    return meshGatewaysOverview({
      mesh, zone: null, gateways, routes,
      dataplanes: dataplanes.map((dp) => {
        const zone = dp.labels[LABEL_ZONE] ?? '';
        return { name: dp.labels[LABEL_DISPLAY_NAME] ?? dp.name, spec: dp.spec, zone, sync: { insightOn: zone } };
      }),
    });
  });
}
