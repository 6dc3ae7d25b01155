import { adsCodec, type AdsDiscoveryRequest, XDS_TYPE_URL, type XdsKind, xdsKindOf } from '@meshfed/shared';
import type { AdsAnswer, AdsOutbound } from './ads-protocol.js';
import { EMPTY_SNAPSHOT, type XdsEntry, type XdsSnapshot, versionOfEntries } from './snapshot.js';

/**
 * Types a proxy always subscribes to by name (EDS, RDS, SDS). LDS and CDS are wildcard when the first
 * request names nothing (Envoy), by name when it names resources (gRPC), as the xDS protocol says.
 */
const NAMED: ReadonlySet<XdsKind> = new Set<XdsKind>(['endpoint', 'route', 'secret']);

export type SotwOutcome =
  | { readonly kind: 'ok'; readonly out: AdsOutbound[]; readonly answer?: AdsAnswer }
  /** Nothing to do: the request answers a response that has since been superseded. */
  | { readonly kind: 'stale'; readonly detail: string }
  | { readonly kind: 'rejected'; readonly reason: 'unknown-type'; readonly detail: string };

interface SotwTypeState {
  names: ReadonlySet<string> | 'wildcard';
  sent: { readonly version: string; readonly nonce: string } | undefined;
  acked: string | undefined;
  /** The version the proxy refused: not sent again until the content changes. */
  refused: string | undefined;
  /** When the last response went out. */
  sentAt: number;
  /** The oldest response the proxy has not answered yet (its nonce and when it went out). */
  unanswered: { readonly nonce: number; readonly sentAt: number } | undefined;
}

export interface SotwSessionOptions {
  /** The proxy's current snapshot, read on every push; undefined until it has one. */
  readonly current: () => XdsSnapshot | undefined;
  /** The clock of `oldestUnacked`; Date.now when absent. */
  readonly now?: () => number;
}

/**
 * The state-of-the-world side of ADS for one stream, as a plain value: requests and change notices go
 * in, responses come out; no I/O, no timers. Per type it keeps the last response (version, nonce),
 * the last ACKed version and the last refused one. Every response carries all resources of the type
 * (the subscribed names for EDS/RDS/SDS); a type is sent again only when what it would carry changed.
 */
export class SotwSession {
  readonly #o: SotwSessionOptions;
  readonly #types = new Map<XdsKind, SotwTypeState>();
  readonly #now: () => number;
  #nonce = 0;

  constructor(options: SotwSessionOptions) {
    this.#o = options;
    this.#now = options.now ?? Date.now;
  }

  handleRequest(req: AdsDiscoveryRequest): SotwOutcome {
    const type = xdsKindOf(req.type_url ?? '');
    if (!type) return { kind: 'rejected', reason: 'unknown-type', detail: `type URL "${req.type_url ?? ''}" is not served here` };
    const nonce = req.response_nonce ?? '';
    let state = this.#types.get(type);
    if (nonce !== '' && state?.sent?.nonce !== nonce) {
      // An answer to a superseded response still shows the proxy working through its queue: the
      // clock of the oldest unanswered response restarts at the latest one.
      const n = Number(nonce);
      if (state?.unanswered && state.sent && n >= state.unanswered.nonce && n < Number(state.sent.nonce)) {
        state.unanswered = { nonce: Number(state.sent.nonce), sentAt: state.sentAt };
      }
      return { kind: 'stale', detail: `nonce "${nonce}" for ${type} is not the last response's` };
    }
    let answer: AdsAnswer | undefined;
    let force = false;
    if (!state) {
      state = { names: 'wildcard', sent: undefined, acked: undefined, refused: undefined, sentAt: 0, unanswered: undefined };
      this.#types.set(type, state);
      force = true;
    } else if (nonce === '') {
      // A new subscription on a live stream: answer it even if nothing changed.
      force = true;
    } else if (state.sent) {
      state.unanswered = undefined;
      if (req.error_detail) {
        state.refused = state.sent.version;
        answer = { kind: 'nack', type, nonce, version: state.sent.version, error: req.error_detail.message || 'rejected' };
      } else if ((req.version_info ?? '') === state.sent.version) {
        state.acked = state.sent.version;
        answer = { kind: 'ack', type, nonce, version: state.sent.version };
      }
    }
    const asked = req.resource_names ?? [];
    if (NAMED.has(type)) {
      const names = new Set(asked);
      if (state.names === 'wildcard' || !sameSet(state.names, names)) force = true;
      state.names = names;
    } else if (asked.includes('*')) {
      // xDS: `*` among the names asks for everything, whatever else is named.
      if (state.names !== 'wildcard') force = true;
      state.names = 'wildcard';
    } else if (asked.length > 0 || state.names !== 'wildcard') {
      // Listeners and clusters by name (gRPC asks so): once named, an empty list unsubscribes from all.
      const names = new Set(asked);
      if (state.names === 'wildcard' || !sameSet(state.names, names)) force = true;
      state.names = names;
    }
    const out = this.#push(type, state, force);
    return answer ? { kind: 'ok', out, answer } : { kind: 'ok', out };
  }

  /** The snapshot changed: push every subscribed type whose content differs from what was sent. */
  changed(): AdsOutbound[] {
    return [...this.#types].flatMap(([type, state]) => this.#push(type, state, false));
  }

  /** The oldest response still awaiting its ACK or NACK, if any: its type and when it went out. */
  oldestUnacked(): { type: XdsKind; sentAt: number } | undefined {
    let oldest: { type: XdsKind; sentAt: number } | undefined;
    for (const [type, s] of this.#types) if (s.unanswered && (!oldest || s.unanswered.sentAt < oldest.sentAt)) oldest = { type, sentAt: s.unanswered.sentAt };
    return oldest;
  }

  /** Per subscribed type: the last response's version and nonce, the last ACKed and refused versions. */
  status(): Map<XdsKind, { sent?: { version: string; nonce: string }; acked?: string; refused?: string; names: string[] | '*' }> {
    return new Map([...this.#types].map(([t, s]) => [t, {
      ...(s.sent ? { sent: { ...s.sent } } : {}), ...(s.acked !== undefined ? { acked: s.acked } : {}),
      ...(s.refused !== undefined ? { refused: s.refused } : {}), names: s.names === 'wildcard' ? '*' : [...s.names],
    }]));
  }

  #push(type: XdsKind, state: SotwTypeState, force: boolean): AdsOutbound[] {
    // No snapshot: before the proxy's first configuration it waits; after it (its resource was deleted)
    // it is sent the empty set, which is how state-of-the-world removes everything.
    const snapshot = this.#o.current() ?? (state.sent ? EMPTY_SNAPSHOT : undefined);
    if (!snapshot) return [];
    const entries = this.#select(snapshot, type, state.names);
    const version = versionOfEntries(entries);
    if (!force && (version === state.sent?.version || version === state.refused)) return [];
    if (force && version === state.refused && version === state.sent?.version) return [];
    const n = ++this.#nonce;
    const nonce = String(n);
    const bytes = adsCodec.encodeResponse({ version_info: version, resources: entries.map((e) => e.resource), type_url: XDS_TYPE_URL[type], nonce });
    state.sent = { version, nonce };
    state.sentAt = this.#now();
    state.unanswered ??= { nonce: n, sentAt: state.sentAt };
    return [{ type, nonce, version, resources: entries.length, bytes }];
  }

  #select(snapshot: XdsSnapshot, type: XdsKind, names: ReadonlySet<string> | 'wildcard'): XdsEntry[] {
    const all = snapshot.types[type].entries;
    if (names === 'wildcard') return [...all.values()];
    const out: XdsEntry[] = [];
    for (const n of [...names].sort()) {
      const e = all.get(n);
      if (e) out.push(e);
    }
    return out;
  }
}

function sameSet(a: ReadonlySet<string>, b: ReadonlySet<string>): boolean {
  if (a.size !== b.size) return false;
  for (const x of a) if (!b.has(x)) return false;
  return true;
}
