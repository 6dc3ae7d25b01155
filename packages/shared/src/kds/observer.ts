import type { KdsFlow } from '../resources/descriptor.js';
import type { ResourceKind } from '../resources/registry.js';

/** Which way one type's sync goes; the same words as the descriptors' KDS flows. */
export type KdsDirection = KdsFlow;

/** What a delta sender reports, whatever the protocol: `T` names its types, `D` its direction. */
export interface DeltaObserver<T extends string, D extends string> {
  sent(type: T, direction: D, info: { nonce: string; version: string; resources: number; removals: number; bytes: number }): void;
  acked(type: T, direction: D, info: { nonce: string; version: string; latencyMs: number }): void;
  nacked(type: T, direction: D, info: { nonce: string; version: string; error: string; rejected: readonly { name: string; version: string; error: string }[] }): void;
  refusedToSend(type: T, direction: D, info: { name: string; version: string; error: string }): void;
}

/**
 * What a KDS session reports as it goes. Insights (on global: per zone, per type and direction) and
 * metrics both implement it; sessions call it and never know which. Calls are synchronous and cheap:
 * implementations buffer and flush on their own schedule.
 */
export interface KdsObserver extends DeltaObserver<ResourceKind, KdsDirection> {
  /** A response for `type` went out: `version` is the snapshot version it brings the peer to. */
  sent(type: ResourceKind, direction: KdsDirection, info: { nonce: string; version: string; resources: number; removals: number; bytes: number }): void;
  acked(type: ResourceKind, direction: KdsDirection, info: { nonce: string; version: string; latencyMs: number }): void;
  /** The peer refused a response, wholly or some resources of it (`rejected` lists which). */
  nacked(type: ResourceKind, direction: KdsDirection, info: { nonce: string; version: string; error: string; rejected: readonly { name: string; version: string; error: string }[] }): void;
  /** The sender itself could not send one resource (it can never fit in a message). */
  refusedToSend(type: ResourceKind, direction: KdsDirection, info: { name: string; version: string; error: string }): void;
  /** The receiver applied a response: `lagMs` is commit time on the sender's side to applied here, when known. */
  applied(type: ResourceKind, direction: KdsDirection, info: { resources: number; removals: number; rejected: number; lagMs?: number }): void;
  /** A protocol problem the stream survived: garbage frame, unknown type, wrong nonce. */
  protocolError(kind: 'garbage' | 'unknown-type' | 'stale-nonce' | 'invalid-resource', detail: string): void;
}

export const NOOP_OBSERVER: KdsObserver = {
  sent() {},
  acked() {},
  nacked() {},
  refusedToSend() {},
  applied() {},
  protocolError() {},
};

/** Fans one call out to several observers (insights and metrics). */
export function observeAll(...observers: KdsObserver[]): KdsObserver {
  return {
    sent: (...a) => observers.forEach((o) => o.sent(...a)),
    acked: (...a) => observers.forEach((o) => o.acked(...a)),
    nacked: (...a) => observers.forEach((o) => o.nacked(...a)),
    refusedToSend: (...a) => observers.forEach((o) => o.refusedToSend(...a)),
    applied: (...a) => observers.forEach((o) => o.applied(...a)),
    protocolError: (...a) => observers.forEach((o) => o.protocolError(...a)),
  };
}
