// Child processes of the benches: each runs a harness under `node --import tsx` and speaks to the bench
// over IPC in the messages of its bench (kds-proc.ts, xds-proc.ts). Every child is tracked and killed
// when the bench ends, however it ends; every wait is bounded. No meshfed import here: every harness,
// baselines included, loads this file.
import { type ChildProcess, fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** Wall-clock milliseconds with sub-millisecond resolution, comparable between processes of one host. */
export const wall = (): number => performance.timeOrigin + performance.now();

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Every bench's child → bench messages include this one: the child could not start, or exited. */
export interface Failed {
  readonly kind: 'failed';
  readonly error: string;
}

/** Sends a message to the bench (the child side). */
export function send(m: object): void {
  process.send?.(m);
}

/** This process's resident memory, heap in use and the CPU time it has used so far (user + system). */
export function usage(): { rss: number; heapUsed: number; cpuMs: number } {
  const c = process.cpuUsage();
  const m = process.memoryUsage();
  return { rss: m.rss, heapUsed: m.heapUsed, cpuMs: (c.user + c.system) / 1000 };
}

export class TimeoutError extends Error {
  override name = 'TimeoutError';
}

/** What killAll needs of a child. */
export interface Killable {
  readonly child: ChildProcess;
  kill(): Promise<void>;
}

const live = new Set<Killable>();
let exitHookInstalled = false;

/** Kills every child still running (SIGKILL): used at the end of a bench and on any exit. */
export async function killAll(): Promise<void> {
  await Promise.all([...live].map((p) => p.kill()));
}

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const p of live) p.child.kill('SIGKILL');
  });
}

/**
 * Tracks a child a bench spawned itself (a daemon run as shipped, not a harness): killAll and the
 * exit hook kill it like a Proc. Call the returned function once it has exited.
 */
export function track(k: Killable): () => void {
  installExitHook();
  live.add(k);
  return () => live.delete(k);
}

export interface ProcOptions {
  readonly env?: Record<string, string>;
  readonly execArgv?: readonly string[];
  /** The bench's knob names: a directory for every child's V8 CPU profile, and `1` to echo children's output. */
  readonly cpuProfEnv: string;
  readonly verboseEnv: string;
  /** How long `stop` waits for the child to exit by itself (writing its CPU profile) before SIGKILL. */
  readonly stopGraceMs: number;
}

type Listener<M> = (m: M | Failed, receivedAt: number) => void;

/** One child process running a harness (a file of bench/), its messages of type M. */
export class Proc<M extends { kind: string }> {
  readonly child: ChildProcess;
  readonly #listeners = new Set<Listener<M>>();
  readonly #tail: string[] = [];
  readonly #exited: Promise<void>;
  readonly #stopGraceMs: number;
  #exit: string | undefined;

  constructor(readonly name: string, script: string, o: ProcOptions) {
    installExitHook();
    this.#stopGraceMs = o.stopGraceMs;
    // A CPU profile is written when the child is stopped (not when it is killed).
    const profDir = process.env[o.cpuProfEnv];
    const prof = profDir ? ['--cpu-prof', '--cpu-prof-dir', profDir] : [];
    this.child = fork(fileURLToPath(new URL(script, import.meta.url)), [], {
      execArgv: ['--import', 'tsx', ...(o.execArgv ?? []), ...prof],
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      env: { ...process.env, ...o.env },
    });
    live.add(this);
    const verbose = process.env[o.verboseEnv] === '1';
    const keep = (chunk: Buffer) => {
      if (verbose) process.stderr.write(chunk.toString('utf8').replace(/^(?=.)/gm, `[${name}] `));
      for (const line of chunk.toString('utf8').split('\n')) if (line.trim()) this.#tail.push(line);
      if (this.#tail.length > 40) this.#tail.splice(0, this.#tail.length - 40);
    };
    this.child.stdout?.on('data', keep);
    this.child.stderr?.on('data', keep);
    this.child.on('message', (raw) => {
      const at = wall();
      for (const l of this.#listeners) l(raw as M, at);
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

  get pid(): number {
    return this.child.pid ?? -1;
  }

  get running(): boolean {
    return this.#exit === undefined;
  }

  /** The child's last 40 lines of output. */
  logs(): string {
    return this.#tail.join('\n');
  }

  on(l: Listener<M>): () => void {
    this.#listeners.add(l);
    return () => this.#listeners.delete(l);
  }

  /**
   * Resolves with the first message `pick` accepts; rejects after `timeoutMs`, or at once if the child
   * exits or reports a failure. The listener is in place when this returns, before any await.
   */
  waitFor<T>(what: string, pick: (m: M, receivedAt: number) => T | undefined, timeoutMs: number): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const done = (fn: () => void) => {
        clearTimeout(timer);
        off();
        fn();
      };
      const timer = setTimeout(() => done(() => reject(new TimeoutError(`${this.name}: no ${what} within ${timeoutMs} ms`))), timeoutMs);
      timer.unref();
      const off = this.on((m, at) => {
        if (m.kind === 'failed') return done(() => reject(new Error(`${this.name} failed while waiting for ${what}: ${(m as Failed).error}\n${this.logs()}`)));
        const v = pick(m as M, at);
        if (v !== undefined) done(() => resolve(v));
      });
      if (!this.running) done(() => reject(new Error(`${this.name} is not running (${this.#exit ?? '?'}) while waiting for ${what}\n${this.logs()}`)));
    });
  }

  /** Sends a message to the child. */
  send(m: object): void {
    this.child.send(m);
  }

  /** Closes the IPC channel, on which a harness exits by itself; SIGKILL if it has not within the grace. */
  async stop(): Promise<void> {
    if (!this.running) return;
    if (this.child.connected) this.child.disconnect();
    await Promise.race([this.#exited, new Promise((r) => setTimeout(r, this.#stopGraceMs))]);
    await this.kill();
  }

  /** SIGKILL, then waits (bounded) for the exit. */
  async kill(): Promise<void> {
    if (!this.running) return;
    this.child.kill('SIGKILL');
    await Promise.race([this.#exited, new Promise((r) => setTimeout(r, 5000))]);
  }
}
