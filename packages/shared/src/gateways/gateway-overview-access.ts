import type { FastifyRequest } from 'fastify';
import { authorize, NO_GRANTS, type Need } from '../auth/authorization.js';
import { ForbiddenError, UnauthenticatedError } from '../rest/access-control.js';
import { access } from '../rest/access.js';

/** Where both control planes answer the gateway overview of a mesh. */
export const GATEWAY_OVERVIEW_PATH = '/meshes/:mesh/meshgateways/_overview';

const inMesh = (request: FastifyRequest) => (request.params as { mesh: string }).mesh;

/**
 * The overview shows a mesh's MeshGateways, MeshGatewayRoutes and gateway Dataplanes. The route's rule
 * is READ on MeshGateway in the mesh; the two other reads are checked by the built-in rules only
 * (without AccessRoles, like `_resources/dataplanes`' second right): they can refuse what a role would
 * grant, never grant what the rules refuse.
 */
async function requireRoutesAndDataplanesRead(request: FastifyRequest): Promise<void> {
  for (const type of ['MeshGatewayRoute', 'Dataplane']) {
    const d = authorize(request.principal, { action: 'READ', type, mesh: inMesh(request) }, NO_GRANTS);
    if (!d.allowed) throw d.status === 401 ? new UnauthenticatedError(d.reason) : new ForbiddenError(d.reason);
  }
}

/** The route options of the gateway overview: its access rule and the reads it also needs. */
export const gatewayOverviewAccess = {
  ...access((request): Need => ({ action: 'READ', type: 'MeshGateway', mesh: inMesh(request) })),
  preHandler: requireRoutesAndDataplanesRead,
};
