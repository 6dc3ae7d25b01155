// Child processes of `npm run bench -- xds` and the request/reply protocol they speak with the bench
// over IPC. Every child is tracked and killed when the bench ends, however it ends; every wait is
// bounded. No meshfed import here: every harness loads this file.
import { type ChildProcess, fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** Wall-clock milliseconds with sub-millisecond resolution, comparable between processes of one host (see clockOffset). */
export const wall = (): number => performance.timeOrigin + performance.now();

/** A child → bench message. */
export type FromChild =
  | { kind: 'ready'; pid: number; port?: number }
  | { kind: 'reply'; id: number; value?: unknown; error?: string }
  | { kind: 'failed'; error: string };

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

export function usage(): Usage {
  const c = process.cpuUsage();
  const m = process.memoryUsage();
  return { rss: m.rss, heapUsed: m.heapUsed, cpuMs: (c.user + c.system) / 1000 };
}

export function send(m: FromChild): void {
  process.send?.(m);
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

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

type Listener = (m: FromChild, receivedAt: number) => void;

const live = new Set<Proc>();
let exitHookInstalled = false;

/** Kills every child still running (SIGKILL): used at the end of the bench and on any exit. */
export async function killAll(): Promise<void> {
  await Promise.all([...live].map((p) => p.kill()));
}

export class TimeoutError extends Error {
  override name = 'TimeoutError';
}

/** One child process running a harness under `node --import tsx`, spoken to over IPC. */
export class Proc {
  readonly child: ChildProcess;
  readonly #listeners = new Set<Listener>();
  readonly #tail: string[] = [];
  readonly #exited: Promise<void>;
  #exit: string | undefined;
  #nextId = 1;

  constructor(
    readonly name: string,
    script: string,
    env: Record<string, string>,
    execArgv: readonly string[] = [],
  ) {
    if (!exitHookInstalled) {
      exitHookInstalled = true;
      process.on('exit', () => {
        for (const p of live) p.child.kill('SIGKILL');
      });
    }
    // BENCH_XDS_CPU_PROF=DIR: every child writes a V8 CPU profile there when it is stopped (not killed).
    const prof = process.env.BENCH_XDS_CPU_PROF ? ['--cpu-prof', '--cpu-prof-dir', process.env.BENCH_XDS_CPU_PROF] : [];
    this.child = fork(fileURLToPath(new URL(script, import.meta.url)), [], {
      execArgv: ['--import', 'tsx', ...execArgv, ...prof],
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      env: { ...process.env, ...env },
    });
    live.add(this);
    const verbose = process.env.BENCH_XDS_VERBOSE === '1';
    const keep = (chunk: Buffer) => {
      if (verbose) process.stderr.write(chunk.toString('utf8').replace(/^(?=.)/gm, `[${name}] `));
      for (const line of chunk.toString('utf8').split('\n')) if (line.trim()) this.#tail.push(line);
      if (this.#tail.length > 40) this.#tail.splice(0, this.#tail.length - 40);
    };
    this.child.stdout?.on('data', keep);
    this.child.stderr?.on('data', keep);
    this.child.on('message', (raw) => {
      const at = wall();
      for (const l of this.#listeners) l(raw as FromChild, at);
    });
    this.#exited = new Promise((resolve) => {
      this.child.on('exit', (code, signal) => {
        this.#exit = signal ? `killed by ${signal}` : `exited with code ${code}`;
        live.delete(this);
        for (const l of this.#listeners) l({ kind: 'failed', error: `${this.name} ${this.#exit}` }, wall());
        resolve();
      });
    });
  }

  get running(): boolean {
    return this.#exit === undefined;
  }

  logs(): string {
    return this.#tail.join('\n');
  }

  /**
   * Resolves with the first message `pick` accepts; rejects after `timeoutMs`, or at once if the child
   * exits or reports a failure.
   */
  waitFor<T>(what: string, pick: (m: FromChild, receivedAt: number) => T | undefined, timeoutMs: number): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const done = (fn: () => void) => {
        clearTimeout(timer);
        this.#listeners.delete(listener);
        fn();
      };
      const timer = setTimeout(() => done(() => reject(new TimeoutError(`${this.name}: no ${what} within ${timeoutMs} ms`))), timeoutMs);
      timer.unref();
      const listener: Listener = (m, at) => {
        if (m.kind === 'failed') return done(() => reject(new Error(`${this.name} failed while waiting for ${what}: ${m.error}\n${this.logs()}`)));
        const v = pick(m, at);
        if (v !== undefined) done(() => resolve(v));
      };
      this.#listeners.add(listener);
      if (!this.running) done(() => reject(new Error(`${this.name} is not running (${this.#exit ?? '?'}) while waiting for ${what}\n${this.logs()}`)));
    });
  }

  ready(timeoutMs: number): Promise<Extract<FromChild, { kind: 'ready' }>> {
    return this.waitFor('ready', (m) => (m.kind === 'ready' ? m : undefined), timeoutMs);
  }

  /** Sends a command and resolves with its reply's value (rejects with the child's error). */
  async request<T>(cmd: string, timeoutMs: number, args?: unknown): Promise<T> {
    const id = this.#nextId++;
    const reply = this.waitFor(`reply to ${cmd}`, (m) => (m.kind === 'reply' && m.id === id ? m : undefined), timeoutMs);
    const msg: ToChild = args === undefined ? { cmd, id } : { cmd, id, args };
    this.child.send(msg);
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

  /** Closes the IPC channel, on which a harness exits by itself (writing its CPU profile); SIGKILL if it has not within 10 s. */
  async stop(): Promise<void> {
    if (!this.running) return;
    if (this.child.connected) this.child.disconnect();
    await Promise.race([this.#exited, new Promise((r) => setTimeout(r, 10_000))]);
    await this.kill();
  }

  /** SIGKILL, then waits (bounded) for the exit. */
  async kill(): Promise<void> {
    if (!this.running) return;
    this.child.kill('SIGKILL');
    await Promise.race([this.#exited, new Promise((r) => setTimeout(r, 5000))]);
  }
}
