import { type CryptoKey, importJWK, type JWK } from 'jose';
import { AlreadyExistsError, ApiError, NotFoundError, VersionConflictError } from '../errors/api-error.js';
import type { EventBus } from '../events/event-bus.js';
import type { StoredResource } from '../resources/resource.js';
import { MAX_SIGNING_KEYS, MAX_SIGNING_KEY_SERIAL, signingKeyName, signingKeySerialOf, type SigningKeyInfo } from '../resources/signing-key-info.js';
import type { ResourceStore } from '../store/resource-store.js';
import { SerialRefresher } from '../store/serial-refresh.js';
import type { Logger } from '../telemetry/logger.js';
import { SigningKeyError } from './errors.js';
import { decodeSigningKey, generateSigningKeyData, type SigningKey, ZONE_TOKEN_ALG } from './signing-key.js';
import type { StreamGuard, StreamCredential } from './stream-guard.js';

export interface SigningKeyRingOptions {
  readonly store: ResourceStore;
  /**
   * Where other replicas' changes arrive (and, on a zone, KDS's): the ring follows them, so replicas on
   * one store converge without polling. Without one, the ring sees only the changes it makes itself.
   */
  readonly bus?: EventBus;
  /** Serial 1's GlobalSecret; serial N's is `<secretName>-<N>`. */
  readonly secretName: string;
  /** What the keys sign, for log lines and messages: "zone token". */
  readonly purpose: string;
  readonly log?: Logger;
}

/** A present key: the private half stays in `key` (not logged, no toJSON). */
export interface RingKey {
  readonly serial: number;
  readonly kid: string;
  /** RFC 3339: when its GlobalSecret was created. */
  readonly createdAt: string;
  readonly key: SigningKey;
  /** The public half, imported, for verifying. */
  readonly verifyKey: CryptoKey;
  /** `kty`, `crv`, `x`, `y`, `kid`, `alg`, `use`: safe to publish. */
  readonly publicJwk: JWK;
}

export interface SigningKeyRef {
  readonly serial: number;
  readonly kid: string;
}

/** What one refresh changed, in this process's view. */
export interface KeyRingChange {
  readonly added: readonly SigningKeyRef[];
  readonly removed: readonly SigningKeyRef[];
}

export type KeyRingListener = (change: KeyRingChange) => void;

/** A create or remove that loses a race reads again; more rounds than this means something else is writing. */
const ATTEMPTS = 8;

interface Held {
  readonly version: string;
  readonly key: RingKey;
}

/**
 * The signing keys of one kind of token, by serial (Kuma's rotation): the newest serial signs, every
 * present serial verifies, and removing a serial refuses every token it signed from then on. Kept in
 * GlobalSecrets (see signingKeyName), loaded once, then kept current by the store's change events, so
 * `signer()` and `verificationKeys()` answer synchronously from memory. Reads and this process's writes
 * run one after the other, so the ring never goes back to a state older than one it has seen.
 */
export class SigningKeyRing {
  readonly purpose: string;
  readonly #o: SigningKeyRingOptions;
  readonly #listeners = new Set<KeyRingListener>();
  readonly #unsubscribe: () => void;
  readonly #refresher: SerialRefresher;
  /** By GlobalSecret name. */
  #held = new Map<string, Held>();
  #keys: readonly RingKey[] = [];
  #byKid: ReadonlyMap<string, CryptoKey> = new Map();
  /** The highest serial named in the store, usable or not. */
  #highestStoredSerial = 0;

  private constructor(o: SigningKeyRingOptions) {
    this.#o = o;
    this.purpose = o.purpose;
    this.#refresher = new SerialRefresher({
      refresh: () => this.#load(false),
      log: o.log,
      failure: { fields: { purpose: o.purpose }, message: `could not read the ${o.purpose} signing keys; keeping the ones in use` },
    });
    // Subscribed before the first read, so that a key added or removed in between is not missed.
    this.#unsubscribe = o.bus?.subscribe((events) => {
      if (events.some((e) => e.type === 'GlobalSecret' && signingKeySerialOf(o.secretName, e.name) !== undefined)) this.#refresher.schedule();
    }) ?? (() => {});
  }

  /**
   * Loads every present key, creating serial 1 when there is none (every replica and restart ends up
   * with the same one: the create is conditional). Stored keys none of which can be used fail the open:
   * they are never overwritten, as replacing them would silently invalidate every token they signed.
   */
  static async open(options: SigningKeyRingOptions): Promise<SigningKeyRing> {
    const ring = new SigningKeyRing(options);
    try {
      await ring.#refresher.run(async () => {
        for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
          await ring.#load(true);
          if (ring.#keys.length > 0) return;
          // Whoever wins the create, the next load reads the winner's key.
          await ring.#create(1);
        }
        throw new SigningKeyError(`the ${options.purpose} signing key (GlobalSecret "${options.secretName}") could be neither created nor read after ${ATTEMPTS} attempts`);
      });
    } catch (err) {
      ring.close();
      throw err;
    }
    return ring;
  }

  /** The newest key: it signs every new token. */
  signer(): RingKey {
    const newest = this.#keys.at(-1);
    // Only when every key was deleted behind the ring's back (GlobalSecrets written by hand).
    if (!newest) throw new SigningKeyError(`there is no ${this.purpose} signing key: add one ("meshfed signing-keys add ${this.purpose.replace(' ', '-')}")`);
    return newest;
  }

  /** The public key of every present serial, by kid. The same map until the keys change. */
  verificationKeys(): ReadonlyMap<string, CryptoKey> {
    return this.#byKid;
  }

  /** Every present key, oldest serial first. */
  keys(): readonly RingKey[] {
    return this.#keys;
  }

  /** What the API tells about them: no key material. */
  info(): SigningKeyInfo[] {
    const newest = this.#keys.at(-1)?.serial;
    return this.#keys.map((k) => ({ serial: k.serial, kid: k.kid, createdAt: k.createdAt, signing: k.serial === newest }));
  }

  /** `listener` hears of every key added or removed from now on, whoever did it. Answers the unsubscribe. */
  onChange(listener: KeyRingListener): () => void {
    this.#listeners.add(listener);
    return () => void this.#listeners.delete(listener);
  }

  /**
   * Creates serial max+1, which signs from now on (on every replica once its event arrives). Refused
   * beyond MAX_SIGNING_KEYS. Racing replicas each get a serial of their own.
   */
  add(): Promise<SigningKeyInfo> {
    return this.#refresher.run(async () => {
      for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
        await this.#load(false);
        if (this.#keys.length >= MAX_SIGNING_KEYS) {
          throw new ApiError(409, 'Too many signing keys', `there are already ${MAX_SIGNING_KEYS} ${this.purpose} signing keys, the most kept: remove an old one first`);
        }
        // The highest name in the store, usable or not, so a broken key's name is never taken over.
        const serial = this.#highestStoredSerial + 1;
        if (serial > MAX_SIGNING_KEY_SERIAL) throw new ApiError(409, 'No serial left', `${this.purpose} signing key serials are used up to ${MAX_SIGNING_KEY_SERIAL}`);
        if (!(await this.#create(serial))) continue;
        await this.#load(false);
        const info = this.info().find((k) => k.serial === serial);
        if (info) return info;
      }
      throw new Error(`${this.purpose} signing keys kept changing under us: no key added after ${ATTEMPTS} attempts`);
    });
  }

  /**
   * Deletes serial `serial`: every token it signed is refused from now on, and listeners hear of it
   * (they end the streams those tokens opened). The last key is never removed: another must sign.
   */
  remove(serial: number): Promise<SigningKeyInfo> {
    return this.#refresher.run(async () => {
      const { store, secretName, log } = this.#o;
      for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
        await this.#load(false);
        const name = signingKeyName(secretName, serial);
        const target = this.#held.get(name);
        if (!target) {
          const present = this.#keys.map((k) => k.serial).join(', ');
          throw new NotFoundError(`there is no ${this.purpose} signing key serial ${serial}; present: ${present || 'none'}`);
        }
        const others = [...this.#held.entries()].filter(([n]) => n !== name);
        if (others.length === 0) {
          throw new ApiError(409, 'Last signing key', `${this.purpose} signing key serial ${serial} is the only one and cannot be removed: add a new one first, then remove this one`);
        }
        // Rewriting another key unchanged, on its version, makes the delete conditional on it still being
        // there: two replicas removing the last two keys at once cannot both succeed.
        const [otherName, other] = others.at(-1)!;
        const otherStored = await store.get({ type: 'GlobalSecret', name: otherName });
        if (!otherStored || otherStored.version !== other.version) continue;
        const info = this.info().find((k) => k.serial === serial)!;
        try {
          await store.commit([
            { op: 'delete', key: { type: 'GlobalSecret', name }, expectedVersion: target.version },
            { op: 'put', resource: { type: 'GlobalSecret', name: otherName, labels: otherStored.labels, spec: otherStored.spec }, expectedVersion: other.version },
          ]);
        } catch (err) {
          if (err instanceof NotFoundError || err instanceof VersionConflictError || err instanceof AlreadyExistsError) continue;
          throw err;
        }
        log?.info({ serial, kid: info.kid, purpose: this.purpose }, `removed ${this.purpose} signing key serial ${serial}: the tokens it signed are refused from now on`);
        await this.#load(false);
        return info;
      }
      throw new Error(`${this.purpose} signing keys kept changing under us: serial ${serial} not removed after ${ATTEMPTS} attempts`);
    });
  }

  /** Resolves once every change seen so far is applied. */
  idle(): Promise<void> {
    return this.#refresher.idle();
  }

  close(): void {
    this.#refresher.close();
    this.#unsubscribe();
    this.#listeners.clear();
  }

  /** Conditional create of serial `serial`: false when another writer got there first. */
  async #create(serial: number): Promise<boolean> {
    const { store, secretName, log } = this.#o;
    const name = signingKeyName(secretName, serial);
    const fresh = await generateSigningKeyData();
    try {
      await store.commit([{ op: 'put', resource: { type: 'GlobalSecret', name, labels: {}, spec: { data: fresh.data } }, expectedVersion: null }]);
    } catch (err) {
      if (err instanceof AlreadyExistsError || err instanceof VersionConflictError) return false;
      throw err;
    }
    log?.info({ serial, kid: fresh.kid, purpose: this.purpose }, serial === 1 ? `created the ${this.purpose} signing key` : `added ${this.purpose} signing key serial ${serial}: it signs new tokens from now on`);
    return true;
  }

  /**
   * Reads every key from the store and applies what changed. A key that cannot be used is logged and
   * skipped (the ring keeps what it held under that name), unless `strict` (the open) and no key is
   * usable: then it is the error, as the store must be repaired, not silently given a fresh key.
   */
  async #load(strict: boolean): Promise<void> {
    const { secretName, log } = this.#o;
    const stored = await this.#listStored();
    const next = new Map<string, Held>();
    let firstError: SigningKeyError | undefined;
    let highest = 0;
    for (const r of stored) {
      const serial = signingKeySerialOf(secretName, r.name)!;
      highest = Math.max(highest, serial);
      const held = this.#held.get(r.name);
      if (held && held.version === r.version) {
        next.set(r.name, held);
        continue;
      }
      try {
        next.set(r.name, { version: r.version, key: await toRingKey(serial, r) });
      } catch (err) {
        if (!(err instanceof SigningKeyError)) throw err;
        firstError ??= err;
        log?.error({ serial, purpose: this.purpose }, `${err.message}: ${this.purpose} signing key serial ${serial} is not used`);
        if (held) next.set(r.name, held);
      }
    }
    if (strict && firstError && next.size === 0) throw firstError;
    this.#highestStoredSerial = highest;
    this.#apply(next);
  }

  async #listStored(): Promise<StoredResource[]> {
    const { store, secretName } = this.#o;
    const out: StoredResource[] = [];
    let offset: number | undefined = 0;
    while (offset !== undefined) {
      const page = await store.list('GlobalSecret', { offset, limit: 1000 });
      out.push(...page.items.filter((r) => signingKeySerialOf(secretName, r.name) !== undefined));
      offset = page.next;
    }
    return out;
  }

  #apply(next: Map<string, Held>): void {
    const before = new Map(this.#keys.map((k) => [k.kid, k]));
    this.#held = next;
    this.#keys = [...next.values()].map((h) => h.key).sort((a, b) => a.serial - b.serial);
    const after = new Map(this.#keys.map((k) => [k.kid, k]));
    const added = this.#keys.filter((k) => !before.has(k.kid)).map(refOf);
    const removed = [...before.values()].filter((k) => !after.has(k.kid)).map(refOf);
    if (added.length === 0 && removed.length === 0) return;
    this.#byKid = new Map(this.#keys.map((k) => [k.kid, k.verifyKey]));
    if (this.#refresher.closed) return;
    const { log } = this.#o;
    for (const k of removed) log?.info({ serial: k.serial, kid: k.kid, purpose: this.purpose }, `${this.purpose} signing key serial ${k.serial} is gone: the tokens it signed are refused`);
    if (before.size > 0 && added.length > 0) {
      const newest = this.#keys.at(-1)!;
      log?.info({ serial: newest.serial, kid: newest.kid, purpose: this.purpose, keys: this.#keys.length }, `${this.purpose} tokens are signed with serial ${newest.serial}`);
    }
    for (const listener of [...this.#listeners]) {
      try {
        listener({ added, removed });
      } catch (err) {
        log?.error({ err, purpose: this.purpose }, 'a signing key listener failed');
      }
    }
  }
}

const refOf = (k: RingKey): SigningKeyRef => ({ serial: k.serial, kid: k.kid });

async function toRingKey(serial: number, r: StoredResource): Promise<RingKey> {
  const key = await decodeSigningKey(r.spec, r.name);
  const verifyKey = await importJWK(key.publicJwk, ZONE_TOKEN_ALG);
  if (verifyKey instanceof Uint8Array) throw new SigningKeyError(`GlobalSecret "${r.name}" does not hold an asymmetric key`);
  return { serial, kid: key.kid, createdAt: r.creationTime, key, verifyKey, publicJwk: key.publicJwk };
}

/** The sentence an ended stream and its logs carry when the key of its token is removed. */
export function removedKeyMessage(serial: number): string {
  return `signing key serial ${serial} was removed`;
}

/**
 * Ends the open streams opened with a token of a removed key, as soon as this process sees the removal
 * (its own, another replica's over the bus). Answers the function that stops doing so.
 */
export function endStreamsOnKeyRemoval(ring: SigningKeyRing, guard: StreamGuard, kind: StreamCredential['kind'], log?: Logger): () => void {
  return ring.onChange(({ removed }) => {
    for (const k of removed) {
      const ended = guard.endMatching((c) => c.kind === kind && c.kid === k.kid, removedKeyMessage(k.serial));
      if (ended > 0) log?.info({ tokenKind: kind, serial: k.serial, kid: k.kid, streams: ended }, `ended the open streams of ${kind} tokens signed by removed key serial ${k.serial}`);
    }
  });
}
