// The proxyless client of `npm run bench -- proxyless` (a), (b), in its own process: the demo app's Echo
// client as a mesh member (grpc-js-xds, GRPC_XDS_BOOTSTRAP written by its meshfed-dp agent) dialling
// xds:///backend, and, to compare, a plain grpc-js channel straight to one backend instance with the
// same mesh certificate (the agent's --work-dir), so that both go through the same server, its mTLS and
// its RBAC. The server's certificate names a SPIFFE URI, not an address: the direct channel checks its
// chain against the mesh CA and skips the host name check.
//
// (b): `fire-start` starts calls at a steady pace on the xDS channel, each stamped at its start with
// what answered; `flip` finds, after a route change at t0, the start from which every call followed it.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type Client, credentials, Client as GrpcClient } from '@grpc/grpc-js';
// The demo app as built (what the lab and the agent's users run).
import { call, type CallResult, echoClient } from '../packages/dp/dist/demo-app/index.js';
import { fail, send, serveBench, sleep, wall } from './xds-proc.js';

export interface CallerConfig {
  /** xds:///<service> */
  readonly xdsTarget: string;
  /** host:port of the backend instance the direct channel dials. */
  readonly directTarget: string;
  /** The client agent's --work-dir: cert.pem, key.pem, ca.pem. */
  readonly workDir: string;
}

export interface RunResult {
  /** Per successful call, its latency in ms (call order). */
  readonly samples: number[];
  readonly totalMs: number;
  readonly failures: number;
  readonly firstFailure?: string;
  /** Answers per version. */
  readonly versions: Record<string, number>;
}

export interface FlipResult {
  readonly converged: boolean;
  /** On this process's clock: the first call started after t0 answered by `want`, and the start from which every call was. */
  readonly firstNewAt?: number;
  readonly allNewAt?: number;
  /** Calls started after t0 and before allNewAt: answered by the old route, failed. */
  readonly old: number;
  readonly failed: number;
  readonly firstFailure?: string;
  readonly calls: number;
}

const cfg = JSON.parse(process.env.BENCH_PROXYLESS_CALLER ?? '{}') as CallerConfig;
const xdsClient = echoClient(cfg.xdsTarget, { xds: true });
let direct: Client | undefined;

/** Created on first use: the agent writes the certificates before the bench gets here. */
function directClient(): Client {
  if (direct) return direct;
  const file = (f: string) => readFileSync(join(cfg.workDir, f));
  direct = new GrpcClient(cfg.directTarget, credentials.createSsl(file('ca.pem'), file('key.pem'), file('cert.pem'), { checkServerIdentity: () => undefined }));
  return direct;
}

const clientOf = (path: 'xds' | 'direct') => (path === 'xds' ? xdsClient : directClient());

async function run(a: { path: 'xds' | 'direct'; n: number; concurrency: number; deadlineMs: number }): Promise<RunResult> {
  const client = clientOf(a.path);
  const samples: number[] = [];
  const versions: Record<string, number> = {};
  let failures = 0;
  let firstFailure: string | undefined;
  let next = 0;
  const t0 = performance.now();
  await Promise.all(Array.from({ length: Math.min(a.concurrency, a.n) }, async () => {
    while (next < a.n) {
      next++;
      const t = performance.now();
      const r = await call(client, {}, { deadlineMs: a.deadlineMs });
      const took = performance.now() - t;
      if (r.ok) {
        samples.push(took);
        versions[r.res.version] = (versions[r.res.version] ?? 0) + 1;
      } else {
        failures++;
        firstFailure ??= `${r.code}: ${r.details}`;
      }
    }
  }));
  return { samples, totalMs: performance.now() - t0, failures, versions, ...(firstFailure !== undefined ? { firstFailure } : {}) };
}

/** Calls until one is answered by `version` (the route the bench set is in place); its wait in ms. */
async function waitFor(a: { version: string; timeoutMs: number }): Promise<number> {
  const t0 = performance.now();
  let last: CallResult | undefined;
  while (performance.now() - t0 < a.timeoutMs) {
    last = await call(xdsClient, {}, { deadlineMs: 2000 });
    if (last.ok && last.res.version === a.version) return performance.now() - t0;
    await sleep(20);
  }
  throw new Error(`no call answered by ${a.version} within ${a.timeoutMs} ms; last: ${JSON.stringify(last)}`);
}

interface Fired {
  readonly start: number;
  done: boolean;
  version?: string;
  failure?: string;
}

let fired: Fired[] = [];
let firing: { stop: boolean; loop: Promise<void> } | undefined;

/** One call every `intervalMs` (at most `maxInFlight` in flight, so that a stall does not pile calls up). */
function fireStart(a: { intervalMs: number; maxInFlight: number; deadlineMs: number }): boolean {
  if (firing) return false;
  fired = [];
  const state = { stop: false, loop: Promise.resolve() };
  let inFlight = 0;
  state.loop = (async () => {
    while (!state.stop) {
      if (inFlight < a.maxInFlight) {
        const f: Fired = { start: wall(), done: false };
        fired.push(f);
        inFlight++;
        void call(xdsClient, {}, { deadlineMs: a.deadlineMs }).then((r) => {
          inFlight--;
          f.done = true;
          if (r.ok) f.version = r.res.version;
          else f.failure = `${r.code}: ${r.details}`;
        });
      }
      await sleep(a.intervalMs);
    }
  })();
  firing = state;
  return true;
}

async function fireStop(): Promise<number> {
  if (!firing) return 0;
  firing.stop = true;
  await firing.loop;
  firing = undefined;
  return fired.length;
}

/**
 * After a route change at `t0` (this process's clock): waits until, among calls started after t0 and
 * answered so far (in start order, up to the first unanswered), the last one not answered by `want` is
 * followed by `settleMs` of calls that all were. Bounded by `timeoutMs`.
 */
async function flip(a: { t0: number; want: string; settleMs: number; timeoutMs: number }): Promise<FlipResult> {
  // Calls from before the change are of no use any more.
  const keepFrom = fired.findIndex((f) => f.start >= a.t0 - 1000);
  if (keepFrom > 0) fired = fired.slice(keepFrom);
  const deadline = performance.now() + a.timeoutMs;
  for (;;) {
    const after = fired.filter((f) => f.start >= a.t0);
    const firstOpen = after.findIndex((f) => !f.done);
    const answered = firstOpen < 0 ? after : after.slice(0, firstOpen);
    let lastBad = -1;
    for (let i = answered.length - 1; i >= 0; i--) {
      if (answered[i]!.version !== a.want) {
        lastBad = i;
        break;
      }
    }
    const from = answered[lastBad + 1];
    const settled = from !== undefined && answered.at(-1)!.start - from.start >= a.settleMs;
    if (settled || performance.now() > deadline) {
      const before = answered.slice(0, lastBad + 1);
      const failedCalls = before.filter((f) => f.failure !== undefined);
      const firstNew = answered.find((f) => f.version === a.want);
      return {
        converged: settled, old: before.length - failedCalls.length, failed: failedCalls.length, calls: answered.length,
        ...(settled ? { allNewAt: from.start } : {}), ...(firstNew ? { firstNewAt: firstNew.start } : {}),
        ...(failedCalls[0]?.failure !== undefined ? { firstFailure: failedCalls[0].failure } : {}),
      };
    }
    await sleep(10);
  }
}

try {
  serveBench({ run, wait: waitFor, 'fire-start': fireStart, 'fire-stop': fireStop, flip });
  send({ kind: 'ready', pid: process.pid });
} catch (err) {
  fail(err);
}
