import { z } from 'zod';
import { defineResource } from './descriptor.js';

/**
 * The name global publishes signing key serial 1 under: the GlobalSecret whose public half it is.
 * Serial N is published as `<name>-<N>` (signingKeyName), one resource per present serial.
 */
export const ZONE_TOKEN_PUBLIC_KEY_NAME = 'zone-token-signing-key';

const base64url = (what: string) => z.string().min(1, 'must not be empty').regex(/^[A-Za-z0-9_-]+$/, `${what} must be base64url (A-Z, a-z, 0-9, '-', '_', no padding)`);
/** A P-256 coordinate is 32 bytes: 43 base64url characters without padding. */
const coordinate = (axis: string) => base64url(axis).length(43, `${axis} must be 43 base64url characters (a 32-byte P-256 coordinate)`);

/** An ES256 public key as a JWK, exactly as global's ZoneTokens.publicJwk() writes it. */
export const EcPublicJwk = z
  .object({
    kty: z.literal('EC'),
    crv: z.literal('P-256'),
    x: coordinate('x'),
    y: coordinate('y'),
    kid: base64url('kid'),
    alg: z.literal('ES256'),
    use: z.literal('sig'),
  })
  .strict();
export type EcPublicJwk = z.infer<typeof EcPublicJwk>;

export const ZoneTokenPublicKeySpec = z.object({ jwk: EcPublicJwk }).strict();
export type ZoneTokenPublicKeySpec = z.infer<typeof ZoneTokenPublicKeySpec>;

/**
 * The public half of one of global's zone-token signing keys, maintained by global (one per serial,
 * deleted when its key is removed) and sent to every zone, so that a federated zone can verify the
 * zone tokens of its ingresses and egresses. Public: the API serves it.
 */
export const ZoneTokenPublicKeyDescriptor = defineResource({
  kind: 'ZoneTokenPublicKey', plural: 'zone-token-public-keys', singular: 'zone-token-public-key', scope: 'global', owner: 'system',
  kds: ['global-to-zone'], spec: ZoneTokenPublicKeySpec,
});
