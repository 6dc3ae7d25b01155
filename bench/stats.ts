/** Latency samples in milliseconds → the figures benchmarks print. */
export function summarize(samplesMs: number[]): { p50: number; p99: number; mean: number } {
  const s = [...samplesMs].sort((a, b) => a - b);
  const at = (q: number) => s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? 0;
  return { p50: at(0.5), p99: at(0.99), mean: s.reduce((a, b) => a + b, 0) / Math.max(1, s.length) };
}

export async function timeEach(n: number, fn: (i: number) => Promise<unknown>): Promise<{ samples: number[]; totalMs: number }> {
  const samples = new Array<number>(n);
  const start = performance.now();
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await fn(i);
    samples[i] = performance.now() - t;
  }
  return { samples, totalMs: performance.now() - start };
}

/** Runs `n` calls with `concurrency` in flight; returns per-call latencies and wall time. */
export async function timeConcurrent(n: number, concurrency: number, fn: (i: number) => Promise<unknown>): Promise<{ samples: number[]; totalMs: number }> {
  const samples = new Array<number>(n);
  let next = 0;
  const start = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < n) {
        const i = next++;
        const t = performance.now();
        await fn(i);
        samples[i] = performance.now() - t;
      }
    }),
  );
  return { samples, totalMs: performance.now() - start };
}

export const fmt = (ms: number) => (ms < 1 ? `${(ms * 1000).toFixed(0)}µs` : `${ms.toFixed(2)}ms`);
export const rate = (n: number, ms: number) => Math.round((n / ms) * 1000);

export function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd()).join('\n');
}
