import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { RevocationList } from '../auth/revocation-list.js';
import { BadRequestError } from '../errors/api-error.js';
import {
  type RevocableTokenKind, type RevocationAnswer, type RevocationListAnswer, TokenIdSchema, TokenRevocationListDescriptor,
} from '../resources/token-revocation-list.js';
import { access } from './access.js';
import { causesOf, required } from './token-request.js';

/** `/tokens/zone/revocations`, `/tokens/dataplane/revocations`, `/tokens/user/revocations`. */
export const revocationsPath = (kind: RevocableTokenKind): string => `/tokens/${kind}/revocations`;

/** `POST /tokens/<kind>/revocations` body: `{ "id": "<the token's jti>" }`. */
export const RevocationRequestBody = z
  .object(
    { id: z.string(required('a string: the token id (its "jti")')).pipe(TokenIdSchema) },
    { error: (i) => (i.code === 'invalid_type' ? 'the body must be a JSON object with the id of the token to revoke' : undefined) },
  )
  .strict();
export type RevocationRequestBody = z.infer<typeof RevocationRequestBody>;

const readAccess = access({ action: 'READ', type: TokenRevocationListDescriptor.kind });

function listRoute(app: FastifyInstance, list: RevocationList): void {
  app.get(revocationsPath(list.kind), readAccess, async (): Promise<RevocationListAnswer> => {
    const ids = list.ids();
    return { kind: list.kind, total: ids.length, ids };
  });
}

/**
 * Serves `POST /tokens/<kind>/revocations` (revoke one token by id; open streams it authenticated end
 * at once) and `GET` of the same path (the revoked ids). Bad bodies are 400s with the field of each problem.
 */
export function registerRevocationRoutes(app: FastifyInstance, list: RevocationList): void {
  app.post(revocationsPath(list.kind), access({ action: 'REVOKE_TOKEN' }), async (request): Promise<RevocationAnswer> => {
    const body = RevocationRequestBody.safeParse(request.body ?? undefined);
    if (!body.success) throw new BadRequestError('Invalid request', `the ${list.kind} token revocation is invalid`, causesOf(body.error.issues, 'id'));
    const { id } = body.data;
    return { kind: list.kind, id, outcome: await list.revoke(id) };
  });
  listRoute(app, list);
}

/**
 * A federated zone does not revoke zone tokens: global does, and its list reaches the zone over KDS.
 * The zone still shows the list it received.
 */
export function refuseZoneTokenRevocations(app: FastifyInstance, received: RevocationList): void {
  app.post(revocationsPath('zone'), access({ action: 'REVOKE_TOKEN' }), async () => {
    throw new BadRequestError(
      'Not revoked here',
      'zone tokens are revoked on the global control plane, and the revocation reaches every zone over KDS: this zone is federated. Run "meshfed revoke zone-token ID --cp <global API URL>"',
    );
  });
  listRoute(app, received);
}
