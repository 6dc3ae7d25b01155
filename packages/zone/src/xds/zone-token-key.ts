import {
  type EventBus, type Logger, type ResourceKey, type ResourceStore, ZONE_TOKEN_PUBLIC_KEY_NAME, ZoneTokenPublicKeySpec, ZoneTokenVerifier,
} from '@meshfed/shared';

const KEY: ResourceKey = { type: 'ZoneTokenPublicKey', name: ZONE_TOKEN_PUBLIC_KEY_NAME };
/** After a failed store read; the next change event would retry too, but none may come. */
const RETRY_MS = 1000;

export interface ZoneTokenKeyWatcherOptions {
  readonly store: ResourceStore;
  readonly bus: EventBus;
  readonly log?: Logger;
  /** Milliseconds since the epoch, for the verifier's expiry checks; tests move it. */
  readonly now?: () => number;
}

/**
 * A federated zone's view of global's public zone-token key: a verifier built from the
 * ZoneTokenPublicKey that KDS keeps in the zone's store, rebuilt when it changes, gone when it is
 * deleted. Driven by change events; the store is read again on each, so events may be coalesced.
 */
export class ZoneTokenKeyWatcher {
  #verifier: ZoneTokenVerifier | undefined;
  /** The stored version the current state was built from (also for a stored key that was unusable). */
  #version: string | undefined;
  #chain: Promise<void> = Promise.resolve();
  #queued = false;
  #closed = false;
  #retry: NodeJS.Timeout | undefined;
  readonly #unsubscribe: () => void;

  private constructor(private readonly o: ZoneTokenKeyWatcherOptions) {
    // Subscribed before the first read, so that a key arriving in between is not missed.
    this.#unsubscribe = o.bus.subscribe((events) => {
      if (events.some((e) => e.type === KEY.type && e.name === KEY.name)) this.#schedule();
    });
  }

  /** Reads the stored key once before answering, so `current()` is right from the start. */
  static async start(options: ZoneTokenKeyWatcherOptions): Promise<ZoneTokenKeyWatcher> {
    const w = new ZoneTokenKeyWatcher(options);
    w.#schedule();
    await w.idle();
    return w;
  }

  /** The verifier for global's current key, or undefined while none has arrived. */
  current(): ZoneTokenVerifier | undefined {
    return this.#verifier;
  }

  /** Resolves once every change seen so far is applied. */
  async idle(): Promise<void> {
    let seen: Promise<void>;
    do {
      seen = this.#chain;
      await seen;
    } while (seen !== this.#chain);
  }

  close(): void {
    this.#closed = true;
    clearTimeout(this.#retry);
    this.#unsubscribe();
  }

  #schedule(): void {
    // One read waiting is enough: it sees every change committed before it runs.
    if (this.#queued || this.#closed) return;
    this.#queued = true;
    this.#chain = this.#chain.then(async () => {
      this.#queued = false;
      await this.#refresh();
    });
  }

  async #refresh(): Promise<void> {
    if (this.#closed) return;
    const log = this.o.log;
    let stored;
    try {
      stored = await this.o.store.get(KEY);
    } catch (err) {
      log?.warn({ err, retryInMs: RETRY_MS }, "could not read global's zone token public key; keeping the one in use");
      clearTimeout(this.#retry);
      this.#retry = setTimeout(() => this.#schedule(), RETRY_MS);
      this.#retry.unref();
      return;
    }
    if (!stored) {
      if (this.#verifier) log?.warn("global's zone token public key was removed: zone ingresses and egresses cannot connect until it is back");
      this.#verifier = undefined;
      this.#version = undefined;
      return;
    }
    if (stored.version === this.#version) return;
    this.#version = stored.version;
    const parsed = ZoneTokenPublicKeySpec.safeParse(stored.spec);
    if (!parsed.success) {
      const i = parsed.error.issues[0];
      log?.error({ version: stored.version }, `ZoneTokenPublicKey "${KEY.name}" is unusable (${i ? `${i.path.join('.')}: ${i.message}` : 'invalid'}): zone tokens cannot be verified`);
      this.#verifier = undefined;
      return;
    }
    try {
      this.#verifier = await ZoneTokenVerifier.fromPublicJwk(parsed.data.jwk, this.o.now ? { now: this.o.now } : {});
    } catch (err) {
      log?.error({ err, version: stored.version }, `ZoneTokenPublicKey "${KEY.name}" cannot be imported: zone tokens cannot be verified`);
      this.#verifier = undefined;
      return;
    }
    log?.info({ kid: this.#verifier.kid }, "verifying zone tokens with global's public key");
  }
}
