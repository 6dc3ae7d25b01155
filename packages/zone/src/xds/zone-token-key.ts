import {
  type EcPublicJwk, type EventBus, type Logger, type ResourceStore, SerialRefresher, type SigningKeyRef, signingKeySerialOf, type StoredResource,
  ZONE_TOKEN_PUBLIC_KEY_NAME, ZoneTokenPublicKeySpec, ZoneTokenVerifier,
} from '@meshfed/shared';

const TYPE = 'ZoneTokenPublicKey';

export interface ZoneTokenKeyWatcherOptions {
  readonly store: ResourceStore;
  readonly bus: EventBus;
  readonly log?: Logger;
  /** Milliseconds since the epoch, for the verifier's expiry checks; tests move it. */
  readonly now?: () => number;
  /** Global's zone-token revocations, as received over KDS (a RevocationList's check). */
  readonly isRevoked?: (id: string) => boolean;
  /** Told of the keys global withdrew (their signing key was removed), to end the streams their tokens opened. */
  readonly onKeysRemoved?: (removed: readonly SigningKeyRef[]) => void;
}

/**
 * A federated zone's view of global's public zone-token keys: a verifier built from every
 * ZoneTokenPublicKey that KDS keeps in the zone's store (one per signing key serial on global, so
 * tokens of every present serial verify), rebuilt when they change, gone when none is left. Driven by
 * change events; the store is read again on each, so events may be coalesced.
 */
export class ZoneTokenKeyWatcher {
  #verifier: ZoneTokenVerifier | undefined;
  /** The stored names and versions the current state was built from (also for stored keys that were unusable). */
  #versions: string | undefined;
  /** Kid to serial, of the keys the current verifier holds. */
  #kids = new Map<string, number>();
  readonly #refresher: SerialRefresher;
  readonly #unsubscribe: () => void;

  private constructor(private readonly o: ZoneTokenKeyWatcherOptions) {
    this.#refresher = new SerialRefresher({
      refresh: () => this.#refresh(),
      log: o.log,
      failure: { message: "could not read global's zone token public keys; keeping the ones in use" },
    });
    // Subscribed before the first read, so that a key arriving in between is not missed.
    this.#unsubscribe = o.bus.subscribe((events) => {
      if (events.some((e) => e.type === TYPE)) this.#refresher.schedule();
    });
  }

  /** Reads the stored key once before answering, so `current()` is right from the start. */
  static async start(options: ZoneTokenKeyWatcherOptions): Promise<ZoneTokenKeyWatcher> {
    const w = new ZoneTokenKeyWatcher(options);
    w.#refresher.schedule();
    await w.idle();
    return w;
  }

  /** The verifier for global's current keys, or undefined while none has arrived. */
  current(): ZoneTokenVerifier | undefined {
    return this.#verifier;
  }

  /** Resolves once every change seen so far is applied. */
  idle(): Promise<void> {
    return this.#refresher.idle();
  }

  close(): void {
    this.#refresher.close();
    this.#unsubscribe();
  }

  async #refresh(): Promise<void> {
    const log = this.o.log;
    const stored: StoredResource[] = [];
    let offset: number | undefined = 0;
    while (offset !== undefined) {
      const page = await this.o.store.list(TYPE, { offset, limit: 1000 });
      stored.push(...page.items);
      offset = page.next;
    }
    const versions = stored.map((r) => `${r.name}@${r.version}`).sort().join(',');
    if (versions === this.#versions) return;
    this.#versions = versions;
    // Oldest serial first, so that the verifier's newest key is global's signing one.
    const usable: { serial: number | undefined; jwk: EcPublicJwk }[] = [];
    for (const r of stored) {
      const parsed = ZoneTokenPublicKeySpec.safeParse(r.spec);
      if (!parsed.success) {
        const i = parsed.error.issues[0];
        log?.error({ version: r.version }, `ZoneTokenPublicKey "${r.name}" is unusable (${i ? `${i.path.join('.')}: ${i.message}` : 'invalid'}): the zone tokens it signed cannot be verified`);
        continue;
      }
      usable.push({ serial: signingKeySerialOf(ZONE_TOKEN_PUBLIC_KEY_NAME, r.name), jwk: parsed.data.jwk });
    }
    usable.sort((a, b) => (a.serial ?? Number.MAX_SAFE_INTEGER) - (b.serial ?? Number.MAX_SAFE_INTEGER));
    let verifier: ZoneTokenVerifier | undefined;
    const kids = new Map<string, number>();
    if (usable.length > 0) {
      try {
        verifier = await ZoneTokenVerifier.fromPublicJwks(usable.map((u) => u.jwk), {
          ...(this.o.now ? { now: this.o.now } : {}), ...(this.o.isRevoked ? { isRevoked: this.o.isRevoked } : {}),
        });
        for (const u of usable) kids.set(u.jwk.kid, u.serial ?? 0);
      } catch (err) {
        log?.error({ err }, "global's zone token public keys cannot be imported: zone tokens cannot be verified");
      }
    }
    const removed = [...this.#kids].filter(([kid]) => !kids.has(kid)).map(([kid, serial]) => ({ kid, serial }));
    const hadKeys = this.#verifier !== undefined;
    this.#verifier = verifier;
    this.#kids = kids;
    if (verifier) log?.info({ kids: verifier.kids, serials: [...kids.values()] }, "verifying zone tokens with global's public keys");
    else if (hadKeys) log?.warn("global's last zone token public key was removed: zone ingresses and egresses cannot connect until one is back");
    if (removed.length > 0 && !this.#refresher.closed) {
      try {
        this.o.onKeysRemoved?.(removed);
      } catch (err) {
        log?.error({ err }, 'a zone token key listener failed');
      }
    }
  }
}
