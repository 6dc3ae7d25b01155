import type { XdsSnapshot } from './snapshot.js';

/** Told the proxy's new snapshot (undefined once the proxy's snapshot is cleared). */
export type SnapshotListener = (snapshot: XdsSnapshot | undefined, previous: XdsSnapshot | undefined) => void;

/**
 * The current snapshot of every proxy, keyed by proxy id (`<mesh>.<name>` for dataplanes, `<name>` for
 * zone ingresses and egresses). The one seam between configuration and protocol: generators `set`,
 * streams `watch`. The cache knows nothing of nonces or streams; a `set` with an unchanged version
 * notifies no one.
 */
export class SnapshotCache {
  readonly #snapshots = new Map<string, XdsSnapshot>();
  readonly #watchers = new Map<string, Set<SnapshotListener>>();

  /** Publishes `snapshot` for the proxy; returns false (and tells no one) when its version is unchanged. */
  set(proxyId: string, snapshot: XdsSnapshot): boolean {
    const previous = this.#snapshots.get(proxyId);
    if (previous?.version === snapshot.version) return false;
    this.#snapshots.set(proxyId, snapshot);
    this.#notify(proxyId, snapshot, previous);
    return true;
  }

  get(proxyId: string): XdsSnapshot | undefined {
    return this.#snapshots.get(proxyId);
  }

  /** Drops the snapshot of a proxy gone for good; its watchers hear `undefined`. */
  clear(proxyId: string): boolean {
    const previous = this.#snapshots.get(proxyId);
    if (!previous) return false;
    this.#snapshots.delete(proxyId);
    this.#notify(proxyId, undefined, previous);
    return true;
  }

  /** Calls `listener` on every change of the proxy's snapshot from now on; returns the cancel. */
  watch(proxyId: string, listener: SnapshotListener): () => void {
    let set = this.#watchers.get(proxyId);
    if (!set) this.#watchers.set(proxyId, (set = new Set()));
    set.add(listener);
    return () => {
      const s = this.#watchers.get(proxyId);
      if (!s) return;
      s.delete(listener);
      if (s.size === 0) this.#watchers.delete(proxyId);
    };
  }

  proxyIds(): string[] {
    return [...this.#snapshots.keys()];
  }

  get size(): number {
    return this.#snapshots.size;
  }

  watcherCount(proxyId: string): number {
    return this.#watchers.get(proxyId)?.size ?? 0;
  }

  /** `onListenerError` hears a watcher that threw; the other watchers and the caller's run go on. */
  constructor(private readonly onListenerError: (err: unknown, proxyId: string) => void = (err) => queueMicrotask(() => { throw err; })) {}

  #notify(proxyId: string, snapshot: XdsSnapshot | undefined, previous: XdsSnapshot | undefined): void {
    const set = this.#watchers.get(proxyId);
    if (!set) return;
    for (const l of [...set]) {
      try {
        l(snapshot, previous);
      } catch (err) {
        this.onListenerError(err, proxyId);
      }
    }
  }
}
