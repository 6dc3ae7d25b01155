import type { ResourceKind } from '../resources/registry.js';

export type ChangeOp = 'create' | 'update' | 'delete';

/** One committed write. Carries identity and version, not the body: consumers read what they need. */
export interface ResourceChangedEvent {
  readonly op: ChangeOp;
  readonly type: ResourceKind;
  readonly name: string;
  readonly mesh?: string;
  readonly version: string;
  readonly labels: Readonly<Record<string, string>>;
  /** Wall-clock time of the commit, for measuring propagation lag downstream. */
  readonly at: number;
}

export type ChangeListener = (events: readonly ResourceChangedEvent[]) => void;

/**
 * Carries committed changes to whoever reacts to them (REST watchers now, KDS streams later). Events of
 * one commit arrive together in one call, so a listener never sees half a transaction.
 */
export interface EventBus {
  publish(events: readonly ResourceChangedEvent[]): void;
  subscribe(listener: ChangeListener): () => void;
  close(): Promise<void>;
}
