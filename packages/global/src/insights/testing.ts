// Test helpers for the insights tests (not exported from the package).
import { Writable } from 'node:stream';
import { createLogger, type Logger, MemoryStore, type ResourceStore, StoreUnavailableError, type WriteOp } from '@meshfed/shared';

export interface CountingStore {
  readonly store: ResourceStore;
  /** Time of every commit that touched a ZoneInsight, successful or not. */
  readonly insightCommits: number[];
  /** ZoneInsight commits the store refused (version conflicts and the like). */
  readonly insightConflicts: () => number;
  /** Makes the next `n` commits fail as if the database were down. */
  failNext(n: number): void;
}

/** Wraps a store, counting ZoneInsight commits. */
export function countingStore(inner: ResourceStore = new MemoryStore()): CountingStore {
  const insightCommits: number[] = [];
  let failing = 0;
  let conflicts = 0;
  const store: ResourceStore = {
    backend: inner.backend,
    get: (k) => inner.get(k),
    list: (type, o) => inner.list(type, o),
    commit: async (ops: readonly WriteOp[]) => {
      const insight = ops.some((o) => (o.op === 'put' ? o.resource.type : o.key.type) === 'ZoneInsight');
      if (insight) insightCommits.push(Date.now());
      if (failing > 0) {
        failing--;
        throw new StoreUnavailableError('test: store down');
      }
      try {
        return await inner.commit(ops);
      } catch (err) {
        if (insight) conflicts++;
        throw err;
      }
    },
    healthy: () => inner.healthy(),
    close: () => inner.close(),
  };
  return { store, insightCommits, insightConflicts: () => conflicts, failNext: (n) => void (failing = n) };
}

/** A logger whose JSON lines are kept for assertions. */
export function capturingLogger(): { log: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString().split('\n')) if (l.trim()) lines.push(JSON.parse(l) as Record<string, unknown>);
      cb();
    },
  });
  return { log: createLogger({ component: 'test', level: 'debug', destination }), lines };
}

/** Polls `cond` until true; fails after `timeoutMs`. */
export async function waitFor(what: string, cond: () => boolean | Promise<boolean>, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(5);
  }
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
