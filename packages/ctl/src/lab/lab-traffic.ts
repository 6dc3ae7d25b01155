import type { ChildProcess } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { DEMO_APP_PATH, DP_AGENT_PATH, spawnLogged, stopAll } from './lab-runner.js';
import { ECHO_RATE, ECHO_SERVICE, ECHO_TARGET, type LabZone, trafficDataplane, type TrafficMember } from './lab-traffic-plan.js';
import { keepWindow, LoadLine, type MemberView, type ReceivedWindow, trafficTable } from './lab-traffic-view.js';

/**
 * How long an agent may take to say it is ready, and a server to serve. Generous: a dozen node
 * processes start at once on what may be two cores, beside the control planes.
 */
const READY_TIMEOUT_MS = 60_000;
const TOKEN_TIMEOUT_MS = 10_000;
/** The dataplane tokens outlive any lab run; the lab makes new ones each start. */
const TOKEN_VALID_FOR = '720h';

export interface TrafficDemoOptions {
  readonly members: readonly TrafficMember[];
  /** Each zone's API: where agents register and tokens come from. */
  readonly zoneApis: Readonly<Record<LabZone, string>>;
  /** Where each member keeps its Dataplane, token, bootstrap and certificates (`<dir>/<zone>/<name>/`). */
  readonly dir: string;
  readonly logDir: string;
}

interface Running {
  readonly member: TrafficMember;
  state: string;
}

/** Why a wait for a line ended without it. */
type Outcome = { ok: true } | { ok: false; why: string };

/**
 * The traffic demo's processes: per member a meshfed-dp agent, then its app (a server, or the
 * caller once its zone's servers serve). Starting never throws: what goes wrong shows in the
 * member's state in the table, and the control planes keep running.
 */
export class TrafficDemo {
  readonly #o: TrafficDemoOptions;
  readonly #running: Running[];
  readonly #children: { readonly child: ChildProcess }[] = [];
  readonly #windows = new Map<string, ReceivedWindow[]>();
  #stopping = false;

  constructor(o: TrafficDemoOptions) {
    this.#o = o;
    this.#running = o.members.map((member) => ({ member, state: 'starting agent' }));
  }

  /** Resolves once every member's start has succeeded or given up. */
  async start(): Promise<void> {
    const zones = [...new Set(this.#running.map((r) => r.member.zone))];
    await Promise.all(zones.map((z) => this.#startZone(z)));
  }

  /** Stops every process started, and starts no more. */
  async stop(): Promise<void> {
    this.#stopping = true;
    await stopAll(this.#children);
  }

  table(now: number): string {
    const views: MemberView[] = this.#running.map((r) => ({ member: r.member, state: r.state }));
    return trafficTable(views, this.#windows, now);
  }

  async #startZone(zone: LabZone): Promise<void> {
    const here = this.#running.filter((r) => r.member.zone === zone);
    const ready = await Promise.all(here.map(async (r) => ((await this.#startAgent(r)) ? [r] : [])));
    const withAgent = ready.flat();
    // The caller starts once its zone's servers serve (or gave up), so its first seconds are not failures.
    for (const r of withAgent.filter((x) => x.member.role === 'caller')) r.state = `waiting for ${ECHO_SERVICE}`;
    await Promise.all(withAgent.filter((r) => r.member.role === 'server').map((r) => this.#startServer(r)));
    for (const r of withAgent.filter((x) => x.member.role === 'caller')) this.#startCaller(r);
  }

  #files(m: TrafficMember) {
    const dir = join(this.#o.dir, m.zone, m.name);
    return {
      dir,
      dataplane: join(dir, 'dataplane.yaml'), token: join(dir, 'token'), bootstrap: join(dir, 'bootstrap.json'),
      agentLog: join(this.#o.logDir, `${m.zone}.${m.name}.dp.log`), appLog: join(this.#o.logDir, `${m.zone}.${m.name}.log`),
    };
  }

  async #startAgent(r: Running): Promise<boolean> {
    const m = r.member;
    const f = this.#files(m);
    const api = this.#o.zoneApis[m.zone];
    try {
      await mkdir(f.dir, { recursive: true, mode: 0o700 });
      await writeFile(f.dataplane, stringify(trafficDataplane(m)));
      await writeFile(f.token, `${await dataplaneToken(api, m.name)}\n`, { mode: 0o600 });
    } catch (err) {
      r.state = `no agent: ${(err as Error).message}`;
      return false;
    }
    const outcome = await this.#run(r, 'agent', DP_AGENT_PATH, f.agentLog,
      ['run', '--cp', api, '--dataplane-file', f.dataplane, '--token-file', f.token, '--proxyless', '--bootstrap-file', f.bootstrap, '--work-dir', f.dir],
      {}, (line, stream) => stream === 'stderr' && line.startsWith('meshfed-dp: ready'));
    if (!outcome.ok) r.state = outcome.why;
    return outcome.ok;
  }

  async #startServer(r: Running): Promise<void> {
    const m = r.member;
    const f = this.#files(m);
    r.state = 'starting';
    const outcome = await this.#run(r, 'app', DEMO_APP_PATH, f.appLog,
      ['serve', '--port', String(m.port), '--instance', m.name, '--service', m.service, ...(m.version !== undefined ? ['--version', m.version] : []), '--zone', m.zone],
      // grpc-js-xds 1.14 accepts the inbound's RBAC filter (MeshTrafficPermission) only when told to.
      { GRPC_XDS_BOOTSTRAP: f.bootstrap, GRPC_XDS_EXPERIMENTAL_RBAC: 'true' },
      (line, stream) => {
        if (stream !== 'stdout') return false;
        const status = servingStatus(line);
        // The server may stop serving later (its Listener refused): the table says so.
        if (status !== undefined) r.state = status === 'OK' ? 'serving' : `not serving: ${status}`;
        return status === 'OK';
      });
    // A server that said why it does not serve keeps saying so, rather than that it timed out.
    if (!outcome.ok && !r.state.startsWith('not serving')) r.state = outcome.why;
  }

  #startCaller(r: Running): void {
    const m = r.member;
    const f = this.#files(m);
    r.state = 'starting';
    void this.#run(r, 'app', DEMO_APP_PATH, f.appLog, ['load', '--target', ECHO_TARGET, '--rate', String(ECHO_RATE)], { GRPC_XDS_BOOTSTRAP: f.bootstrap }, (line, stream) => {
      if (stream !== 'stdout' || !line.startsWith('{"msg":"load"')) return false;
      const parsed = LoadLine.safeParse(parseJson(line));
      if (!parsed.success) return false;
      r.state = 'calling';
      this.#windows.set(m.zone, keepWindow(this.#windows.get(m.zone) ?? [], { at: Date.now(), line: parsed.data }));
      return true;
    }).then((outcome) => {
      if (!outcome.ok) r.state = outcome.why;
    });
  }

  /**
   * Spawns one process of the member, logged to its file; resolves when `ready` accepts a line, or
   * not (it exited, or did not get ready in time; it keeps running then, and the lab stops it on exit).
   * A later exit, unless the lab is stopping, shows in the member's state.
   */
  #run(r: Running, which: 'agent' | 'app', entry: string, logFile: string, args: readonly string[], env: Record<string, string>,
    ready: (line: string, stream: 'stdout' | 'stderr') => boolean): Promise<Outcome> {
    if (this.#stopping) return Promise.resolve({ ok: false, why: 'lab stopping' });
    return new Promise<Outcome>((resolve) => {
      let settled = false;
      const settle = (o: Outcome) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve(o);
      };
      const child = spawnLogged(entry, args, logFile, { env: { ...process.env, ...env }, onLine: (line, stream) => {
        if (ready(line, stream)) settle({ ok: true });
      } });
      this.#children.push({ child });
      const prefix = which === 'agent' ? 'agent ' : '';
      const timer = setTimeout(() => settle({ ok: false, why: `${prefix}not ready after ${READY_TIMEOUT_MS / 1000} s` }), READY_TIMEOUT_MS);
      child.once('error', (err) => settle({ ok: false, why: `${prefix}not started: ${err.message}` }));
      child.once('exit', (code, signal) => {
        const why = `${prefix}exited ${code ?? signal}`;
        if (!this.#stopping) r.state = why;
        settle({ ok: false, why });
      });
    });
  }
}

/** A dataplane token for `name` in the default mesh; one line saying why when the zone refuses. */
async function dataplaneToken(zoneApi: string, name: string): Promise<string> {
  const res = await fetch(`${zoneApi}/tokens/dataplane`, {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ mesh: 'default', name, validFor: TOKEN_VALID_FOR }), signal: AbortSignal.timeout(TOKEN_TIMEOUT_MS),
  });
  const text = (await res.text()).trim();
  if (!res.ok) throw new Error(`token refused: ${res.status} ${text.split('\n')[0]}`);
  return text;
}

function parseJson(line: string): unknown {
  try {
    return JSON.parse(line);
  } catch {
    return undefined;
  }
}

/** The code of a server's `serving-status` line (`OK`, `UNAVAILABLE`…); undefined for any other line. */
function servingStatus(line: string): string | undefined {
  if (!line.startsWith('{"msg":"serving-status"')) return undefined;
  const v = parseJson(line) as { code?: unknown } | undefined;
  return typeof v?.code === 'string' ? v.code : undefined;
}
