import type { ResourceKind } from '../resources/registry.js';
import { kindOfTypeUrl, openEnvelope, type Received, typeUrlOf } from './envelope.js';
import { codec, type DeltaDiscoveryRequest, KDS_REJECTION_TYPE_URL } from './proto.js';

export interface Rejected {
  readonly name: string;
  readonly version: string;
  readonly error: string;
}

/** One response, opened: what to write, what to delete, and what could not even be read. */
export interface ResponsePlan {
  readonly type: ResourceKind;
  readonly nonce: string;
  readonly upserts: readonly Extract<Received, { ok: true }>[];
  readonly removals: readonly string[];
  readonly unreadable: readonly Rejected[];
}

export type ResponseOutcome =
  | { readonly kind: 'plan'; readonly plan: ResponsePlan }
  | { readonly kind: 'rejected'; readonly reason: 'unknown-type' | 'garbage'; readonly detail: string };

/**
 * The receiving side of a KDS delta stream. It keeps no copy of the resources: the local store is
 * the state, and what the store holds from this peer is what `initial_resource_versions` reports on
 * every (re)connect, so only what changed meanwhile travels.
 */
export class ConsumerSession {
  readonly #types: ReadonlySet<string>;

  constructor(types: readonly ResourceKind[]) {
    this.#types = new Set(types);
  }

  subscribe(type: ResourceKind, initialVersions: ReadonlyMap<string, string>): Buffer {
    const req: DeltaDiscoveryRequest = { type_url: typeUrlOf(type), initial_resource_versions: Object.fromEntries(initialVersions) };
    return codec.encodeRequest(req);
  }

  /** Opens one response frame; never throws. */
  open(frame: Uint8Array): ResponseOutcome {
    const d = codec.decodeResponse(frame);
    if (!d.ok) return { kind: 'rejected', reason: 'garbage', detail: d.error };
    const resp = d.value;
    const kind = kindOfTypeUrl(resp.type_url ?? '');
    if (!kind || !this.#types.has(kind)) return { kind: 'rejected', reason: 'unknown-type', detail: `type URL "${resp.type_url ?? ''}" was not subscribed to` };
    if (!resp.nonce) return { kind: 'rejected', reason: 'garbage', detail: 'response without a nonce' };
    const upserts: Extract<Received, { ok: true }>[] = [];
    const unreadable: Rejected[] = [];
    for (const r of resp.resources ?? []) {
      const opened = openEnvelope(r.name ?? '', r.version ?? '', r.resource, kind);
      if (opened.ok) upserts.push(opened);
      else unreadable.push({ name: opened.key, version: opened.version, error: opened.error });
    }
    return { kind: 'plan', plan: { type: kind as ResourceKind, nonce: resp.nonce, upserts, removals: resp.removed_resources ?? [], unreadable } };
  }

  /** ACK, or a NACK naming exactly the refused resources (the rest of the response was applied). */
  answer(type: ResourceKind, nonce: string, rejected: readonly Rejected[]): Buffer {
    const req: DeltaDiscoveryRequest = { type_url: typeUrlOf(type), response_nonce: nonce };
    if (rejected.length > 0) {
      const first = rejected[0]!;
      req.error_detail = {
        code: 3, // INVALID_ARGUMENT
        message: `${rejected.length} ${type} resource(s) refused: ${first.name}: ${first.error}${rejected.length > 1 ? ` (and ${rejected.length - 1} more)` : ''}`,
        details: [{ type_url: KDS_REJECTION_TYPE_URL, value: codec.encodeRejection({ resources: rejected.map((r) => ({ ...r })) }) }],
      };
    }
    return codec.encodeRequest(req);
  }
}
