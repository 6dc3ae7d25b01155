import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { ADMIN_TOKEN_SECRET, loadOrCreateAdminToken, readAdminToken } from '../auth/admin-token.js';
import { MAX_USER_TOKEN_VALIDITY_MS, type UserTokens } from '../auth/user-token.js';
import { GroupsSchema, SubjectNameSchema } from '../resources/access-role.js';
import { BadRequestError, NotFoundError } from '../errors/api-error.js';
import { durationToMs } from '../resources/meta.js';
import type { ResourceStore } from '../store/resource-store.js';
import { access } from './access.js';
import { causesOf, required, sendToken, validForSchema } from './token-request.js';

export const USER_TOKEN_PATH = '/tokens/user';
/** Kuma's path: the admin token as a GlobalSecret, to loopback only. */
export const ADMIN_TOKEN_PATH = `/global-secrets/${ADMIN_TOKEN_SECRET}`;

/** `POST /tokens/user` body, Kuma's: `{ "name": "john.doe@example.com", "groups": ["users"], "validFor": "24h" }`. */
export const UserTokenRequestBody = z
  .object(
    {
      name: z.string(required('a string')).pipe(SubjectNameSchema),
      groups: GroupsSchema.default([]),
      validFor: validForSchema('24h', MAX_USER_TOKEN_VALIDITY_MS),
    },
    { error: (i) => (i.code === 'invalid_type' ? 'the body must be a JSON object with name, groups and validFor' : undefined) },
  )
  .strict();
export type UserTokenRequestBody = z.infer<typeof UserTokenRequestBody>;

/** `POST /tokens/user` (GENERATE_USER_TOKEN) and the loopback-only `GET /global-secrets/admin-user-token`. */
export function registerUserTokenRoutes(app: FastifyInstance, o: { readonly tokens: UserTokens; readonly store: ResourceStore }): void {
  app.post(USER_TOKEN_PATH, access({ action: 'GENERATE_USER_TOKEN' }), async (request, reply) => {
    const body = UserTokenRequestBody.safeParse(request.body ?? undefined, { reportInput: true });
    if (!body.success) throw new BadRequestError('Invalid request', 'the user token request is invalid', causesOf(body.error.issues, 'name, groups and validFor'));
    const { name, groups, validFor } = body.data;
    const { token } = await o.tokens.issue({ name, groups, validForMs: durationToMs(validFor) });
    return sendToken(reply, token);
  });

  app.get(ADMIN_TOKEN_PATH, access('loopback'), async (_request, reply) => {
    // Replaced first if it stopped verifying (revoked, or its signing key removed) since the start.
    await loadOrCreateAdminToken(o.store, o.tokens);
    const token = await readAdminToken(o.store);
    if (token === undefined) throw new NotFoundError('the admin user token has not been created yet');
    // Kuma's shape, so `jq -r .data | base64 -d` works as it does there.
    return reply.header('cache-control', 'no-store').send({ type: 'GlobalSecret', name: ADMIN_TOKEN_SECRET, data: Buffer.from(token).toString('base64') });
  });
}
