// Child processes of `npm run bench -- kds` and the messages they exchange with the bench over IPC.
// Every child is tracked and killed when the bench ends, however it ends; every wait is bounded.
// No meshfed import here: the baseline harness loads this file too.
import { type ChildProcess, fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** Wall-clock milliseconds with sub-millisecond resolution, comparable between processes of one host. */
export const wall = (): number => performance.timeOrigin + performance.now();

/** A child → bench message. `at` is always `wall()` in the child. */
export type FromChild =
  | { kind: 'ready'; pid: number; url?: string; kdsPort?: number; httpPort?: number; grpcPort?: number }
  | { kind: 'starting'; at: number }
  | { kind: 'link'; state: string; at: number }
  | { kind: 'synced'; at: number; count: number }
  | { kind: 'arrived'; name: string; at: number; early?: boolean }
  | { kind: 'reply'; id: number; rss?: number; cpuMs?: number; digest?: string; count?: number }
  | { kind: 'failed'; error: string };

/** A bench → child command; each is answered by a `reply` with the same id. */
export interface ToChild {
  readonly cmd: 'usage' | 'digest' | 'load' | 'arm';
  readonly id: number;
  readonly n?: number;
}

/** What a meshfed zone harness is told at start (JSON in BENCH_KDS_HARNESS). */
export interface ZoneHarnessConfig {
  readonly zone: string;
  readonly kdsPort: number;
  readonly tokenFile: string;
  readonly store: 'memory' | 'postgres';
  readonly postgresUrl?: string;
  /** Reports `synced` once this many MeshTimeouts from global are in the store. */
  readonly expect: number;
  /** Report every MeshTimeout create/update from the start (otherwise only after an `arm` command). */
  readonly armed: boolean;
  /** name → idleTimeout: already in the store when the harness subscribes → reported at its modificationTime. */
  readonly watch?: Readonly<Record<string, string>>;
}

/** What a baseline harness is told at start (JSON in BENCH_KDS_BASELINE). */
export type BaselineHarnessConfig =
  | { readonly role: 'server' }
  | { readonly role: 'idle' }
  | { readonly role: 'zone'; readonly grpcPort: number; readonly preload: number };

export const MESH = 'default';

/** The MeshTimeout every bench resource is: the same body on global, in the zones and in the baseline. */
export function meshTimeout(name: string, idleTimeout = '10s') {
  return {
    type: 'MeshTimeout', mesh: MESH, name,
    spec: { targetRef: { kind: 'Mesh' }, to: [{ targetRef: { kind: 'Mesh' }, default: { idleTimeout, connectionTimeout: '5s' } }] },
  };
}

export function idleTimeoutOf(spec: unknown): string | undefined {
  if (typeof spec !== 'object' || spec === null) return undefined;
  const to = (spec as { to?: unknown }).to;
  if (!Array.isArray(to)) return undefined;
  const first: unknown = to[0];
  if (typeof first !== 'object' || first === null) return undefined;
  const def = (first as { default?: unknown }).default;
  if (typeof def !== 'object' || def === null) return undefined;
  const v = (def as { idleTimeout?: unknown }).idleTimeout;
  return typeof v === 'string' ? v : undefined;
}

/** This process's resident memory and the CPU time it has used so far (user + system). */
export function usage(): { rss: number; cpuMs: number } {
  const c = process.cpuUsage();
  return { rss: process.memoryUsage().rss, cpuMs: (c.user + c.system) / 1000 };
}

export function isFromBench(m: unknown): m is ToChild {
  return typeof m === 'object' && m !== null && typeof (m as { cmd?: unknown }).cmd === 'string' && typeof (m as { id?: unknown }).id === 'number';
}

export function send(m: FromChild): void {
  process.send?.(m);
}

type Listener = (m: FromChild, receivedAt: number) => void;

const live = new Set<Proc>();
let exitHookInstalled = false;

/** Kills every child still running (SIGKILL): used at the end of the bench and on any exit. */
export async function killAll(): Promise<void> {
  await Promise.all([...live].map((p) => p.kill()));
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
  ) {
    if (!exitHookInstalled) {
      exitHookInstalled = true;
      process.on('exit', () => {
        for (const p of live) p.child.kill('SIGKILL');
      });
    }
    // BENCH_KDS_CPU_PROF=DIR: every child writes a V8 CPU profile there when it is stopped (not killed).
    const prof = process.env.BENCH_KDS_CPU_PROF ? ['--cpu-prof', '--cpu-prof-dir', process.env.BENCH_KDS_CPU_PROF] : [];
    this.child = fork(fileURLToPath(new URL(script, import.meta.url)), [], {
      execArgv: ['--import', 'tsx', ...prof],
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      env: { ...process.env, ...env },
    });
    live.add(this);
    const verbose = process.env.BENCH_KDS_VERBOSE === '1';
    const keep = (chunk: Buffer) => {
      if (verbose) process.stderr.write(chunk.toString('utf8').replace(/^(?=.)/gm, `[${name}] `));
      for (const line of chunk.toString('utf8').split('\n')) if (line.trim()) this.#tail.push(line);
      if (this.#tail.length > 40) this.#tail.splice(0, this.#tail.length - 40);
    };
    this.child.stdout?.on('data', keep);
    this.child.stderr?.on('data', keep);
    this.child.on('message', (raw) => {
      const at = wall();
      const m = raw as FromChild;
      for (const l of this.#listeners) l(m, at);
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

  logs(): string {
    return this.#tail.join('\n');
  }

  on(l: Listener): () => void {
    this.#listeners.add(l);
    return () => this.#listeners.delete(l);
  }

  /**
   * Resolves with the first message `pick` accepts; rejects after `timeoutMs`, or at once if the child
   * exits or reports a failure. The listener is in place when this returns, before any await.
   */
  waitFor<T>(what: string, pick: (m: FromChild, receivedAt: number) => T | undefined, timeoutMs: number): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const done = (fn: () => void) => {
        clearTimeout(timer);
        off();
        fn();
      };
      const timer = setTimeout(() => done(() => reject(new TimeoutError(`${this.name}: no ${what} within ${timeoutMs} ms`))), timeoutMs);
      timer.unref();
      const off = this.on((m, at) => {
        if (m.kind === 'failed') return done(() => reject(new Error(`${this.name} failed while waiting for ${what}: ${m.error}\n${this.logs()}`)));
        const v = pick(m, at);
        if (v !== undefined) done(() => resolve(v));
      });
      if (!this.running) done(() => reject(new Error(`${this.name} is not running (${this.#exit ?? '?'}) while waiting for ${what}\n${this.logs()}`)));
    });
  }

  async request(cmd: ToChild['cmd'], timeoutMs: number, n?: number): Promise<Extract<FromChild, { kind: 'reply' }>> {
    const id = this.#nextId++;
    const reply = this.waitFor(`reply to ${cmd}`, (m) => (m.kind === 'reply' && m.id === id ? m : undefined), timeoutMs);
    const msg: ToChild = n === undefined ? { cmd, id } : { cmd, id, n };
    this.child.send(msg);
    return reply;
  }

  /** Closes the IPC channel, on which a harness exits by itself; SIGKILL if it has not within 5 s. */
  async stop(): Promise<void> {
    if (!this.running) return;
    if (this.child.connected) this.child.disconnect();
    await Promise.race([this.#exited, new Promise((r) => setTimeout(r, 5000))]);
    await this.kill();
  }

  /** SIGKILL, then waits (bounded) for the exit. */
  async kill(): Promise<void> {
    if (!this.running) return;
    this.child.kill('SIGKILL');
    await Promise.race([this.#exited, new Promise((r) => setTimeout(r, 5000))]);
  }
}

export class TimeoutError extends Error {
  override name = 'TimeoutError';
}
