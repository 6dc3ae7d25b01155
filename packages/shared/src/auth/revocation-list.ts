import { AlreadyExistsError, BadRequestError, VersionConflictError } from '../errors/api-error.js';
import type { EventBus } from '../events/event-bus.js';
import type { ResourceKey } from '../resources/resource.js';
import {
  MAX_REVOKED_TOKEN_IDS, type RevocableTokenKind, revocationListName, type RevokeOutcome, TokenIdSchema, TokenRevocationListDescriptor, TokenRevocationListSpec,
} from '../resources/token-revocation-list.js';
import type { ResourceStore } from '../store/resource-store.js';
import { SerialRefresher } from '../store/serial-refresh.js';
import type { Logger } from '../telemetry/logger.js';
import type { StreamGuard } from './stream-guard.js';

export interface RevocationListOptions {
  readonly store: ResourceStore;
  readonly bus: EventBus;
  readonly kind: RevocableTokenKind;
  readonly log?: Logger;
}

/** Called with the ids that became revoked, once each, in this process. */
export type RevokedListener = (ids: readonly string[]) => void;

/** Writers on one store (replicas, KDS) converge in a round or two; more means something else is wrong. */
const ATTEMPTS = 8;
/** Ids named one by one in a log line; beyond, only their count. */
const LOGGED_IDS = 20;

/** `zone token 6f1c… was revoked`: the one sentence every refusal and ended stream says. */
export function revokedMessage(kind: RevocableTokenKind, id: string): string {
  return `${kind} token ${id} was revoked`;
}

/**
 * The revoked ids of one kind of token, as a TokenRevocationList in the store: loaded once, then kept
 * current by the store's change events (its own writes, other replicas' over NATS, and on a federated
 * zone global's over KDS), so `isRevoked` answers synchronously from memory. Reads and this process's
 * writes run one after the other, so the set never goes back to a state older than one already seen.
 */
export class RevocationList {
  readonly kind: RevocableTokenKind;
  readonly #o: RevocationListOptions;
  readonly #key: ResourceKey;
  readonly #listeners = new Set<RevokedListener>();
  readonly #unsubscribe: () => void;
  readonly #refresher: SerialRefresher;
  #ids: ReadonlySet<string> = new Set();

  private constructor(o: RevocationListOptions) {
    this.#o = o;
    this.kind = o.kind;
    this.#key = { type: TokenRevocationListDescriptor.kind, name: revocationListName(o.kind) };
    this.#refresher = new SerialRefresher({
      refresh: () => this.#refresh(),
      log: o.log,
      failure: { fields: { tokenKind: o.kind }, message: `could not read the ${o.kind} token revocation list; keeping the one in use` },
    });
    // Subscribed before the first read, so that a revocation committed in between is not missed.
    this.#unsubscribe = o.bus.subscribe((events) => {
      if (events.some((e) => e.type === this.#key.type && e.name === this.#key.name)) this.#refresher.schedule();
    });
  }

  /** Reads the stored list before answering, so `isRevoked` is right from the start. */
  static async open(options: RevocationListOptions): Promise<RevocationList> {
    const list = new RevocationList(options);
    list.#refresher.schedule();
    await list.idle();
    return list;
  }

  /** The resource it is kept in (`TokenRevocationList/<kind>-tokens`). */
  get name(): string {
    return this.#key.name;
  }

  /** Bound, so verifiers can take it as their check. */
  readonly isRevoked = (id: string): boolean => this.#ids.has(id);

  ids(): string[] {
    return [...this.#ids];
  }

  get size(): number {
    return this.#ids.size;
  }

  /** `listener` hears of every id revoked from now on, whoever revoked it. Answers the unsubscribe. */
  onRevoked(listener: RevokedListener): () => void {
    this.#listeners.add(listener);
    return () => void this.#listeners.delete(listener);
  }

  /**
   * Adds `id` to the stored list; idempotent. Listeners have heard of it when this resolves. A bad id
   * or a full list is a BadRequestError with the cause on `id`.
   */
  revoke(id: string): Promise<RevokeOutcome> {
    const parsed = TokenIdSchema.safeParse(id);
    if (!parsed.success) {
      return Promise.reject(new BadRequestError('Invalid request', `the ${this.kind} token revocation is invalid`, [{ field: 'id', message: parsed.error.issues[0]!.message }]));
    }
    return this.#refresher.run(() => this.#revoke(id));
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

  async #revoke(id: string): Promise<RevokeOutcome> {
    const { store, log } = this.#o;
    for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
      const existing = await store.get(this.#key);
      const current = existing ? this.#parse(existing.spec, existing.version) : [];
      if (current === undefined) throw new Error(`${this.#key.type} "${this.#key.name}" in the store is unusable (its log line says why); revoke nothing until it is repaired`);
      if (current.includes(id)) {
        this.#apply(new Set(current));
        return 'already-revoked';
      }
      if (current.length >= MAX_REVOKED_TOKEN_IDS) {
        throw new BadRequestError('Revocation list full', `the ${this.kind} token revocation list holds ${MAX_REVOKED_TOKEN_IDS} ids, its limit`, [
          { field: 'id', message: `cannot be added: at most ${MAX_REVOKED_TOKEN_IDS} ${this.kind} tokens can be revoked; replace the signing key to invalidate tokens in bulk` },
        ]);
      }
      const spec: TokenRevocationListSpec = { ids: [...current, id] };
      try {
        await store.commit([{ op: 'put', resource: { ...this.#key, labels: {}, spec }, expectedVersion: existing?.version ?? null }]);
      } catch (err) {
        // Another writer got there between our read and our write: read theirs and try again.
        if (err instanceof AlreadyExistsError || err instanceof VersionConflictError) continue;
        throw err;
      }
      log?.info({ tokenKind: this.kind, tokenId: id }, `revoked ${this.kind} token ${id}`);
      this.#apply(new Set(spec.ids));
      return 'revoked';
    }
    throw new Error(`${this.#key.type} "${this.#key.name}" kept changing under us: ${this.kind} token ${id} not revoked after ${ATTEMPTS} attempts`);
  }

  async #refresh(): Promise<void> {
    const stored = await this.#o.store.get(this.#key);
    if (!stored) return this.#apply(new Set());
    const ids = this.#parse(stored.spec, stored.version);
    // An unusable list revokes nothing new, and un-revokes nothing either.
    if (ids !== undefined) this.#apply(new Set(ids));
  }

  #parse(spec: Readonly<Record<string, unknown>>, version: string): string[] | undefined {
    const parsed = TokenRevocationListSpec.safeParse(spec);
    if (parsed.success) return parsed.data.ids;
    const i = parsed.error.issues[0];
    this.#o.log?.error({ version, tokenKind: this.kind }, `${this.#key.type} "${this.#key.name}" is unusable (${i ? `${i.path.join('.') || 'spec'}: ${i.message}` : 'invalid'})`);
    return undefined;
  }

  #apply(ids: ReadonlySet<string>): void {
    const added = [...ids].filter((id) => !this.#ids.has(id));
    this.#ids = ids;
    if (added.length === 0 || this.#refresher.closed) return;
    this.#o.log?.info({ tokenKind: this.kind, count: added.length, ...(added.length <= LOGGED_IDS ? { tokenIds: added } : {}) }, `${this.kind} token revocations in effect`);
    for (const listener of [...this.#listeners]) {
      try {
        listener(added);
      } catch (err) {
        this.#o.log?.error({ err, tokenKind: this.kind }, 'a token revocation listener failed');
      }
    }
  }
}

/**
 * Ends the open streams of every token of `list` as soon as it is revoked, each with the reason the
 * stream's peer and logs see. Answers the function that stops doing so.
 */
export function endStreamsOnRevocation(list: RevocationList, guard: StreamGuard, log?: Logger): () => void {
  return list.onRevoked((ids) => {
    for (const id of ids) {
      const ended = guard.endMatching((c) => c.kind === list.kind && c.id === id, revokedMessage(list.kind, id));
      if (ended > 0) log?.info({ tokenKind: list.kind, tokenId: id, streams: ended }, `ended the open streams of revoked ${list.kind} token ${id}`);
    }
  });
}
