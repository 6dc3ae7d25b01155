// The load generator of `npm run bench -- api`, in a process of its own so that the servers under test
// (in the bench's process) have the other core: node's http client, keep-alive, `concurrency` requests
// in flight, a warm-up, then a fixed duration whose every request's latency is reported. No meshfed
// import here: it is an HTTP client, nothing more.
import http from 'node:http';
import { type Failed, send as sendAny, usage } from './proc.js';

/** One load run against one URL. */
export interface LoadSpec {
  readonly port: number;
  readonly path: string;
  readonly headers: Readonly<Record<string, string>>;
  /** Every answer must have this status and this many bytes of body, or it counts as wrong. */
  readonly status: number;
  readonly bytes: number;
  readonly concurrency: number;
  readonly warmupMs: number;
  readonly durationMs: number;
}

export interface LoadResult {
  /** Latency of every request completed in the measured window, in ms. */
  readonly samples: number[];
  readonly wallMs: number;
  /** Answers with another status or another body size, and failed requests (with the first of them). */
  readonly wrong: number;
  readonly firstWrong?: string;
  /** This process's CPU time during the measured window (user + system). */
  readonly clientCpuMs: number;
  /** TCP connections opened over the whole run, warm-up included (keep-alive: `concurrency`). */
  readonly connections: number;
}

export type FromClient =
  | { kind: 'ready'; pid: number }
  /** The warm-up is over: the measured window starts now. */
  | { kind: 'measuring'; id: number }
  | { kind: 'result'; id: number; result: LoadResult }
  | Failed;

export interface ToClient {
  readonly id: number;
  readonly spec: LoadSpec;
}

const send = (m: FromClient) => sendAny(m);

async function run(id: number, s: LoadSpec): Promise<LoadResult> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: s.concurrency, maxFreeSockets: s.concurrency });
  let wrong = 0;
  let firstWrong: string | undefined;
  const sockets = new WeakSet<object>();
  let connections = 0;
  const one = () =>
    new Promise<void>((resolve) => {
      const req = http.request({ agent, host: '127.0.0.1', port: s.port, path: s.path, method: 'GET', headers: s.headers }, (res) => {
        let bytes = 0;
        res.on('data', (c: Buffer) => (bytes += c.length));
        res.on('end', () => {
          if (res.statusCode !== s.status || bytes !== s.bytes) {
            wrong++;
            firstWrong ??= `status ${res.statusCode} with ${bytes} bytes, expected ${s.status} with ${s.bytes}`;
          }
          resolve();
        });
      });
      req.on('socket', (socket) => {
        if (sockets.has(socket)) return;
        sockets.add(socket);
        connections++;
      });
      req.on('error', (err) => {
        wrong++;
        firstWrong ??= String(err);
        resolve();
      });
      req.end();
    });

  const samples: number[] = [];
  let measuring = false;
  let stop = false;
  const lanes = Array.from({ length: s.concurrency }, async () => {
    while (!stop) {
      const t = performance.now();
      await one();
      if (measuring && !stop) samples.push(performance.now() - t);
    }
  });
  await new Promise((r) => setTimeout(r, s.warmupMs));
  // Counted: the requests that complete in the window (wrk's way), whenever they started.
  wrong = 0;
  firstWrong = undefined;
  const cpu0 = usage().cpuMs;
  send({ kind: 'measuring', id });
  const t0 = performance.now();
  measuring = true;
  await new Promise((r) => setTimeout(r, s.durationMs));
  stop = true;
  const wallMs = performance.now() - t0;
  const clientCpuMs = usage().cpuMs - cpu0;
  await Promise.all(lanes);
  agent.destroy();
  return { samples, wallMs, wrong, ...(firstWrong !== undefined ? { firstWrong } : {}), clientCpuMs, connections };
}

process.on('disconnect', () => process.exit(0));
process.on('message', (raw) => {
  const m = raw as ToClient;
  run(m.id, m.spec).then(
    (result) => send({ kind: 'result', id: m.id, result }),
    (err: unknown) => send({ kind: 'failed', error: String(err) }),
  );
});
send({ kind: 'ready', pid: process.pid });
