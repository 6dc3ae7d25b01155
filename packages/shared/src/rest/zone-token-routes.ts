import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { MAX_ZONE_TOKEN_VALIDITY_MS, ZoneTokens, type ZoneTokenIssuer, ZoneTokenScopeSchema } from '../auth/zone-token.js';
import { BadRequestError } from '../errors/api-error.js';
import { access } from './access.js';
import { causesOf, required, sendToken, validForSchema } from './token-request.js';
import { durationToMs, resourceNameSchema } from '../resources/meta.js';
import type { ResourceStore } from '../store/resource-store.js';
import type { Logger } from '../telemetry/logger.js';

export const ZONE_TOKEN_PATH = '/tokens/zone';

/** `POST /tokens/zone` body, Kuma's: `{ "zone": "zone-1", "scope": ["zone"], "validFor": "720h" }`. */
export const ZoneTokenRequestBody = z
  .object(
    {
      zone: z.string(required('a string')).pipe(resourceNameSchema),
      scope: z.array(ZoneTokenScopeSchema, required('an array of scopes')).min(1, 'must name at least one scope: zone, ingress or egress'),
      validFor: validForSchema('720h', MAX_ZONE_TOKEN_VALIDITY_MS),
    },
    { error: (i) => (i.code === 'invalid_type' ? 'the body must be a JSON object with zone, scope and validFor' : undefined) },
  )
  .strict();
export type ZoneTokenRequestBody = z.infer<typeof ZoneTokenRequestBody>;

/** Serves `POST /tokens/zone`: the token as `text/plain`, bad bodies as 400 with the field of each problem. */
export function registerZoneTokenRoutes(app: FastifyInstance, tokens: ZoneTokenIssuer): void {
  app.post(ZONE_TOKEN_PATH, access({ action: 'GENERATE_ZONE_TOKEN' }), async (request, reply) => {
    const body = ZoneTokenRequestBody.safeParse(request.body ?? undefined, { reportInput: true });
    if (!body.success) throw new BadRequestError('Invalid request', 'the zone token request is invalid', causesOf(body.error.issues, 'zone, scope and validFor'));
    const { zone, scope, validFor } = body.data;
    const token = await tokens.issue({ zone, scopes: scope, validForMs: durationToMs(validFor) });
    return sendToken(reply, token);
  });
}

/**
 * Opens the signing key in the store (creating it the first time) while the API starts, then serves
 * `POST /tokens/zone`. A key that cannot be opened fails the start.
 */
export function serveZoneTokens(app: FastifyInstance, ctx: { readonly store: ResourceStore; readonly log: Logger }): void {
  app.register(async (instance) => {
    registerZoneTokenRoutes(instance, await ZoneTokens.open(ctx.store, { log: ctx.log }));
  });
}

/** A federated zone does not issue zone tokens: it says where to get one instead of a bare 404. */
export function refuseZoneTokens(app: FastifyInstance): void {
  app.post(ZONE_TOKEN_PATH, access({ action: 'GENERATE_ZONE_TOKEN' }), async () => {
    throw new BadRequestError(
      'Not issued here',
      'zone tokens are issued by the global control plane: this zone is federated. Run "meshfed generate zone-token --cp <global API URL>"',
    );
  });
}
