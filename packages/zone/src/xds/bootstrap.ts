import { access, meshNameSchema, NotFoundError, portSchema, resourceNameSchema, XDS_CA_PATH, XDS_SERVER_INFO_PATH, type XdsServerInfo } from '@meshfed/shared';
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { xdsHostFor } from './xds-routes.js';

export { ADS_CLUSTER_NAME, type BootstrapInput, DEFAULT_ADMIN_PORT, generateBootstrap } from '@meshfed/shared';

/**
 * `POST /bootstrap` body: Kuma's field names, the subset meshfed needs. Strict, so a typo
 * (`proxytype`) is a 400 naming the field instead of a bootstrap for the wrong proxy.
 */
export const BootstrapRequest = z
  .object({
    mesh: meshNameSchema.optional(),
    name: z.string({ error: (i) => (i.input === undefined ? 'is required' : 'must be a string') }).pipe(resourceNameSchema),
    proxyType: z.enum(['dataplane', 'ingress', 'egress'], { error: 'must be dataplane, ingress or egress' }).default('dataplane'),
    dataplaneToken: z.string({ error: 'must be a string' }).min(1, 'must not be empty').optional(),
    adminPort: portSchema.optional(),
  }, { error: (i) => (i.code === 'invalid_type' ? 'the body must be a JSON object with name, and mesh for a dataplane' : undefined) })
  .strict()
  .superRefine((b, ctx) => {
    // A dataplane's identity is <mesh>.<name>; ingresses and egresses serve every mesh and have none.
    if (b.proxyType === 'dataplane' && b.mesh === undefined) ctx.addIssue({ code: 'custom', path: ['mesh'], message: 'is required for a dataplane' });
    if (b.proxyType !== 'dataplane' && b.mesh !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['mesh'], message: `a zone ${b.proxyType} is not in a mesh: leave mesh out` });
    }
  });
export type BootstrapRequest = z.infer<typeof BootstrapRequest>;

export { XDS_CA_PATH };

/**
 * `GET /xds-ca.crt`: the CA a bootstrap embeds, for proxies not configured through `POST /bootstrap`
 * (and for comparing its fingerprint with the zone CP's log). A certificate is public; no key here.
 */
export function registerXdsCaRoute(app: FastifyInstance, caPem: string | undefined): void {
  app.get(XDS_CA_PATH, access('open'), async (_request, reply) => {
    if (caPem === undefined) throw new NotFoundError('this zone serves xDS without TLS (--xds-insecure): there is no xDS CA');
    return reply.header('content-type', 'application/x-pem-file').send(caPem);
  });
}

/**
 * `GET /xds-server`: where the ADS server is reached (the host the caller reached this API by, unless
 * xDS binds a specific address) and whether it speaks TLS, for `meshfed-dp`. Open like the CA: it
 * says where to connect, not how to get in.
 */
export function registerXdsServerRoute(app: FastifyInstance, xds: { readonly port: number; readonly address?: string; readonly tls: boolean }): void {
  app.get(XDS_SERVER_INFO_PATH, access('open'), async (request): Promise<XdsServerInfo> => ({
    host: xdsHostFor(request.headers.host, xds.address),
    port: xds.port,
    tls: xds.tls,
  }));
}
