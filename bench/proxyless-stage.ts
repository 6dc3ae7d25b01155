// The stage of `npm run bench -- proxyless`: meshfed's daemons as shipped (packages/*/dist/main.js), each
// in its own OS process, and the REST calls that set them up. A global CP, zones federated to it over
// plaintext KDS, `meshfed-dp` agents beside proxyless apps, and the demo Echo app as a grpc-js-xds
// server. Every child is tracked (proc.ts) so that the bench kills it however it ends; every wait is
// bounded. A zone runs with a preloaded probe (proxyless-zone-probe.mjs) that reports its own memory and
// CPU over IPC: nothing in the zone's code changes for it.
import { type ChildProcess, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DATAPLANE_TOKEN_PATH, POLICY_DESCRIPTORS, XDS_CA_PATH, XDS_SERVER_INFO_PATH, type XdsServerInfo } from '@meshfed/shared';
import { LogWarnings } from './log-warnings.js';
import { sleep, TimeoutError, track } from './proc.js';
import { MESH } from './proxyless-topology.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const GLOBAL_MAIN = join(ROOT, 'packages', 'global', 'dist', 'main.js');
const ZONE_MAIN = join(ROOT, 'packages', 'zone', 'dist', 'main.js');
export const DP_MAIN = join(ROOT, 'packages', 'dp', 'dist', 'main.js');
const DEMO_APP_MAIN = join(ROOT, 'packages', 'dp', 'dist', 'demo-app', 'main.js');
const ZONE_PROBE = fileURLToPath(new URL('./proxyless-zone-probe.mjs', import.meta.url));


/** A daemon answering on its ports within this long is up; longer is a failure worth its logs. */
const START_TIMEOUT_MS = 30_000;
/** SIGTERM, then SIGKILL past this: a daemon stopping cleanly (agents end their streams) takes well under it. */
const STOP_GRACE_MS = 5_000;
/** Lines of a daemon's output kept for error messages. */
const TAIL_LINES = 60;

/** One daemon: its output (tail kept, lines watched), bounded waits, SIGTERM then SIGKILL. */
export class Daemon {
  readonly child: ChildProcess;
  /** The warn/error lines of its JSON log: the bench says when a daemon complained. */
  readonly warnings = new LogWarnings(3);
  readonly #tail: string[] = [];
  readonly #watchers = new Set<(line: string) => void>();
  readonly #exited: Promise<void>;
  #exit: string | undefined;
  #nextId = 1;

  constructor(readonly name: string, args: readonly string[], o: { env?: Record<string, string>; execArgv?: readonly string[]; ipc?: boolean } = {}) {
    this.child = spawn(process.execPath, [...(o.execArgv ?? []), ...args], {
      stdio: o.ipc ? ['ignore', 'pipe', 'pipe', 'ipc'] : ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...o.env },
    });
    const untrack = track(this);
    const verbose = process.env.BENCH_PROXYLESS_VERBOSE === '1';
    for (const s of [this.child.stdout, this.child.stderr]) {
      let partial = '';
      s?.on('data', (chunk: Buffer) => {
        const text = partial + chunk.toString('utf8');
        const lines = text.split('\n');
        partial = lines.pop() ?? '';
        for (const line of lines) {
          if (!line.trim()) continue;
          if (verbose) process.stderr.write(`[${name}] ${line}\n`);
          this.#tail.push(line);
          this.warnings.destination.write(`${line}\n`);
          for (const w of this.#watchers) w(line);
        }
        if (this.#tail.length > TAIL_LINES) this.#tail.splice(0, this.#tail.length - TAIL_LINES);
      });
    }
    this.#exited = new Promise((resolve) => {
      this.child.once('exit', (code, signal) => {
        this.#exit = signal ? `killed by ${signal}` : `exited with code ${code}`;
        untrack();
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

  /** The first line (from now on) that `pick` accepts; rejects past `timeoutMs` or if the daemon exits first. */
  waitForLine<T>(what: string, pick: (line: string) => T | undefined, timeoutMs = START_TIMEOUT_MS): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const done = (f: () => void) => {
        clearTimeout(timer);
        this.#watchers.delete(watch);
        this.child.off('exit', onExit);
        f();
      };
      const timer = setTimeout(() => done(() => reject(new TimeoutError(`${this.name}: no ${what} within ${timeoutMs} ms\n${this.logs()}`))), timeoutMs);
      const watch = (line: string) => {
        const v = pick(line);
        if (v !== undefined) done(() => resolve(v));
      };
      const onExit = () => done(() => reject(new Error(`${this.name} ${this.#exit ?? 'exited'} while waiting for ${what}\n${this.logs()}`)));
      this.#watchers.add(watch);
      this.child.once('exit', onExit);
      if (!this.running) onExit();
    });
  }

  /** A request over IPC to the zone probe; its answer (rejects past `timeoutMs`). */
  ask<T>(cmd: string, timeoutMs: number): Promise<T> {
    const id = this.#nextId++;
    return new Promise<T>((resolve, reject) => {
      const onMessage = (m: { id?: number; value?: T }) => {
        if (m?.id !== id) return;
        clearTimeout(timer);
        this.child.off('message', onMessage);
        resolve(m.value as T);
      };
      const timer = setTimeout(() => {
        this.child.off('message', onMessage);
        reject(new TimeoutError(`${this.name}: no answer to ${cmd} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.child.on('message', onMessage);
      this.child.send({ cmd, id });
    });
  }

  /** SIGTERM, SIGKILL past the grace; resolves once it exited (bounded). */
  async stop(graceMs = STOP_GRACE_MS): Promise<void> {
    if (!this.running) return;
    this.child.kill('SIGTERM');
    await Promise.race([this.#exited, sleep(graceMs)]);
    await this.kill();
  }

  async kill(): Promise<void> {
    if (!this.running) return;
    this.child.kill('SIGKILL');
    await Promise.race([this.#exited, sleep(5000)]);
  }
}

/** The JSON field of the first log line carrying `msg` (the daemons log pino JSON). */
function logField<T>(line: string, msg: string, field: string): T | undefined {
  if (!line.includes(`"${msg}"`)) return undefined;
  try {
    const v = (JSON.parse(line) as Record<string, unknown>)[field];
    return v === undefined ? undefined : (v as T);
  } catch {
    return undefined;
  }
}

export interface Cp {
  readonly daemon: Daemon;
  readonly url: string;
}

/** The CP's REST API url, from its "api listening" line (ports are chosen by the OS: port 0). */
async function apiUp(d: Daemon, extra?: Promise<unknown>): Promise<Cp> {
  const url = await d.waitForLine('"api listening"', (l) => logField<string>(l, 'api listening', 'url'));
  await extra;
  return { daemon: d, url };
}

/** Ports on loopback chosen by the OS for everything a daemon listens on, the HTTPS API's included. */
const LOOPBACK_API = ['--api-port', '0', '--api-address', '127.0.0.1', '--api-tls-port', '0'];

export async function startGlobal(): Promise<Cp & { kdsPort: number }> {
  // Plaintext KDS on loopback: KDS is not what this bench measures.
  const d = new Daemon('global', [GLOBAL_MAIN, ...LOOPBACK_API, '--kds-port', '0', '--kds-address', '127.0.0.1', '--kds-insecure']);
  const kds = d.waitForLine('"KDS listening"', (l) => logField<number>(l, 'KDS listening', 'kdsPort'));
  kds.catch(() => undefined);
  const cp = await apiUp(d);
  return { ...cp, kdsPort: await kds };
}

export async function zoneToken(global: Cp, zone: string): Promise<string> {
  return (await ok(await post(`${global.url}/tokens/zone`, { zone, scope: ['zone'], validFor: '1h' }), `zone token for ${zone}`)).trim();
}

export interface ZoneCp extends Cp {
  readonly zone: string;
  readonly xds: XdsServerInfo;
  /** The CA the zone's xDS certificate chains to (GET XDS_CA_PATH); undefined when xDS is plaintext. */
  readonly xdsCaPem: string | undefined;
}

/**
 * A zone federated to `global`, with its default proxy authentication (dataplane tokens) and xDS over
 * TLS from its own CA, as an operator runs it; run with --expose-gc and the probe, so that the bench
 * can ask for its memory after a full gc.
 */
export async function startZone(global: Cp & { kdsPort: number }, zone: string, dir: string): Promise<ZoneCp> {
  const tokenFile = join(dir, `${zone}.zone-token`);
  writeFileSync(tokenFile, await zoneToken(global, zone));
  const d = new Daemon(zone, [
    ZONE_MAIN, ...LOOPBACK_API, '--xds-port', '0', '--xds-address', '127.0.0.1', '--zone', zone,
    '--global-address', `grpc://127.0.0.1:${global.kdsPort}`, '--zone-token-file', tokenFile,
    // Redial global quickly: a zone started while global is busy should not wait its default backoff.
    '--kds-backoff-base', '100ms', '--kds-backoff-max', '1s',
  ], { execArgv: ['--expose-gc', '--import', ZONE_PROBE, ...zoneProfile()], ipc: true });
  const { url } = await apiUp(d);
  const xds = await getJson<XdsServerInfo>(`${url}${XDS_SERVER_INFO_PATH}`);
  const xdsCaPem = xds.tls ? await ok(await request(`${url}${XDS_CA_PATH}`), `GET ${XDS_CA_PATH}`) : undefined;
  // The mesh arrives from global over KDS: proxies of it are refused until then.
  await until(`mesh ${MESH} in ${zone}`, async () => (await request(`${url}/meshes/${MESH}`)).status === 200, START_TIMEOUT_MS);
  return { daemon: d, url, zone, xds, xdsCaPem };
}

/** BENCH_PROXYLESS_ZONE_CPU_PROF=DIR: a V8 CPU profile of each zone's whole life, written when it stops (SIGTERM). */
function zoneProfile(): string[] {
  const dir = process.env.BENCH_PROXYLESS_ZONE_CPU_PROF;
  return dir ? ['--cpu-prof', '--cpu-prof-dir', dir] : [];
}

/** The zone process's memory (after a full gc in it) and CPU so far, from its probe. */
export interface ZoneUsage {
  readonly rss: number;
  readonly heapUsed: number;
  readonly external: number;
  readonly cpuMs: number;
}

export const zoneUsage = (z: ZoneCp, gc: boolean): Promise<ZoneUsage> => z.daemon.ask<ZoneUsage>(gc ? 'usage-gc' : 'usage', 30_000);

// ---------------------------------------------------------------------------------------------
// REST

/** One API call answers within this, or the daemon is stuck: the bench says so rather than hang. */
const REST_TIMEOUT_MS = 30_000;

/** fetch, bounded by REST_TIMEOUT_MS. */
export const request = (url: string, init: RequestInit = {}) => fetch(url, { ...init, signal: AbortSignal.timeout(REST_TIMEOUT_MS) });

export async function ok(res: Response, what: string): Promise<string> {
  const text = await res.text();
  if (!res.ok) throw new Error(`${what}: ${res.status} ${text}`);
  return text;
}

export async function getJson<T>(url: string): Promise<T> {
  return JSON.parse(await ok(await request(url), `GET ${url}`)) as T;
}

const post = (url: string, body: unknown) => request(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

export async function put(url: string, body: unknown): Promise<void> {
  await ok(await request(url, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }), `PUT ${url}`);
}

export async function del(url: string): Promise<void> {
  const res = await request(url, { method: 'DELETE' });
  if (res.status !== 404) await ok(res, `DELETE ${url}`);
}

export const plural = (kind: string): string => {
  const d = POLICY_DESCRIPTORS.find((x) => x.kind === kind);
  if (!d) throw new Error(`no policy kind ${kind}`);
  return d.plural;
};

export const policyUrl = (cp: Cp, kind: string, name: string) => `${cp.url}/meshes/${MESH}/${plural(kind)}/${name}`;

export async function applyPolicy(global: Cp, kind: string, name: string, spec: unknown): Promise<void> {
  await put(policyUrl(global, kind, name), { type: kind, mesh: MESH, name, spec });
}

export async function dataplaneToken(zone: Pick<Cp, 'url'>, name: string): Promise<string> {
  return (await ok(await post(`${zone.url}${DATAPLANE_TOKEN_PATH}`, { mesh: MESH, name, validFor: '1h' }), `dataplane token for ${name}`)).trim();
}

/** Polls `check` every 20 ms until it holds; a TimeoutError past `timeoutMs`. */
export async function until(what: string, check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  let last: unknown;
  while (performance.now() < deadline) {
    try {
      if (await check()) return;
    } catch (err) {
      last = err;
    }
    await sleep(20);
  }
  throw new TimeoutError(`no ${what} within ${timeoutMs} ms${last ? `: ${String(last)}` : ''}`);
}

// ---------------------------------------------------------------------------------------------
// proxyless members

/** A port free on loopback now: a member's inbound, where its app will serve. */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** A proxyless Dataplane of the mesh: one inbound with `tags`, where its app serves. */
export function proxylessDataplane(name: string, port: number, tags: Readonly<Record<string, string>>) {
  return { type: 'Dataplane', mesh: MESH, name, networking: { address: '127.0.0.1', proxyless: true, inbound: [{ port, tags: { ...tags } }] } };
}

export interface Member {
  readonly name: string;
  readonly port: number;
  readonly bootstrapFile: string;
  /** The agent's --work-dir: the mesh certificates it writes for the app (cert.pem, key.pem, ca.pem). */
  readonly workDir: string;
  readonly agent: Daemon;
}

/** `meshfed-dp run --proxyless` with its own token; resolved once it says the bootstrap is written. */
export async function startMember(zone: ZoneCp, dir: string, name: string, tags: Readonly<Record<string, string>>): Promise<Member> {
  const port = await freePort();
  const dpFile = join(dir, `${name}.dataplane.json`);
  const tokenFile = join(dir, `${name}.token`);
  const bootstrapFile = join(dir, `${name}.bootstrap.json`);
  const workDir = join(dir, `${name}.work`);
  writeFileSync(dpFile, JSON.stringify(proxylessDataplane(name, port, tags)));
  writeFileSync(tokenFile, `${await dataplaneToken(zone, name)}\n`);
  const agent = new Daemon(`dp-${name}`, [DP_MAIN, 'run', '--cp', zone.url, '--dataplane-file', dpFile, '--token-file', tokenFile, '--proxyless', '--bootstrap-file', bootstrapFile, '--work-dir', workDir]);
  await agent.waitForLine('"meshfed-dp: ready"', (l) => (l.includes('meshfed-dp: ready') ? true : undefined));
  return { name, port, bootstrapFile, workDir, agent };
}

/**
 * The demo Echo app as a grpc-js-xds XdsServer on the member's inbound, resolved once it serves (its
 * Listener arrived and validated). Its inbound carries MeshTrafficPermission's RBAC filter, which
 * grpc-js-xds 1.14 accepts only with GRPC_XDS_EXPERIMENTAL_RBAC=true.
 */
export async function startEchoApp(m: Member, o: { service: string; version: string; zone: string }): Promise<Daemon> {
  const app = new Daemon(`app-${m.name}`, [DEMO_APP_MAIN, 'serve', '--port', String(m.port), '--instance', m.name, '--service', o.service, '--version', o.version, '--zone', o.zone], {
    env: { GRPC_XDS_BOOTSTRAP: m.bootstrapFile, GRPC_XDS_EXPERIMENTAL_RBAC: 'true' },
  });
  await app.waitForLine('serving status OK', (l) => (/"serving-status","code":"OK"/.test(l) ? true : undefined));
  return app;
}
