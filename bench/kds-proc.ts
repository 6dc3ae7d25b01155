// The messages of `npm run bench -- kds` between the bench and its children (see proc.ts for the
// processes themselves). No meshfed import here: the baseline harness loads this file too.
import { type Failed, Proc as BaseProc, send as sendAny } from './proc.js';

export { killAll, TimeoutError, usage, wall } from './proc.js';

/** A child → bench message. `at` is always `wall()` in the child. */
export type FromChild =
  | { kind: 'ready'; pid: number; url?: string; kdsPort?: number; httpPort?: number; grpcPort?: number }
  | { kind: 'starting'; at: number }
  | { kind: 'link'; state: string; at: number }
  | { kind: 'synced'; at: number; count: number }
  | { kind: 'arrived'; name: string; at: number; early?: boolean }
  | { kind: 'reply'; id: number; rss?: number; cpuMs?: number; digest?: string; count?: number }
  | Failed;

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

export function isFromBench(m: unknown): m is ToChild {
  return typeof m === 'object' && m !== null && typeof (m as { cmd?: unknown }).cmd === 'string' && typeof (m as { id?: unknown }).id === 'number';
}

export function send(m: FromChild): void {
  sendAny(m);
}

/** One child of the KDS bench. */
export class Proc extends BaseProc<FromChild> {
  #nextId = 1;

  constructor(name: string, script: string, env: Record<string, string>) {
    super(name, script, { env, cpuProfEnv: 'BENCH_KDS_CPU_PROF', verboseEnv: 'BENCH_KDS_VERBOSE', stopGraceMs: 5000 });
  }

  async request(cmd: ToChild['cmd'], timeoutMs: number, n?: number): Promise<Extract<FromChild, { kind: 'reply' }>> {
    const id = this.#nextId++;
    const reply = this.waitFor(`reply to ${cmd}`, (m) => (m.kind === 'reply' && m.id === id ? m : undefined), timeoutMs);
    const msg: ToChild = n === undefined ? { cmd, id } : { cmd, id, n };
    this.send(msg);
    return reply;
  }
}
