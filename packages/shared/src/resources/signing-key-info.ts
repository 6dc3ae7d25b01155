import { z } from 'zod';

/**
 * Signing keys rotate by serial number (Kuma's model): the newest serial signs, every present serial
 * verifies, and removing a serial invalidates every token it signed. Serial 1 keeps the name the only
 * key always had (`zone-token-signing-key`), so stores written before rotation existed keep working;
 * serial N > 1 is `<name>-<N>`, as Kuma names its keys. The same names serve the GlobalSecrets that
 * hold the keys and the ZoneTokenPublicKeys global publishes for them.
 */
export const MAX_SIGNING_KEYS = 10;
/** Far beyond anything MAX_SIGNING_KEYS lets one reach, and short enough to stay a safe integer and a short name. */
export const MAX_SIGNING_KEY_SERIAL = 999_999;

/** The name of serial `serial` of the keys named after `base`. */
export function signingKeyName(base: string, serial: number): string {
  return serial === 1 ? base : `${base}-${serial}`;
}

/** The serial a name stands for among the keys named after `base`, or undefined when it is not one of them. */
export function signingKeySerialOf(base: string, name: string): number | undefined {
  if (name === base) return 1;
  if (!name.startsWith(`${base}-`)) return undefined;
  const rest = name.slice(base.length + 1);
  // No leading zero and no 1: each serial has exactly one name.
  if (!/^[1-9][0-9]{0,5}$/.test(rest)) return undefined;
  const serial = Number(rest);
  return serial >= 2 && serial <= MAX_SIGNING_KEY_SERIAL ? serial : undefined;
}

/** What the API tells about a signing key: never private material. */
export const SigningKeyInfo = z.object({
  serial: z.number().int().positive(),
  /** The RFC 7638 thumbprint of its public key, the `kid` in the header of every token it signed. */
  kid: z.string().min(1),
  /** When it was created (RFC 3339). */
  createdAt: z.string().min(1),
  /** True for the newest: the one that signs new tokens. */
  signing: z.boolean(),
});
export type SigningKeyInfo = z.infer<typeof SigningKeyInfo>;

/** `GET /tokens/<kind>/signing-keys`: every present key, oldest serial first. */
export const SigningKeyList = z.object({ items: z.array(SigningKeyInfo) });
export type SigningKeyList = z.infer<typeof SigningKeyList>;

/** The kinds of token whose keys rotate through the API, as the CLI and the paths name them. */
export const ROTATABLE_TOKEN_KINDS = ['zone', 'dataplane', 'user'] as const;
export type RotatableTokenKind = (typeof ROTATABLE_TOKEN_KINDS)[number];

/** `/tokens/zone/signing-keys` */
export const signingKeysPath = (kind: RotatableTokenKind): string => `/tokens/${kind}/signing-keys`;

/** A serial as a path or the CLI gives it: decimal digits only, so "0x10" or "1e2" are not read as numbers. */
export const SigningKeySerialSchema = z
  .string()
  .regex(/^[0-9]+$/, 'must be a serial number (1, 2, …)')
  .transform(Number)
  .pipe(z.number().min(1, 'must be 1 or more').max(MAX_SIGNING_KEY_SERIAL, `must be at most ${MAX_SIGNING_KEY_SERIAL}`));
