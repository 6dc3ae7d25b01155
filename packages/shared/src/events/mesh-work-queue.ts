import type { Logger } from '../telemetry/logger.js';
import type { EventBus, ResourceChangedEvent } from './event-bus.js';

/** What a change means for one mesh: check it (again), or forget it (deleted: drop its pending check and retry). */
export type MeshWork = { readonly op: 'check' | 'forget'; readonly mesh: string };

export interface MeshWorkQueueOptions {
  readonly bus: EventBus;
  readonly log: Logger;
  /** Names the work in log lines: `<what>: check failed`, `<what>: cannot list meshes`. */
  readonly what: string;
  /** Maps each committed change to the mesh it concerns, if any. May log. */
  readonly route: (e: ResourceChangedEvent) => MeshWork | undefined;
  /** Does the work for one mesh. Must be safe to run from several replicas at once; a throw is retried. */
  readonly check: (mesh: string) => Promise<unknown>;
  /** Meshes to check once at start (e.g. every stored mesh); a throw is retried. Absent: none. */
  readonly initial?: () => Promise<Iterable<string>>;
  /** First retry after a failed check or start-up listing; doubles up to retryMaxMs. Default 1000. */
  readonly retryBaseMs?: number;
  /** Default 30000. */
  readonly retryMaxMs?: number;
}

/**
 * Per-mesh work that follows the store by events, for what a control plane keeps for each mesh (its
 * CA, its default policies): committed changes are mapped to meshes by `route`, each mesh is queued at
 * most once and checked one at a time, and a failed check is retried with backoff until it succeeds,
 * the mesh is deleted or the queue stops. No polling: after start-up, only events cause work.
 */
export class MeshWorkQueue {
  readonly #o: MeshWorkQueueOptions;
  readonly #retryBaseMs: number;
  readonly #retryMaxMs: number;
  /** Meshes waiting to be checked, in arrival order; a mesh is queued at most once. */
  readonly #pending = new Set<string>();
  /** Meshes whose last check failed, with their retry timer. */
  readonly #retries = new Map<string, { attempt: number; timer: NodeJS.Timeout }>();
  #scanRetry: { attempt: number; timer: NodeJS.Timeout | undefined } = { attempt: 0, timer: undefined };
  #draining: Promise<void> | undefined;
  #scanning: Promise<void> | undefined;
  #unsubscribe: (() => void) | undefined;
  #stopped = false;

  constructor(o: MeshWorkQueueOptions) {
    this.#o = o;
    this.#retryBaseMs = o.retryBaseMs ?? 1000;
    this.#retryMaxMs = o.retryMaxMs ?? 30_000;
  }

  /** Subscribes to changes and queues the initial meshes. Returns at once; `idle()` waits for the work. */
  start(): void {
    if (this.#stopped) throw new Error(`${this.#o.what}: the queue was stopped`);
    if (this.#unsubscribe) return;
    this.#unsubscribe = this.#o.bus.subscribe((events) => {
      for (const e of events) {
        const work = this.#o.route(e);
        if (work?.op === 'check') this.enqueue(work.mesh);
        else if (work?.op === 'forget') this.#forget(work.mesh);
      }
    });
    if (this.#o.initial) this.#scanning = this.#scan(this.#o.initial);
  }

  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#unsubscribe?.();
    this.#unsubscribe = undefined;
    this.#pending.clear();
    for (const r of this.#retries.values()) clearTimeout(r.timer);
    this.#retries.clear();
    clearTimeout(this.#scanRetry.timer);
    await this.#scanning;
    await this.#draining;
  }

  /** Resolves once the start-up listing and every queued check have finished (retries not included). */
  async idle(): Promise<void> {
    while (this.#scanning || this.#draining) {
      await this.#scanning;
      await this.#draining;
    }
  }

  /** Queues a check of `mesh` (once, however often it is asked for before it runs). */
  enqueue(mesh: string): void {
    if (this.#stopped) return;
    this.#pending.add(mesh);
    this.#draining ??= this.#drain();
  }

  async #scan(initial: () => Promise<Iterable<string>>): Promise<void> {
    try {
      for (const m of await initial()) this.enqueue(m);
      this.#scanRetry.attempt = 0;
    } catch (err) {
      if (this.#stopped) return;
      const delay = this.#delay(++this.#scanRetry.attempt);
      this.#o.log.error({ err, retryInMs: delay }, `${this.#o.what}: cannot list meshes`);
      this.#scanRetry.timer = setTimeout(() => {
        this.#scanRetry.timer = undefined;
        if (!this.#stopped) this.#scanning = this.#scan(initial);
      }, delay);
      this.#scanRetry.timer.unref();
    } finally {
      this.#scanning = undefined;
    }
  }

  #forget(mesh: string): void {
    this.#pending.delete(mesh);
    const r = this.#retries.get(mesh);
    if (r) clearTimeout(r.timer);
    this.#retries.delete(mesh);
  }

  /** One check at a time: checks are quick, and meshes are few. */
  async #drain(): Promise<void> {
    try {
      while (!this.#stopped) {
        const next = this.#pending.values().next();
        if (next.done) return;
        const mesh = next.value;
        this.#pending.delete(mesh);
        try {
          await this.#o.check(mesh);
          const r = this.#retries.get(mesh);
          if (r) clearTimeout(r.timer);
          this.#retries.delete(mesh);
        } catch (err) {
          this.#retry(mesh, err);
        }
      }
    } finally {
      this.#draining = undefined;
    }
  }

  #retry(mesh: string, err: unknown): void {
    if (this.#stopped) return;
    const previous = this.#retries.get(mesh);
    if (previous) clearTimeout(previous.timer);
    const attempt = (previous?.attempt ?? 0) + 1;
    const delay = this.#delay(attempt);
    this.#o.log.error({ err, mesh, retryInMs: delay }, `${this.#o.what}: check failed`);
    const timer = setTimeout(() => this.enqueue(mesh), delay);
    timer.unref();
    this.#retries.set(mesh, { attempt, timer });
  }

  #delay(attempt: number): number {
    return Math.min(this.#retryMaxMs, this.#retryBaseMs * 2 ** Math.min(attempt - 1, 20));
  }
}
