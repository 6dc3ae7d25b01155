import {
  AlreadyExistsError, type Logger, NotFoundError, type ResourceKey, type ResourceStore, type SigningKeyRing, signingKeyName, signingKeySerialOf,
  VersionConflictError, ZONE_TOKEN_PUBLIC_KEY_NAME, ZONE_TOKEN_SIGNING_KEY, ZoneTokenPublicKeySpec, type ZoneTokens,
} from '@meshfed/shared';

type PublicJwk = ReturnType<ZoneTokens['publicJwk']>;
/** Replicas that start together converge in a round or two; more than this means something else is writing. */
const ATTEMPTS = 5;
/** After a failed sync; no change event may come to retry it. */
const RETRY_MS = 1000;

export type PublishOutcome = 'created' | 'updated' | 'unchanged';

/**
 * Keeps global's public zone-token key in the store as the ZoneTokenPublicKey that KDS sends to every
 * zone. Written only when absent or different, and only conditionally on the version read, so replicas
 * starting together on one store neither fight nor emit a change event each: the loser of a race reads
 * again and finds the winner's equal value.
 */
export async function publishZoneTokenPublicKey(
  store: ResourceStore, jwk: PublicJwk, options: { readonly log?: Logger; readonly serial?: number } = {},
): Promise<PublishOutcome> {
  const serial = options.serial ?? 1;
  const KEY: ResourceKey = { type: 'ZoneTokenPublicKey', name: signingKeyName(ZONE_TOKEN_PUBLIC_KEY_NAME, serial) };
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
    options.log?.info({ kid: spec.jwk.kid, serial, replaced: existing !== undefined }, `published zone token public key serial ${serial} for zones`);
    return existing ? 'updated' : 'created';
  }
  throw new Error(`ZoneTokenPublicKey "${KEY.name}" kept changing under us: not published after ${ATTEMPTS} attempts`);
}

function sameKey(stored: Readonly<Record<string, unknown>>, wanted: ZoneTokenPublicKeySpec): boolean {
  const parsed = ZoneTokenPublicKeySpec.safeParse(stored);
  if (!parsed.success) return false;
  const a = parsed.data.jwk;
  const b = wanted.jwk;
  return a.kid === b.kid && a.x === b.x && a.y === b.y && a.kty === b.kty && a.crv === b.crv && a.alg === b.alg && a.use === b.use;
}

/**
 * Makes the published ZoneTokenPublicKeys match the ring: one per present serial, named as its
 * GlobalSecret is, and none for a removed one, so that federated zones trust exactly global's keys.
 * A public key is deleted only when its GlobalSecret is gone from the store, not merely unknown to this
 * replica's ring yet: a replica a step behind never withdraws a key another has just added.
 */
export async function syncZoneTokenPublicKeys(store: ResourceStore, ring: SigningKeyRing, options: { readonly log?: Logger } = {}): Promise<void> {
  const present = new Set<number>();
  for (const k of ring.keys()) {
    present.add(k.serial);
    await publishZoneTokenPublicKey(store, k.publicJwk, { ...options, serial: k.serial });
  }
  let offset: number | undefined = 0;
  const published = [];
  while (offset !== undefined) {
    const page = await store.list('ZoneTokenPublicKey', { offset, limit: 1000 });
    published.push(...page.items);
    offset = page.next;
  }
  for (const r of published) {
    const serial = signingKeySerialOf(ZONE_TOKEN_PUBLIC_KEY_NAME, r.name);
    if (serial === undefined || present.has(serial)) continue;
    if (await store.get({ type: 'GlobalSecret', name: signingKeyName(ZONE_TOKEN_SIGNING_KEY, serial) })) continue;
    try {
      await store.commit([{ op: 'delete', key: { type: 'ZoneTokenPublicKey', name: r.name }, expectedVersion: r.version }]);
    } catch (err) {
      // Another replica withdrew it, or republished it for a key it knows of: either way, not ours to delete.
      if (err instanceof NotFoundError || err instanceof VersionConflictError) continue;
      throw err;
    }
    options.log?.info({ serial, kid: (r.spec.jwk as { kid?: unknown } | undefined)?.kid }, `withdrew zone token public key serial ${serial} from zones: its signing key was removed`);
  }
}

/**
 * Publishes the ring's keys now (before KDS starts, so that zones get them with their first sync), then
 * again whenever the ring changes, one sync at a time. Answers the function that stops it.
 */
export async function publishZoneTokenPublicKeys(store: ResourceStore, ring: SigningKeyRing, options: { readonly log?: Logger } = {}): Promise<() => void> {
  await syncZoneTokenPublicKeys(store, ring, options);
  let chain = Promise.resolve();
  let queued = false;
  let stopped = false;
  let retry: NodeJS.Timeout | undefined;
  const schedule = () => {
    if (queued || stopped) return;
    queued = true;
    chain = chain.then(async () => {
      queued = false;
      if (stopped) return;
      try {
        await syncZoneTokenPublicKeys(store, ring, options);
      } catch (err) {
        // Zones keep the keys they have meanwhile: a removed key still verifies there until this succeeds.
        options.log?.error({ err, retryInMs: RETRY_MS }, 'could not publish the zone token public keys for zones');
        clearTimeout(retry);
        retry = setTimeout(schedule, RETRY_MS);
        retry.unref();
      }
    });
  };
  const unsubscribe = ring.onChange(schedule);
  return () => {
    stopped = true;
    clearTimeout(retry);
    unsubscribe();
  };
}
