import { adsCodec, type Outbound, ProviderSession, XDS_KINDS, XDS_TYPE_URL, type XdsKind, xdsKindOf } from '@meshfed/shared';
import { DeltaSubscriptions } from './ads-delta-subscriptions.js';
import { type AdsAnswer, type AdsStep, EMPTY_STEP, type StreamProtocol } from './ads-protocol.js';
import { FAST_XDS_WIRE } from './ads-delta-encode.js';
import { snapshotView, typeChanges, type XdsDirection } from './delta.js';
import type { XdsSnapshot } from './snapshot.js';

/**
 * Delta ADS on one stream: the shared ProviderSession, seeing the proxy's snapshot through its
 * subscriptions (wildcard CDS/LDS, EDS/RDS by name). A request's subscription changes are applied
 * before the session handles it; a change on a live stream (no nonce) is not a resubscription, so
 * the session keeps what the proxy already has and sends only what it newly wants.
 */
export function deltaProtocol(current: () => XdsSnapshot | undefined, maxMessageBytes: number): StreamProtocol {
  const subs = new DeltaSubscriptions();
  // The proxy's snapshot, read once per frame or change rather than once per resource the session
  // looks at: it cannot change during one synchronous call.
  let snapshot: XdsSnapshot | undefined;
  const whole = snapshotView(() => snapshot);
  // The observer is called synchronously inside the session's calls: gathered here into one step.
  let answers: AdsAnswer[] = [];
  let refused: { type: XdsKind; name: string; error: string }[] = [];
  const session = new ProviderSession<XdsKind, XdsDirection>({
    direction: 'cp-to-proxy',
    types: XDS_KINDS,
    view: subs.view(whole),
    wire: FAST_XDS_WIRE,
    maxMessageBytes,
    observer: {
      // Each response carries its version and resource count itself (Outbound).
      sent: () => {},
      acked: (type, _d, i) => answers.push({ kind: 'ack', type, nonce: i.nonce, version: i.version }),
      nacked: (type, _d, i) => answers.push({ kind: 'nack', type, nonce: i.nonce, version: i.version, error: i.error }),
      refusedToSend: (type, _d, i) => refused.push({ type, name: i.name, error: i.error }),
    },
  });
  // Most steps (every ACK of a push) carry nothing: the same empty arrays then, none made per frame.
  const none: readonly never[] = Object.freeze([]);
  const step = (out: readonly Outbound<XdsKind>[], extra?: Partial<AdsStep>): AdsStep => {
    const s: AdsStep = { out: out.length > 0 ? out : none, answers: answers.length > 0 ? answers : none, refusedToSend: refused.length > 0 ? refused : none, ...extra };
    if (answers.length > 0) answers = [];
    if (refused.length > 0) refused = [];
    return s;
  };
  // Types join the session only through handleRequest (and never leave): refreshed after each call,
  // not asked for (an array) on every change of a push to thousands of streams.
  let known = new Set<XdsKind>();
  const subscribed = (type: XdsKind) => known.has(type);
  const handle = (req: Parameters<typeof session.handleRequest>[0], type: XdsKind) => {
    const outcome = session.handleRequest(req);
    if (!known.has(type)) known = new Set(session.subscribedTypes());
    return outcome;
  };

  return {
    onFrame: (frame) => {
      snapshot = current();
      let req = decodePlainAck(frame);
      if (req === undefined) {
        const decoded = adsCodec.decodeDeltaRequest(frame);
        if (!decoded.ok) return { ...EMPTY_STEP, ignored: { kind: 'garbage', detail: decoded.error } };
        req = decoded.value;
      }
      const type = xdsKindOf(req.type_url ?? '');
      if (type === undefined) return { ...EMPTY_STEP, ignored: { kind: 'unknown-type', detail: `type URL "${req.type_url ?? ''}" is not served here` } };
      const isKnown = subscribed(type);
      const nonce = req.response_nonce ?? '';
      const subscribe = req.resource_names_subscribe ?? [];
      const unsubscribe = req.resource_names_unsubscribe ?? [];
      let wanted: readonly Outbound<XdsKind>[] = [];
      // A known type's request that names nothing (every ACK) changes no subscription: nothing to apply.
      if (!isKnown || subscribe.length > 0 || unsubscribe.length > 0) {
        const change = subs.apply(type, subscribe, unsubscribe, () => whole.keys(type));
        if (change.dropped.length > 0) session.forget(type, change.dropped);
        if (change.wanted === 'all' || change.wanted.length > 0) wanted = session.changed(type, change.wanted);
      }
      if (isKnown && nonce === '') return step(wanted, { type });
      // A first request (a new subscription) or an answer: what `changed` marked rides on its push.
      const outcome = handle(req, type);
      if (outcome.kind === 'rejected') return step(wanted, { type, ignored: { kind: outcome.reason, detail: outcome.detail } });
      return step(wanted.length === 0 ? outcome.out : [...wanted, ...outcome.out], { type });
    },
    onChange: (next, previous) => {
      snapshot = next;
      const changes = typeChanges(previous, next);
      const out: Outbound<XdsKind>[] = [];
      // Types that sent something, as bits of their XDS_KINDS index (no set per proxy of a mesh-wide change).
      let sentTypes = 0;
      const push = (kind: XdsKind, keys: readonly string[]) => {
        if (keys.length === 0) return;
        const o = session.changed(kind, keys);
        for (const x of o) out.push(x);
        if (o.length > 0) sentTypes |= 1 << XDS_KINDS.indexOf(kind);
      };
      // Make before break (Envoy's ADS ordering): additions and updates in XDS_KINDS order (secrets,
      // clusters, endpoints, listeners, routes), then removals in the reverse order, so that what a
      // listener uses is there before it and goes only after it. A type whose update is in flight sends
      // its removals with the answer to it.
      for (const kind of XDS_KINDS) {
        const c = changes.get(kind);
        if (c) push(kind, c.present);
      }
      for (const kind of REMOVAL_ORDER) {
        const c = changes.get(kind);
        if (c) push(kind, c.gone);
      }
      const deferred: XdsKind[] = [];
      for (const [kind, c] of changes) {
        // Nothing went out for a subscribed change: it waits for the answer to the response in flight.
        if ((sentTypes & (1 << XDS_KINDS.indexOf(kind))) === 0 && subscribed(kind) && c.keys.some((k) => subs.includes(kind, k))) deferred.push(kind);
      }
      return step(out, { deferred });
    },
    oldestUnacked: () => session.oldestUnacked(),
  };
}

/** Removals go in the reverse of the order additions go in. */
const REMOVAL_ORDER: readonly XdsKind[] = [...XDS_KINDS].reverse();

type DeltaRequest = ReturnType<typeof adsCodec.decodeDeltaRequest> extends infer R ? (R extends { ok: true; value: infer V } ? V : never) : never;

/**
 * A request of only type_url (field 2) and response_nonce (field 6), ASCII, decoded by hand: what a
 * proxy answers to every response (an ACK), thousands of them after a mesh-wide change, where
 * protobufjs's decode and conversion to an object were a visible share. The result is the object the
 * generic decoder gives for the same bytes (ads-delta-encode.test.ts compares); anything else (another
 * field, a NACK's error_detail, non-ASCII, a malformed length) returns undefined for the generic path.
 */
export function decodePlainAck(frame: Uint8Array): DeltaRequest | undefined {
  let typeUrl: string | undefined;
  let nonce: string | undefined;
  let off = 0;
  const end = frame.length;
  while (off < end) {
    const tag = frame[off++]!;
    if (tag !== 0x12 && tag !== 0x32) return undefined;
    let len = 0;
    let shift = 0;
    for (;;) {
      if (off >= end || shift > 21) return undefined;
      const b = frame[off++]!;
      len += (b & 0x7f) * 2 ** shift;
      shift += 7;
      if (b < 0x80) break;
    }
    if (off + len > end) return undefined;
    for (let i = off; i < off + len; i++) if (frame[i]! >= 0x80) return undefined;
    // Repeated occurrences of a string field: the last one wins, as in any protobuf decoder.
    // A served type URL is the constant string itself (no new string, and its hash for the kind lookup is cached).
    if (tag === 0x12) typeUrl = knownTypeUrl(frame, off, len) ?? latin1(frame, off, len);
    else nonce = latin1(frame, off, len);
    off += len;
  }
  if (typeUrl !== undefined && nonce !== undefined) {
    // Every ACK: one literal, one shape.
    return {
      type_url: typeUrl, resource_names_subscribe: [], resource_names_unsubscribe: [], resource_locators_subscribe: [], resource_locators_unsubscribe: [],
      initial_resource_versions: {}, response_nonce: nonce,
    } as unknown as DeltaRequest;
  }
  const req: Record<string, unknown> = {};
  if (typeUrl !== undefined) req['type_url'] = typeUrl;
  req['resource_names_subscribe'] = [];
  req['resource_names_unsubscribe'] = [];
  req['resource_locators_subscribe'] = [];
  req['resource_locators_unsubscribe'] = [];
  req['initial_resource_versions'] = {};
  if (nonce !== undefined) req['response_nonce'] = nonce;
  return req as DeltaRequest;
}

/** The served type URLs' bytes (ASCII), to answer an ACK's type_url with the constant string. */
const TYPE_URL_BYTES = XDS_KINDS.map((k) => ({ url: XDS_TYPE_URL[k], bytes: Buffer.from(XDS_TYPE_URL[k], 'latin1') }));

function knownTypeUrl(frame: Uint8Array, off: number, len: number): string | undefined {
  next: for (const t of TYPE_URL_BYTES) {
    if (t.bytes.length !== len) continue;
    // Type URLs share their prefix: compare from the end, where they differ.
    for (let i = len - 1; i >= 0; i--) if (frame[off + i] !== t.bytes[i]) continue next;
    return t.url;
  }
  return undefined;
}

/** Bytes already checked to be ASCII, as a string, in one native call. */
function latin1(frame: Uint8Array, off: number, len: number): string {
  return Buffer.from(frame.buffer, frame.byteOffset + off, len).toString('latin1');
}
