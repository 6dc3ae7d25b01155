import { performance } from 'node:perf_hooks';
import { status, type Client } from '@grpc/grpc-js';
import { call, type CallResult, type EchoRequest } from './echo.js';

/** Outcomes counted over a window or a whole run. */
export interface LoadCounts {
  ok: number;
  /** Failed calls by status name (`UNAVAILABLE`, `DEADLINE_EXCEEDED`, …). */
  failed: Record<string, number>;
  /** Successful calls by the instance, version and zone that answered. */
  byInstance: Record<string, number>;
  byVersion: Record<string, number>;
  byZone: Record<string, number>;
  /** Successful calls by the attempt that succeeded (`"2"`: after one failure the channel retried). */
  byAttempt: Record<string, number>;
  /** Calls due while `concurrency` calls were in flight, not sent: the load sheds rather than queues. */
  skipped: number;
}

export interface LoadWindow extends LoadCounts {
  /** 1 for the first window. */
  window: number;
  inFlight: number;
  /** Latency of the window's successful calls; null when none succeeded. */
  latencyMs: { p50: number; p99: number; max: number } | null;
}

export interface LoadOptions {
  readonly client: Client;
  /** Calls started per second. */
  readonly rate: number;
  /** Absent: until `signal` aborts. */
  readonly durationMs?: number;
  readonly deadlineMs: number;
  /** Most calls in flight at once. */
  readonly concurrency: number;
  readonly metadata?: Readonly<Record<string, string>>;
  /** The request of call number `seq` (from 1). */
  readonly request: (seq: number) => EchoRequest;
  readonly onWindow: (w: LoadWindow) => void;
  readonly signal?: AbortSignal;
  readonly windowMs?: number;
}

/** Often enough that calls leave evenly spread at hundreds per second, rarely enough to cost nothing. */
const TICK_MS = 5;

const emptyCounts = (): LoadCounts => ({ ok: 0, failed: {}, byInstance: {}, byVersion: {}, byZone: {}, byAttempt: {}, skipped: 0 });

const bump = (m: Record<string, number>, key: string) => void (m[key] = (m[key] ?? 0) + 1);

function record(c: LoadCounts, r: CallResult): void {
  if (!r.ok) return bump(c.failed, status[r.code] ?? String(r.code));
  c.ok++;
  bump(c.byInstance, r.res.instance);
  bump(c.byVersion, r.res.version);
  bump(c.byZone, r.res.zone);
  bump(c.byAttempt, String(r.res.attempt));
}

function percentiles(ms: number[]): LoadWindow['latencyMs'] {
  if (ms.length === 0) return null;
  const sorted = ms.sort((a, b) => a - b);
  const at = (q: number) => Math.round(sorted[Math.floor(q * (sorted.length - 1))]! * 10) / 10;
  return { p50: at(0.5), p99: at(0.99), max: at(1) };
}

/**
 * Calls at a steady rate (open loop: a slow server does not slow the sending, it fills `concurrency`
 * and then calls are skipped and counted) and reports each window's outcomes. Resolves with the totals
 * once the duration is over or `signal` aborted and the calls in flight have ended.
 */
export async function runLoad(opts: LoadOptions): Promise<LoadCounts> {
  const windowMs = opts.windowMs ?? 1_000;
  const total = emptyCounts();
  let win = emptyCounts();
  let latencies: number[] = [];
  let windowNo = 0;
  let issued = 0;
  let inFlight = 0;
  const pending = new Set<Promise<void>>();

  const fire = (seq: number) => {
    inFlight++;
    const t0 = performance.now();
    const p = call(opts.client, opts.request(seq), { deadlineMs: opts.deadlineMs, ...(opts.metadata ? { metadata: opts.metadata } : {}) }).then((r) => {
      inFlight--;
      record(win, r);
      record(total, r);
      if (r.ok) latencies.push(performance.now() - t0);
      pending.delete(p);
    });
    pending.add(p);
  };

  const start = performance.now();
  const tick = () => {
    // Catch up on what is due since the start, so timer drift does not lower the rate.
    const due = Math.floor(((performance.now() - start) * opts.rate) / 1000) - issued;
    for (let i = 0; i < due; i++) {
      issued++;
      if (inFlight >= opts.concurrency) {
        win.skipped++;
        total.skipped++;
      } else {
        fire(issued);
      }
    }
  };
  const flush = () => {
    windowNo++;
    opts.onWindow({ window: windowNo, ...win, inFlight, latencyMs: percentiles(latencies) });
    win = emptyCounts();
    latencies = [];
  };

  const ticker = setInterval(tick, TICK_MS);
  const windows = setInterval(flush, windowMs);
  await new Promise<void>((resolve) => {
    if (opts.signal?.aborted) return resolve();
    const timer = opts.durationMs === undefined ? undefined : setTimeout(resolve, opts.durationMs);
    opts.signal?.addEventListener('abort', () => {
      clearTimeout(timer);
      resolve();
    }, { once: true });
  });
  clearInterval(ticker);
  clearInterval(windows);

  // Every call has a deadline, so this ends; the extra second covers a channel slow to report it.
  let bound: NodeJS.Timeout | undefined;
  await Promise.race([Promise.all(pending), new Promise((r) => (bound = setTimeout(r, opts.deadlineMs + 1_000)))]);
  clearTimeout(bound);
  if (win.ok > 0 || win.skipped > 0 || Object.keys(win.failed).length > 0) flush();
  return total;
}
