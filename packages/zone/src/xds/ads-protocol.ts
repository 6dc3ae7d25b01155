import type { XdsKind } from '@meshfed/shared';
import type { AdsProtocolErrorKind } from './ads-metrics.js';
import type { XdsSnapshot } from './snapshot.js';

/** A response ready for the wire, with what insights, metrics and spans say about it. */
export interface AdsOutbound {
  readonly type: XdsKind;
  readonly nonce: string;
  readonly version: string;
  readonly resources: number;
  readonly bytes: Buffer;
}

/** What a request said about a response: applied (ACK) or refused (NACK). */
export type AdsAnswer =
  | { readonly kind: 'ack'; readonly type: XdsKind; readonly nonce: string; readonly version: string }
  | { readonly kind: 'nack'; readonly type: XdsKind; readonly nonce: string; readonly version: string; readonly error: string };

/** What one frame or one snapshot change produced, for the stream to write, record and log. */
export interface AdsStep {
  readonly out: readonly AdsOutbound[];
  readonly answers: readonly AdsAnswer[];
  /** Resources the server could not send (too large to ever fit). */
  readonly refusedToSend: readonly { readonly type: XdsKind; readonly name: string; readonly error: string }[];
  /** The frame was ignored: it does not decode, or names an unknown type or a stale nonce. */
  readonly ignored?: { readonly kind: AdsProtocolErrorKind; readonly detail: string };
  /** The type a request was about. */
  readonly type?: XdsKind;
  /** Types a change concerns whose push waits for the answer to a response in flight (delta). */
  readonly deferred?: readonly XdsKind[];
}

/** A protocol's session on one stream, behind the one shape the stream loop needs. */
export interface StreamProtocol {
  onFrame(frame: Buffer): AdsStep;
  onChange(next: XdsSnapshot | undefined, previous: XdsSnapshot | undefined): AdsStep;
  /** The oldest response awaiting its ACK or NACK: what the stall timer watches. */
  oldestUnacked(): { type: XdsKind; sentAt: number } | undefined;
}

export const EMPTY_STEP: AdsStep = { out: [], answers: [], refusedToSend: [] };
