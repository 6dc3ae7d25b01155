import { type Metadata, status } from '@grpc/grpc-js';
import { KDS_METADATA, type StreamCredential, type ZoneTokenFailure, type ZoneTokens, ZoneTokenError } from '@meshfed/shared';

export interface AuthenticatedZone {
  readonly zone: string;
  readonly zoneCpVersion: string;
  readonly connectionId: string;
  /** The zone token it presented: revoking it, or removing its signing key, ends the zone's streams. */
  readonly credential: StreamCredential;
}

export type AuthOutcome =
  | { readonly ok: true; readonly zone: AuthenticatedZone }
  | { readonly ok: false; readonly code: status; readonly failure: ZoneTokenFailure | 'undeclared'; readonly reason: string; readonly declared: string };

const first = (md: Metadata, key: string) => {
  const v = md.get(key)[0];
  return typeof v === 'string' ? v : v?.toString();
};

/**
 * Every KDS call carries a zone token (scope `zone`) and the zone's declared name; the two must agree.
 * The reason of a refusal says which check failed, for the zone's log and global's.
 */
export async function authenticateZone(md: Metadata, tokens: ZoneTokens): Promise<AuthOutcome> {
  const declared = first(md, KDS_METADATA.zone) ?? '';
  if (!declared) return { ok: false, code: status.UNAUTHENTICATED, failure: 'undeclared', reason: `the zone did not declare its name (metadata ${KDS_METADATA.zone})`, declared };
  const header = first(md, KDS_METADATA.authorization);
  const token = header?.match(/^Bearer\s+(\S+)$/i)?.[1];
  let verified;
  try {
    verified = await tokens.verify(token ?? (header ? 'malformed' : undefined), { zone: declared, scope: 'zone' });
  } catch (err) {
    if (err instanceof ZoneTokenError) return { ok: false, code: status.UNAUTHENTICATED, failure: err.reason, reason: err.message, declared };
    throw err;
  }
  return {
    ok: true,
    zone: {
      zone: declared, zoneCpVersion: first(md, KDS_METADATA.version) ?? 'unknown', connectionId: first(md, 'x-meshfed-connection') ?? 'unknown',
      credential: { kind: 'zone', id: verified.id, kid: verified.kid },
    },
  };
}
