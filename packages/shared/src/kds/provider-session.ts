import { randomBytes } from 'node:crypto';
import type { ResourceKind } from '../resources/registry.js';
import { kindOfTypeUrl, typeUrlOf } from './envelope.js';
import type { DeltaObserver, KdsDirection } from './observer.js';
import { type Any, codec, type DeltaDiscoveryRequest, type DeltaDiscoveryResponse, KDS_REJECTION_TYPE_URL, KDS_RESOURCE_TYPE_URL } from './proto.js';
import { entryHash, StateHash } from './state-hash.js';

/**
 * One resource a provider can send: its key inside its type, its version, and the encoded message that
 * travels as the value of the resource's Any. A KDS Envelope is one; so is an xDS snapshot entry.
 */
export interface DeltaItem {
  readonly key: string;
  readonly version: string;
  readonly bytes: Uint8Array;
  /**
   * entryHash(key, version), when the item carries it (an xDS snapshot entry computes it once when it
   * is made): what the session needs on every push and ACK, read without a lookup.
   */
  readonly hash?: number;
}

/** What a provider can send: the current content of each type it provides, already filtered for this peer. */
export interface ProviderView<T extends string = ResourceKind> {
  get(type: T, key: string): DeltaItem | undefined;
  keys(type: T): Iterable<string>;
}

/** The protocol-specific edges of a delta stream: type URLs, the response encoding, NACK details. */
export interface DeltaWire<T extends string> {
  /** What a request's type_url names, or undefined when it names nothing this protocol knows. */
  typeOf(typeUrl: string): T | undefined;
  /** The type_url of responses for `type`. */
  typeUrl(type: T): string;
  /** The type_url of the Any each resource of `type` travels in. */
  resourceTypeUrl(type: T): string;
  encodeResponse(response: DeltaDiscoveryResponse): Buffer;
  /**
   * Optional: the bytes encodeResponse gives for the response of these items (each in an Any of
   * `resourceTypeUrl`) and removals, without the response object and its two objects per resource
   * (xDS: a push to thousands of proxies). Without it, the response object is built and encoded.
   */
  encodeItems?(typeUrl: string, nonce: string, version: string, resourceTypeUrl: string, items: readonly DeltaItem[], removed: readonly string[]): Buffer;
  /** The resources a NACK names as refused; none means the whole response was refused. */
  rejected(detail: { message?: string; details?: Any[] }): { name: string; version: string; error: string }[];
  /** How the protocol's message is called in errors ("KDS message"). */
  readonly messageName: string;
}

/** KDS on the wire: `meshfed.io/kds/<Kind>` type URLs, KdsResource Anys, KdsRejection NACK details. */
export const KDS_WIRE: DeltaWire<ResourceKind> = {
  typeOf: (url) => kindOfTypeUrl(url) as ResourceKind | undefined,
  typeUrl: typeUrlOf,
  resourceTypeUrl: () => KDS_RESOURCE_TYPE_URL,
  encodeResponse: (r) => codec.encodeResponse(r),
  rejected: rejectedOf,
  messageName: 'KDS message',
};

export interface ProviderOptions<T extends string = ResourceKind, D extends string = KdsDirection> {
  readonly direction: D;
  readonly types: readonly T[];
  readonly view: ProviderView<T>;
  readonly observer: DeltaObserver<T, D>;
  /** No response is larger than this (encoded); a single resource that cannot fit is refused alone. */
  readonly maxMessageBytes: number;
  readonly now?: () => number;
  /** The protocol; KDS when absent. Required for any other T. */
  readonly wire?: DeltaWire<T>;
}

/** A response ready for the wire. */
export interface Outbound<T extends string = ResourceKind> {
  readonly type: T;
  readonly nonce: string;
  readonly bytes: Buffer;
  /** The state the response brings the peer to (its system_version_info), and how many resources it carries. */
  readonly version: string;
  readonly resources: number;
}

/** The fields of a delta request the sender reads (KDS's and Envoy's DeltaDiscoveryRequest both have them). */
export type DeltaRequest = Pick<DeltaDiscoveryRequest, 'response_nonce' | 'initial_resource_versions' | 'error_detail'> & { type_url?: string };

interface InFlight {
  readonly nonce: string;
  /** The resources the response carries, as sent, and their entry hashes (same order). */
  readonly items: readonly DeltaItem[];
  readonly hashes: readonly number[];
  readonly removed: readonly string[];
  readonly sentAt: number;
  readonly version: string;
}

/** Per type: what the peer has, what is on its way, and what must not be sent again. */
interface TypeState {
  /** What the peer has, by key: the item it was sent (or, for what it said it had, one standing for it). */
  readonly peer: Map<string, DeltaItem>;
  readonly peerHash: StateHash;
  /**
   * Responses awaiting an answer: a few at most (one push, split to fit), so a list searched by
   * nonce rather than a map that hashes every ACK's fresh nonce string and reallocates as it empties.
   */
  readonly inFlight: InFlight[];
  /** Versions the peer refused, or the sender could not send: not sent again until the content changes. */
  readonly refused: Map<string, string>;
  /**
   * What changed since the last push: 'all', or the key lists given to `changed`, kept as given (xDS
   * passes one shared list per snapshot pair to thousands of sessions; copying each into a set per
   * session was a visible cost). Read-only: the lists are the callers'.
   */
  dirty: 'all' | (readonly string[])[];
}

const EMPTY_BYTES = new Uint8Array(0);
/** No response: one shared empty list (most calls, every ACK of a push, answer nothing). */
const NOTHING: readonly never[] = Object.freeze([]);

/**
 * Nonces only have to be unique among one stream's responses; a random prefix per process and a
 * counter make them unique across streams and restarts too, without 8 random bytes per response
 * (randomBytes was a visible share of a push to thousands of proxies).
 */
const NONCE_PREFIX = randomBytes(6).toString('hex');
let nonceCounter = 0;
const nextNonce = () => `${NONCE_PREFIX}${(++nonceCounter).toString(36)}`;

/**
 * entryHash by item object: an item shared by many sessions (an xDS resource every proxy of a shape
 * gets) is hashed once, not by each of thousands of sessions on its push and again on its ACK. The
 * key and version are checked, so an item object that were ever reused for other content stays right.
 */
const itemHashes = new WeakMap<DeltaItem, { readonly key: string; readonly version: string; readonly h: number }>();
function itemHash(e: DeltaItem): number {
  if (e.hash !== undefined) return e.hash;
  const c = itemHashes.get(e);
  if (c !== undefined && c.key === e.key && c.version === e.version) return c.h;
  const h = entryHash(e.key, e.version);
  itemHashes.set(e, { key: e.key, version: e.version, h });
  return h;
}

// Per-resource framing inside a DeltaDiscoveryResponse (tags, lengths, name, version, Any type URL).
const RESOURCE_OVERHEAD = 32;
const RESPONSE_OVERHEAD = 256;

export type RequestOutcome<T extends string = ResourceKind> =
  | { readonly kind: 'ok'; readonly out: readonly Outbound<T>[] }
  | { readonly kind: 'rejected'; readonly reason: 'unknown-type' | 'stale-nonce'; readonly detail: string };

/**
 * The sending side of a delta stream (KDS, or Envoy's delta xDS through a DeltaWire), as a plain value: requests and change notices go in,
 * responses come out; no I/O, no timers. One implementation serves both directions (global → zone and
 * zone → global). While a type has a response awaiting its ACK, changes only mark it dirty, and the
 * next response carries all of them together.
 */
export class ProviderSession<T extends string = ResourceKind, D extends string = KdsDirection> {
  readonly #o: ProviderOptions<T, D>;
  readonly #wire: DeltaWire<T>;
  readonly #provided: ReadonlySet<string>;
  readonly #types = new Map<T, TypeState>();
  readonly #now: () => number;

  constructor(options: ProviderOptions<T, D>) {
    this.#o = options;
    // Without a wire the session speaks KDS, whose types are resource kinds.
    this.#wire = options.wire ?? (KDS_WIRE as unknown as DeltaWire<T>);
    this.#provided = new Set(options.types);
    this.#now = options.now ?? Date.now;
  }

  handleRequest(req: DeltaRequest): RequestOutcome<T> {
    const type = this.#wire.typeOf(req.type_url ?? '');
    if (type === undefined || !this.#provided.has(type)) {
      return { kind: 'rejected', reason: 'unknown-type', detail: `type URL "${req.type_url ?? ''}" is not provided here` };
    }
    const nonce = req.response_nonce ?? '';
    if (nonce === '') {
      // A (re)subscription: the peer says what it has, and only the difference travels.
      const peer = new Map<string, DeltaItem>();
      const peerHash = new StateHash();
      for (const [key, version] of Object.entries(req.initial_resource_versions ?? {})) {
        const had: DeltaItem = { key, version, bytes: EMPTY_BYTES };
        peer.set(key, had);
        peerHash.addHash(itemHash(had));
      }
      this.#types.set(type, { peer, peerHash, inFlight: [], refused: new Map(), dirty: 'all' });
      return { kind: 'ok', out: this.#push(type) };
    }
    const state = this.#types.get(type);
    const at = state ? indexOfNonce(state.inFlight, nonce) : -1;
    if (!state || at < 0) return { kind: 'rejected', reason: 'stale-nonce', detail: `nonce "${nonce}" for ${type} matches no response awaiting an answer` };
    const flight = state.inFlight[at]!;
    state.inFlight.splice(at, 1);
    const latencyMs = this.#now() - flight.sentAt;
    if (!req.error_detail) {
      this.#settle(state, flight.items, flight.hashes, flight.removed);
      this.#o.observer.acked(type, this.#o.direction, { nonce, version: flight.version, latencyMs });
    } else {
      const rejected = this.#wire.rejected(req.error_detail);
      const refusedNames = new Set(rejected.map((r) => r.name));
      // With a list, the rest of the response was applied; without one, the whole response was refused.
      const whole = rejected.length === 0;
      const applied = flight.items.map((e) => !whole && !refusedNames.has(e.key));
      const only = <X>(xs: readonly X[]) => xs.filter((_, i) => applied[i]);
      this.#settle(state, only(flight.items), only(flight.hashes), whole ? [] : flight.removed);
      flight.items.forEach((e, i) => {
        if (!applied[i]) state.refused.set(e.key, e.version);
      });
      if (whole) markDirty(state, flight.removed);
      this.#o.observer.nacked(type, this.#o.direction, {
        nonce, version: flight.version, error: req.error_detail.message ?? 'rejected',
        rejected: whole ? flight.items.map((e) => ({ name: e.key, version: e.version, error: req.error_detail?.message ?? 'rejected' })) : rejected,
      });
    }
    return { kind: 'ok', out: this.#push(type) };
  }

  /** Something changed for `type` (these keys, or anything): push now if idle, else at the next ACK. */
  changed(type: T, keys: Iterable<string> | 'all'): readonly Outbound<T>[] {
    const state = this.#types.get(type);
    if (!state) return NOTHING;
    if (keys === 'all') state.dirty = 'all';
    else markDirty(state, keys);
    return this.#push(type);
  }

  /** The safety net: compare every subscribed type in full. */
  reconcile(): readonly Outbound<T>[] {
    return [...this.#types.keys()].flatMap((t) => this.changed(t, 'all'));
  }

  /** When the oldest response still awaiting its ACK was sent, if any. */
  oldestUnacked(): { type: T; sentAt: number } | undefined {
    let oldest: { type: T; sentAt: number } | undefined;
    for (const [type, s] of this.#types) {
      for (const f of s.inFlight) if (!oldest || f.sentAt < oldest.sentAt) oldest = { type, sentAt: f.sentAt };
    }
    return oldest;
  }

  /**
   * The peer dropped these keys on its own (an xDS unsubscribe): forget it has them, so that a later
   * subscription sends them again and no removal is sent for them; a response in flight no longer
   * counts them when it is ACKed. Pushes nothing; KDS never calls it.
   */
  forget(type: T, keys: Iterable<string>): void {
    const state = this.#types.get(type);
    if (!state) return;
    const gone = new Set(keys);
    for (const k of gone) this.#drop(state, k);
    state.inFlight.forEach((f, i) => {
      if (!f.items.some((e) => gone.has(e.key)) && !f.removed.some((k) => gone.has(k))) return;
      const keep = f.items.map((e) => !gone.has(e.key));
      const only = <X>(xs: readonly X[]) => xs.filter((_, j) => keep[j]);
      state.inFlight[i] = { ...f, items: only(f.items), hashes: only(f.hashes), removed: f.removed.filter((k) => !gone.has(k)) };
    });
  }

  subscribedTypes(): T[] {
    return [...this.#types.keys()];
  }

  #settle(state: TypeState, items: readonly DeltaItem[], hashes: readonly number[], removed: readonly string[]): void {
    for (let i = 0; i < items.length; i++) {
      const e = items[i]!;
      const prev = state.peer.get(e.key);
      if (prev !== undefined) state.peerHash.removeHash(itemHash(prev));
      state.peer.set(e.key, e);
      state.peerHash.addHash(hashes[i]!);
    }
    for (const k of removed) this.#drop(state, k);
  }

  /** The peer no longer has `k`. */
  #drop(state: TypeState, k: string): void {
    const prev = state.peer.get(k);
    if (prev === undefined) return;
    state.peerHash.removeHash(itemHash(prev));
    state.peer.delete(k);
  }

  #push(type: T): readonly Outbound<T>[] {
    const state = this.#types.get(type)!;
    if (state.inFlight.length > 0) return NOTHING;
    const dirty = state.dirty;
    // Nothing marked (every ACK of a push): nothing to compare.
    if (dirty !== 'all' && dirty.length === 0) return NOTHING;
    state.dirty = [];
    // One list (the usual push): its keys are distinct already; several may repeat keys.
    const candidates: Iterable<string> = dirty === 'all'
      ? new Set([...this.#o.view.keys(type), ...state.peer.keys()])
      : dirty.length === 1 ? dirty[0]! : new Set(dirty.flat());
    const upserts: DeltaItem[] = [];
    const removals: string[] = [];
    const refusedAny = state.refused.size > 0;
    for (const key of candidates) {
      const env = this.#o.view.get(type, key);
      if (env) {
        const had = state.peer.get(key);
        if (had === env || had?.version === env.version) continue;
        if (refusedAny) {
          if (state.refused.get(key) === env.version) continue;
          state.refused.delete(key);
        }
        upserts.push(env);
      } else {
        if (refusedAny) state.refused.delete(key);
        if (state.peer.has(key)) removals.push(key);
      }
    }
    if (upserts.length === 0 && removals.length === 0) return NOTHING;
    return this.#pack(type, state, upserts, removals);
  }

  /** Splits one push into responses under the size limit; each gets its own nonce and ACK. */
  #pack(type: T, state: TypeState, upserts: DeltaItem[], removals: string[]): Outbound<T>[] {
    const budget = this.#o.maxMessageBytes - RESPONSE_OVERHEAD;
    const resourceTypeUrl = this.#wire.resourceTypeUrl(type);
    const out: Outbound<T>[] = [];
    const projected = state.peerHash.clone();
    let batch: DeltaItem[] = [];
    let batchRemovals: string[] = [];
    let size = 0;
    const flush = () => {
      if (batch.length === 0 && batchRemovals.length === 0) return;
      const hashes: number[] = [];
      for (const e of batch) {
        const prev = state.peer.get(e.key);
        if (prev !== undefined) projected.removeHash(itemHash(prev));
        const h = itemHash(e);
        hashes.push(h);
        projected.addHash(h);
      }
      for (const k of batchRemovals) {
        const prev = state.peer.get(k);
        if (prev !== undefined) projected.removeHash(itemHash(prev));
      }
      const nonce = nextNonce();
      const version = projected.toString();
      const bytes = this.#wire.encodeItems
        ? this.#wire.encodeItems(this.#wire.typeUrl(type), nonce, version, resourceTypeUrl, batch, batchRemovals)
        : this.#wire.encodeResponse({
          type_url: this.#wire.typeUrl(type),
          nonce,
          system_version_info: version,
          resources: batch.map((e) => ({ name: e.key, version: e.version, resource: { type_url: resourceTypeUrl, value: e.bytes } })),
          removed_resources: batchRemovals,
        });
      state.inFlight.push({ nonce, items: batch, hashes, removed: batchRemovals, sentAt: this.#now(), version });
      this.#o.observer.sent(type, this.#o.direction, { nonce, version, resources: batch.length, removals: batchRemovals.length, bytes: bytes.length });
      out.push({ type, nonce, bytes, version, resources: batch.length });
      batch = [];
      batchRemovals = [];
      size = 0;
    };
    for (const e of upserts) {
      const itemSize = e.bytes.length + e.key.length + e.version.length + resourceTypeUrl.length + RESOURCE_OVERHEAD;
      if (itemSize > budget) {
        state.refused.set(e.key, e.version);
        this.#o.observer.refusedToSend(type, this.#o.direction, {
          name: e.key, version: e.version, error: `${itemSize} bytes cannot fit in a ${this.#wire.messageName} of at most ${this.#o.maxMessageBytes} bytes`,
        });
        continue;
      }
      if (size + itemSize > budget) flush();
      batch.push(e);
      size += itemSize;
    }
    for (const k of removals) {
      const itemSize = k.length + 4;
      if (size + itemSize > budget) flush();
      batchRemovals.push(k);
      size += itemSize;
    }
    flush();
    return out;
  }
}

function markDirty(state: TypeState, keys: Iterable<string>): void {
  if (state.dirty === 'all') return;
  // An array is kept as given (its owner does not change it); anything else is read now.
  state.dirty.push(Array.isArray(keys) ? (keys as readonly string[]) : [...keys]);
}

function indexOfNonce(flights: readonly InFlight[], nonce: string): number {
  for (let i = 0; i < flights.length; i++) if (flights[i]!.nonce === nonce) return i;
  return -1;
}

function rejectedOf(detail: { details?: Any[] }): { name: string; version: string; error: string }[] {
  const out: { name: string; version: string; error: string }[] = [];
  for (const d of detail.details ?? []) {
    if (d.type_url !== KDS_REJECTION_TYPE_URL) continue;
    const r = codec.decodeRejection(d.value);
    if (r.ok) out.push(...(r.value.resources ?? []).map((x) => ({ name: x.name ?? '', version: x.version ?? '', error: x.error ?? '' })));
  }
  return out;
}
