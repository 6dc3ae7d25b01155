import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Need } from '../auth/authorization.js';
import { z } from 'zod';
import { type DataplaneTokenIssuer, DataplaneTokens, MAX_DATAPLANE_TOKEN_VALIDITY_MS } from '../auth/dataplane-token.js';
import { BadRequestError } from '../errors/api-error.js';
import { access } from './access.js';
import { causesOf, required, sendToken, validForSchema } from './token-request.js';
import { durationToMs, meshNameSchema, resourceNameSchema, tagKeySchema, tagValueSchema } from '../resources/meta.js';
import type { ResourceStore } from '../store/resource-store.js';
import type { Logger } from '../telemetry/logger.js';

export const DATAPLANE_TOKEN_PATH = '/tokens/dataplane';

/** `POST /tokens/dataplane` body, Kuma's: `{ "mesh": "default", "name": "web-1", "tags": {...}, "validFor": "24h" }`. */
export const DataplaneTokenRequestBody = z
  .object(
    {
      mesh: z.string(required('a string')).pipe(meshNameSchema),
      name: z.string(required('a string')).pipe(resourceNameSchema),
      tags: z
        .record(z.string(), z.unknown(), { error: 'must be an object of tag names to values' })
        .superRefine((tags, ctx) => {
          // Checked here rather than by a keyed record so that each problem names its tag.
          for (const [k, v] of Object.entries(tags)) {
            const key = tagKeySchema.safeParse(k);
            if (!key.success) ctx.addIssue({ code: 'custom', path: [k], message: key.error.issues[0]?.message ?? 'invalid tag key' });
            if (typeof v !== 'string') ctx.addIssue({ code: 'custom', path: [k], message: 'must be a string' });
            else {
              const value = tagValueSchema.safeParse(v);
              if (!value.success) ctx.addIssue({ code: 'custom', path: [k], message: value.error.issues[0]?.message ?? 'invalid tag value' });
            }
          }
        })
        .transform((tags) => tags as Record<string, string>)
        .optional(),
      validFor: validForSchema('24h', MAX_DATAPLANE_TOKEN_VALIDITY_MS),
    },
    { error: (i) => (i.code === 'invalid_type' ? 'the body must be a JSON object with mesh, name, tags and validFor' : undefined) },
  )
  .strict();
export type DataplaneTokenRequestBody = z.infer<typeof DataplaneTokenRequestBody>;

/** A grant can be limited to the meshes it names: the body says which mesh the token is for. */
function dataplaneTokenNeed(request: FastifyRequest): Need {
  const mesh = (request.body as { mesh?: unknown } | undefined)?.mesh;
  return { action: 'GENERATE_DATAPLANE_TOKEN', ...(typeof mesh === 'string' ? { mesh } : {}) };
}

/** Serves `POST /tokens/dataplane`: the token as `text/plain`, bad bodies as 400 with the field of each problem. */
export function registerDataplaneTokenRoutes(app: FastifyInstance, tokens: DataplaneTokenIssuer): void {
  app.post(DATAPLANE_TOKEN_PATH, access(dataplaneTokenNeed), async (request, reply) => {
    const body = DataplaneTokenRequestBody.safeParse(request.body ?? undefined, { reportInput: true });
    if (!body.success) throw new BadRequestError('Invalid request', 'the dataplane token request is invalid', causesOf(body.error.issues, 'mesh, name, tags and validFor'));
    const { mesh, name, tags, validFor } = body.data;
    const token = await tokens.issue({ mesh, name, ...(tags ? { tags } : {}), validForMs: durationToMs(validFor) });
    return sendToken(reply, token);
  });
}

/**
 * Opens the zone's dataplane-token signing key in the store (creating it the first time) while the API
 * starts, then serves `POST /tokens/dataplane`. A key that cannot be opened fails the start.
 */
export function serveDataplaneTokens(app: FastifyInstance, ctx: { readonly store: ResourceStore; readonly log: Logger }): void {
  app.register(async (instance) => {
    registerDataplaneTokenRoutes(instance, await DataplaneTokens.open(ctx.store, { log: ctx.log }));
  });
}
