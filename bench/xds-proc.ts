// The request/reply protocol of `npm run bench -- xds` (and of the proxyless bench's harnesses) between
// the bench and its children (see proc.ts for the processes themselves): every command gets one reply
// with its value or error. No meshfed import here: every harness loads this file.
import { type Failed, Proc as BaseProc, send as sendAny, usage, wall } from './proc.js';

export { killAll, sleep, TimeoutError, wall } from './proc.js';

/** A child → bench message. */
export type FromChild =
  | { kind: 'ready'; pid: number; port?: number }
  | { kind: 'reply'; id: number; value?: unknown; error?: string }
  | Failed;

/** A bench → child command; each is answered by a `reply` with the same id. */
export interface ToChild {
  readonly cmd: string;
  readonly id: number;
  readonly args?: unknown;
}

/** What every harness answers besides its own commands. */
export interface Usage {
  readonly rss: number;
  readonly heapUsed: number;
  /** User + system CPU time used so far. */
  readonly cpuMs: number;
}


export function send(m: FromChild): void {
  sendAny(m);
}

type Handler = (args: never) => unknown;

/**
 * The child side: answers `ping` (its wall clock), `usage`, and the given commands, one reply per
 * request (an error as `error`). The harness exits when the bench closes the IPC channel.
 */
export function serveBench(handlers: Record<string, Handler>): void {
  const all: Record<string, Handler> = { ping: () => wall(), usage: () => usage(), ...handlers };
  process.on('message', (raw) => {
    const m = raw as Partial<ToChild>;
    if (typeof m?.cmd !== 'string' || typeof m.id !== 'number') return;
    const id = m.id;
    const h = all[m.cmd];
    if (!h) return send({ kind: 'reply', id, error: `unknown command ${m.cmd}` });
    Promise.resolve()
      .then(() => h(m.args as never))
      .then(
        (value) => send({ kind: 'reply', id, value }),
        (err: unknown) => send({ kind: 'reply', id, error: (err as Error)?.stack ?? String(err) }),
      );
  });
  process.on('disconnect', () => process.exit(0));
}

/** Reports a failure to start and exits. */
export function fail(err: unknown): never {
  send({ kind: 'failed', error: (err as Error)?.stack ?? String(err) });
  process.exit(1);
}


/** One child of the xDS bench. */
export class Proc extends BaseProc<FromChild> {
  #nextId = 1;

  /** `knobs`: the env vars naming the CPU-profile directory and verbosity; the xds bench's unless another bench uses this protocol. */
  constructor(name: string, script: string, env: Record<string, string>, execArgv: readonly string[] = [], knobs = { cpuProfEnv: 'BENCH_XDS_CPU_PROF', verboseEnv: 'BENCH_XDS_VERBOSE' }) {
    // Ten seconds to stop: a CP harness writes its CPU profile on the way out.
    super(name, script, { env, execArgv, ...knobs, stopGraceMs: 10_000 });
  }

  ready(timeoutMs: number): Promise<Extract<FromChild, { kind: 'ready' }>> {
    return this.waitFor('ready', (m) => (m.kind === 'ready' ? m : undefined), timeoutMs);
  }

  /** Sends a command and resolves with its reply's value (rejects with the child's error). */
  async request<T>(cmd: string, timeoutMs: number, args?: unknown): Promise<T> {
    const id = this.#nextId++;
    const reply = this.waitFor(`reply to ${cmd}`, (m) => (m.kind === 'reply' && m.id === id ? m : undefined), timeoutMs);
    const msg: ToChild = args === undefined ? { cmd, id } : { cmd, id, args };
    this.send(msg);
    const r = await reply;
    if (r.error !== undefined) throw new Error(`${this.name}: ${cmd} failed: ${r.error}`);
    return r.value as T;
  }

  /**
   * This child's wall clock minus the bench's (ms), from the ping with the shortest round trip:
   * subtract it from the child's stamps to put them on the bench's clock.
   */
  async clockOffset(pings = 20): Promise<{ offset: number; rtt: number }> {
    let best = { offset: 0, rtt: Infinity };
    for (let i = 0; i < pings; i++) {
      const t0 = wall();
      const theirs = await this.request<number>('ping', 5000);
      const t1 = wall();
      if (t1 - t0 < best.rtt) best = { offset: theirs - (t0 + t1) / 2, rtt: t1 - t0 };
    }
    return best;
  }
}
