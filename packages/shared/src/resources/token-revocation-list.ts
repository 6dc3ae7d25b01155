import { z } from 'zod';
import { defineResource } from './descriptor.js';

/** The kinds of token a control plane can revoke; each has one list, named `<kind>-tokens`. */
export const REVOCABLE_TOKEN_KINDS = ['zone', 'dataplane', 'user'] as const;
export type RevocableTokenKind = (typeof REVOCABLE_TOKEN_KINDS)[number];

/** The TokenRevocationList that holds the revoked ids of one kind of token. */
export const revocationListName = (kind: RevocableTokenKind): string => `${kind}-tokens`;

/**
 * Ids kept per list. A list is one resource, read whole by every verifier and sent whole over KDS:
 * 10,000 UUIDs are about 400 kB, well inside a KDS message.
 */
export const MAX_REVOKED_TOKEN_IDS = 10_000;

const JWT = /^[\w-]+\.[\w-]+\.[\w-]+$/;

/** A token's `jti`: meshfed issues UUIDs; anything printable and short is accepted for tokens of elsewhere. */
export const TokenIdSchema = z.string().superRefine((id, ctx) => {
  // One message per mistake; a whole token is the likely one, and its value must not be echoed.
  const problem = id === '' ? 'must not be empty'
    : JWT.test(id) && id.length > 128 ? 'must be the token id (the "jti" of its payload), not the token itself'
    : id.length > 128 ? 'must be at most 128 characters'
    : !/^[A-Za-z0-9._:-]+$/.test(id) ? "must contain only letters, digits, '.', '_', ':' and '-'"
    : undefined;
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
});

export const TokenRevocationListSpec = z
  .object({
    ids: z
      .array(TokenIdSchema)
      .max(MAX_REVOKED_TOKEN_IDS, `must hold at most ${MAX_REVOKED_TOKEN_IDS} ids`)
      .refine((ids) => new Set(ids).size === ids.length, 'must not repeat an id'),
  })
  .strict();
export type TokenRevocationListSpec = z.infer<typeof TokenRevocationListSpec>;

/**
 * The ids of revoked tokens of one kind, written by the control plane on `POST /tokens/…/revocations`.
 * Only global's zone-token list goes to zones over KDS (zones verify their ingresses' and egresses'
 * zone tokens); a zone's dataplane-token list stays in the zone that issued the tokens.
 */
export const TokenRevocationListDescriptor = defineResource({
  kind: 'TokenRevocationList', plural: 'token-revocation-lists', singular: 'token-revocation-list', scope: 'global', owner: 'system',
  kds: ['global-to-zone'], spec: TokenRevocationListSpec,
});

/** What `POST /tokens/<kind>/revocations` answers: revoking is idempotent, `outcome` says whether it was already. */
export const RevocationAnswer = z.object({
  kind: z.enum(REVOCABLE_TOKEN_KINDS),
  id: z.string(),
  outcome: z.enum(['revoked', 'already-revoked']),
});
export type RevocationAnswer = z.infer<typeof RevocationAnswer>;
export type RevokeOutcome = RevocationAnswer['outcome'];

/** What `GET /tokens/<kind>/revocations` answers: the revoked ids, oldest first. */
export const RevocationListAnswer = z.object({ kind: z.enum(REVOCABLE_TOKEN_KINDS), total: z.number().int(), ids: z.array(z.string()) });
export type RevocationListAnswer = z.infer<typeof RevocationListAnswer>;

/** Whether global sends this resource of a synced type to zones: of the revocation lists, only zone tokens'. */
export function sentToZones(r: { readonly type: string; readonly name: string }): boolean {
  return r.type !== TokenRevocationListDescriptor.kind || r.name === revocationListName('zone');
}
