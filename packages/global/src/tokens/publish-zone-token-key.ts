import {
  AlreadyExistsError, type Logger, type ResourceKey, type ResourceStore, VersionConflictError, ZONE_TOKEN_PUBLIC_KEY_NAME,
  ZoneTokenPublicKeySpec, type ZoneTokens,
} from '@meshfed/shared';

type PublicJwk = ReturnType<ZoneTokens['publicJwk']>;

const KEY: ResourceKey = { type: 'ZoneTokenPublicKey', name: ZONE_TOKEN_PUBLIC_KEY_NAME };
/** Replicas that start together converge in a round or two; more than this means something else is writing. */
const ATTEMPTS = 5;

export type PublishOutcome = 'created' | 'updated' | 'unchanged';

/**
 * Keeps global's public zone-token key in the store as the ZoneTokenPublicKey that KDS sends to every
 * zone. Written only when absent or different, and only conditionally on the version read, so replicas
 * starting together on one store neither fight nor emit a change event each: the loser of a race reads
 * again and finds the winner's equal value.
 */
export async function publishZoneTokenPublicKey(store: ResourceStore, jwk: PublicJwk, options: { readonly log?: Logger } = {}): Promise<PublishOutcome> {
  // The same check a zone applies on receipt: a key global could not send is a bug here, not there.
  const spec = ZoneTokenPublicKeySpec.parse({ jwk });
  for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
    const existing = await store.get(KEY);
    if (existing && sameKey(existing.spec, spec)) return 'unchanged';
    try {
      await store.commit([{ op: 'put', resource: { ...KEY, labels: {}, spec }, expectedVersion: existing?.version ?? null }]);
    } catch (err) {
      if (err instanceof AlreadyExistsError || err instanceof VersionConflictError) continue;
      throw err;
    }
    options.log?.info({ kid: spec.jwk.kid, replaced: existing !== undefined }, 'published the zone token public key for zones');
    return existing ? 'updated' : 'created';
  }
  throw new Error(`ZoneTokenPublicKey "${ZONE_TOKEN_PUBLIC_KEY_NAME}" kept changing under us: not published after ${ATTEMPTS} attempts`);
}

function sameKey(stored: Readonly<Record<string, unknown>>, wanted: ZoneTokenPublicKeySpec): boolean {
  const parsed = ZoneTokenPublicKeySpec.safeParse(stored);
  if (!parsed.success) return false;
  const a = parsed.data.jwk;
  const b = wanted.jwk;
  return a.kid === b.kid && a.x === b.x && a.y === b.y && a.kty === b.kty && a.crv === b.crv && a.alg === b.alg && a.use === b.use;
}
