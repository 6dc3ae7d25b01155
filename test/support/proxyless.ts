// Proxyless mesh members for end-to-end tests: a meshfed-dp agent beside a workload, and the demo Echo
// app as a real grpc-js-xds server behind it. Everything started here is registered for cleanup as it
// is spawned.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { cleanups, killOnExit } from './cleanup.js';
import { eventually } from './federation.js';
import type { RunningCp } from './processes.js';

const ROOT = join(import.meta.dirname, '..', '..');
export const DP = join(ROOT, 'packages', 'dp', 'dist', 'main.js');
export const DEMO_APP = join(ROOT, 'packages', 'dp', 'dist', 'demo-app', 'main.js');

export interface Child {
  readonly child: ChildProcess;
  out(): string;
  err(): string;
  /** SIGTERM (SIGKILL after 10 s); resolves with the exit code and how long it took. */
  stop(): Promise<{ code: number | null; ms: number }>;
}

function startChild(args: readonly string[], env: Record<string, string>): Child {
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  child.once('exit', killOnExit(() => child.kill('SIGKILL')));
  let out = '';
  let err = '';
  child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (err += c.toString()));
  const stop = async () => {
    const t0 = Date.now();
    if (child.exitCode !== null || child.signalCode !== null) return { code: child.exitCode, ms: 0 };
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    const exit = once(child, 'exit') as Promise<[number | null]>;
    child.kill('SIGTERM');
    const [code] = await exit;
    clearTimeout(timer);
    return { code, ms: Date.now() - t0 };
  };
  cleanups.push(stop);
  return { child, out: () => out, err: () => err, stop };
}

/** `meshfed-dp run …`, logging at debug. */
export const startAgent = (args: readonly string[]): Child => startChild([DP, 'run', ...args], { MESHFED_LOG_LEVEL: 'debug' });

/** A port free on loopback now: a Dataplane's inbound, where its proxyless app will serve. */
export async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  server.close();
  await once(server, 'close');
  return port;
}

export async function dataplaneToken(zone: RunningCp, mesh: string, name: string): Promise<string> {
  const res = await fetch(`${zone.url}/tokens/dataplane`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ mesh, name, validFor: '1h' }) });
  assert.equal(res.status, 200, await res.clone().text());
  return (await res.text()).trim();
}

export const proxylessDataplaneYaml = (name: string, port: number, tags: Readonly<Record<string, string>>) => `type: Dataplane
mesh: default
name: ${name}
networking:
  address: 127.0.0.1
  proxyless: true
  inbound:
    - port: ${port}
      tags:
${Object.entries(tags).map(([k, v]) => `        ${k}: ${v}`).join('\n')}
`;

export interface Member {
  readonly name: string;
  readonly port: number;
  readonly bootstrapFile: string;
  readonly agent: Child;
}

/** A proxyless Dataplane of the default mesh, registered by its own agent, which is ready (bootstrap written). */
export async function startMember(zone: RunningCp, dir: string, name: string, tags: Readonly<Record<string, string>>): Promise<Member> {
  const port = await freePort();
  const dpFile = join(dir, `${name}.yaml`);
  const tokenFile = join(dir, `${name}.token`);
  const bootstrapFile = join(dir, `${name}.bootstrap.json`);
  writeFileSync(dpFile, proxylessDataplaneYaml(name, port, tags));
  writeFileSync(tokenFile, `${await dataplaneToken(zone, 'default', name)}\n`);
  const agent = startAgent(['--cp', zone.url, '--dataplane-file', dpFile, '--token-file', tokenFile, '--proxyless', '--bootstrap-file', bootstrapFile, '--work-dir', join(dir, `${name}.work`)]);
  await eventually(`${name}'s agent ready`, async () => agent.err().includes('meshfed-dp: ready'), 20_000).catch((e: Error) => {
    throw new Error(`${e.message}\nstdout:\n${agent.out()}\nstderr:\n${agent.err()}`);
  });
  return { name, port, bootstrapFile, agent };
}

/**
 * The demo Echo app as a grpc-js-xds XdsServer on the member's inbound port, resolved once it serves
 * (its Listener arrived and validated). The inbound carries an RBAC filter, which grpc-js-xds 1.14
 * accepts only with GRPC_XDS_EXPERIMENTAL_RBAC=true.
 */
export async function startEchoApp(member: Member, opts: { service: string; version: string; zone?: string; failAll?: boolean }): Promise<Child> {
  const args = [DEMO_APP, 'serve', '--port', String(member.port), '--instance', member.name, '--service', opts.service, '--version', opts.version, '--zone', opts.zone ?? 'zone-1'];
  if (opts.failAll) args.push('--fail-all');
  const app = startChild(args, { GRPC_XDS_BOOTSTRAP: member.bootstrapFile, GRPC_XDS_EXPERIMENTAL_RBAC: 'true' });
  await eventually(`${member.name} serving`, async () => /"serving-status","code":"OK"/.test(app.out()), 20_000).catch((e: Error) => {
    throw new Error(`${e.message}\napp:\n${app.out()}${app.err()}\nagent:\n${member.agent.out()}`);
  });
  return app;
}
