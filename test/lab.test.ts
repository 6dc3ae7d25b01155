import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { demoResources } from '../packages/ctl/src/lab/lab-demo.js';
import { LAB_BIND_ADDRESS, labFiles, labPlan } from '../packages/ctl/src/lab/lab-plan.js';
import { firstTakenPort, labPorts } from '../packages/ctl/src/lab/lab-ports.js';
import { EXAMPLE_ROUTE_FILE, trafficPlan, trafficPorts } from '../packages/ctl/src/lab/lab-traffic-plan.js';
import { killOnExit } from './support/cleanup.js';

const ROOT = join(import.meta.dirname, '..');
const CLI = join(ROOT, 'packages', 'ctl', 'dist', 'main.js');

/** Every port of the lab at `offset`: its daemons', its demo proxies' and its traffic apps'. */
const allLabPorts = (offset: number, dir: string) => labPorts(labPlan(offset, labFiles(join(dir, 'secrets'))), demoResources(offset), trafficPorts(trafficPlan(offset)));

/**
 * Runs `meshfed lab` in a process group of its own, so that killing the group in cleanup also ends
 * any daemon it started, even one it had no chance to stop itself.
 */
function spawnLab(args: readonly string[]): ChildProcess & { killGroup(): void; groupAlive(): boolean } {
  const child = spawn(process.execPath, [CLI, 'lab', ...args], { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  const signalGroup = (signal: NodeJS.Signals | 0) => {
    try {
      process.kill(-child.pid!, signal);
      return true;
    } catch {
      return false; // no process left in the group
    }
  };
  const killGroup = () => void signalGroup('SIGKILL');
  // Even if this file is killed first (the runner does that to a file that overruns its timeout).
  killOnExit(killGroup);
  return Object.assign(child, { killGroup, groupAlive: () => signalGroup(0) });
}

/**
 * Runs the lab until it exits by itself (killed after `timeoutMs`), its group killed after the test
 * (registered before the wait); resolves with its exit code, output, and whether it left a process.
 */
async function labRun(t: { after(fn: () => unknown): void }, args: readonly string[], timeoutMs = 20_000) {
  const child = spawnLab(args);
  t.after(() => child.killGroup());
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
  const timer = setTimeout(() => child.killGroup(), timeoutMs);
  const [code] = (await once(child, 'exit')) as [number | null];
  clearTimeout(timer);
  return { code, stdout, stderr, leftAProcess: child.groupAlive() };
}

/**
 * A port offset at which every port of the lab is free now. The lab's ports stay below the ephemeral
 * range (32768 up), where other suites' port-0 listeners land, and clear of a developer's own lab at
 * offset 0; a few random tries, each checked, so a port another suite holds does not fail this one.
 */
async function freeLabOffset(dir: string): Promise<number> {
  for (let attempt = 0; attempt < 10; attempt++) {
    const offset = 1_000 + Math.floor(Math.random() * 6_000);
    if ((await firstTakenPort(allLabPorts(offset, dir), LAB_BIND_ADDRESS)) === undefined) return offset;
  }
  throw new Error('no free set of lab ports in 10 tries');
}

test('meshfed lab starts global and two federated zones, shows them online, and Ctrl-C stops them all', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'meshfed-lab-'));
  const offset = await freeLabOffset(dir);
  // Without the traffic apps: the control planes alone are what this test is about (and the logs say no app ran).
  const child = spawnLab(['--port-offset', String(offset), '--dir', dir, '--no-traffic']);
  let out = '';
  child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (out += c.toString()));
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`lab did not print its table within 60 s:\n${out}`)), 60_000);
      child.stdout!.on('data', () => {
        if (out.includes('Ctrl-C stops everything')) {
          clearTimeout(timer);
          resolve();
        }
      });
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`lab exited with ${code}:\n${out}`));
      });
    });
    const urls = [...out.matchAll(/http:\/\/127\.0\.0\.1:\d+/g)].map((m) => m[0]);
    const expected = [5681, 15681, 25681].map((p) => `http://127.0.0.1:${p + offset}`);
    for (const u of expected) assert.ok(urls.includes(u), `table lists ${u}:\n${out}`);
    const modes = await Promise.all(expected.map(async (u) => (await (await fetch(`${u}/`)).json()) as { mode: string; zone?: string }));
    assert.deepEqual(modes.map((m) => m.mode), ['global', 'zone', 'zone']);
    assert.deepEqual(modes.map((m) => m.zone), [undefined, 'zone-1', 'zone-2']);
    assert.match(out, /zone-1\s+zone\s+online/);
    assert.match(out, /zone-2\s+zone\s+online/);
    assert.deepEqual(readdirSync(join(dir, 'logs')).sort(), ['global.log', 'zone-1.log', 'zone-2.log']);
    // Federated for real: the zones verify global with the lab CA and hold tokens global issued.
    assert.deepEqual(readdirSync(join(dir, 'secrets')).sort(), ['ca.crt', 'kds.crt', 'kds.key', 'zone-1.token', 'zone-2.token']);
    const mesh = (await (await fetch(`${expected[1]}/meshes/default`)).json()) as { labels: Record<string, string> };
    assert.equal(mesh.labels['kuma.io/origin'], 'global', 'zone-1 received the default mesh from global');

    child.kill('SIGINT');
    const [code] = await once(child, 'exit');
    assert.equal(code, 0, out);
    for (const u of expected) await assert.rejects(fetch(`${u}/`), `${u} is stopped`);
  } finally {
    child.killGroup();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('meshfed lab checks its ports before it starts anything: one taken, it says which in one line and exits 1', { timeout: 60_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'meshfed-lab-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  // All the lab's ports stay below the ephemeral range (32768 up), where other suites' port-0 listeners
  // land, and clear of a developer's own lab at offset 0; any other port taken would be named first.
  let offset = 0;
  let port = 0;
  let held: Server | undefined;
  for (let attempt = 0; attempt < 5 && !held; attempt++) {
    offset = 1_000 + Math.floor(Math.random() * 6_000);
    port = 15681 + offset; // zone-1 API
    const server = createServer();
    t.after(() => new Promise((resolve) => server.close(resolve)));
    const listened = await new Promise<boolean>((resolve) => server.once('error', () => resolve(false)).listen(port, LAB_BIND_ADDRESS, () => resolve(true)));
    if (listened) held = server;
  }
  assert.ok(held, 'could hold a zone-1 API port for the test');

  const r = await labRun(t, ['--port-offset', String(offset), '--dir', dir]);
  assert.equal(r.code, 1, r.stderr);
  assert.equal(r.stderr, `meshfed lab: port ${port} (zone-1 API) is in use: stop what holds it or pass --port-offset N\n`);
  assert.equal(r.stdout, '');
  // Nothing was started: no certificates, no logs, no process left in the lab's group, and every
  // other port of the lab still free.
  assert.deepEqual(readdirSync(dir), []);
  assert.equal(r.leftAProcess, false, 'no daemon of this lab is running');
  const others = allLabPorts(offset, dir).filter((p) => p.port !== port);
  assert.equal(await firstTakenPort(others, LAB_BIND_ADDRESS), undefined);
});

test('meshfed lab refuses an offset that puts one of its ports beyond 65535, in one line, exit 2', { timeout: 30_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'meshfed-lab-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const r = await labRun(t, ['--port-offset', '40000', '--dir', dir]);
  assert.equal(r.code, 2, r.stderr);
  assert.equal(r.stderr, 'meshfed lab: --port-offset 40000 cannot be used: zone-2 API would be on port 65681, outside 1-65535\n');
  assert.equal(r.stdout, '');
  assert.deepEqual(readdirSync(dir), []);
  assert.equal(r.leftAProcess, false);
});

/** The rows of the last complete live-traffic block the lab printed, each as its cells. */
function lastTrafficRows(out: string): string[][] | undefined {
  const block = out.split('Live traffic at').filter((b) => b.includes('and back:')).at(-1);
  return block?.split('\n').filter((l) => /^zone-\d /.test(l)).map((l) => l.split(/ {2,}/));
}

/** Per zone: the caller's OK/S, and each server version's SHARE in percent. */
function trafficByZone(rows: readonly string[][]): Map<string, { ok: number; share: Record<string, number> }> {
  const zones = new Map<string, { ok: number; share: Record<string, number> }>();
  for (const [zone, , version, , ok, , share] of rows) {
    const z = zones.get(zone!) ?? { ok: 0, share: {} };
    if (version === '-') z.ok = Number(ok);
    else z.share[version!] = Number.parseInt(share!, 10) || 0;
    zones.set(zone!, z);
  }
  return zones;
}

async function until(what: string, ok: () => boolean, timeoutMs: number, out: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs / 1000} s; the lab printed:\n${out()}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

test('meshfed lab carries live gRPC traffic in both zones, the example route shifts it to 90/10, and Ctrl-C stops every app and agent', { timeout: 180_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'meshfed-lab-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const offset = await freeLabOffset(dir);
  const child = spawnLab(['--port-offset', String(offset), '--dir', dir]);
  t.after(() => child.killGroup());
  let out = '';
  child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (out += c.toString()));
  let exited = false;
  child.once('exit', () => (exited = true));
  const traffic = () => trafficByZone(lastTrafficRows(out) ?? []);
  const zones = ['zone-1', 'zone-2'];

  // Round robin over both versions: both answer in each zone (the block says so within 5 s of it).
  await until('calls answered by v1 and v2 in both zones', () => {
    if (exited) throw new Error(`lab exited:\n${out}`);
    const z = traffic();
    return zones.every((n) => (z.get(n)?.ok ?? 0) > 0 && (z.get(n)?.share['v1'] ?? 0) > 0 && (z.get(n)?.share['v2'] ?? 0) > 0);
  }, 90_000, () => out);

  const global = `http://127.0.0.1:${5681 + offset}`;
  const apply = spawnSync(process.execPath, [CLI, 'apply', '-f', join(ROOT, EXAMPLE_ROUTE_FILE), '--cp', global], { encoding: 'utf8', timeout: 30_000 });
  assert.equal(apply.status, 0, apply.stderr);
  // The lab averages over 5 s: 80% means most of those seconds were split 90/10.
  await until('the example route\'s split in both zones', () => {
    if (exited) throw new Error(`lab exited:\n${out}`);
    const z = traffic();
    return zones.every((n) => (z.get(n)?.share['v1'] ?? 0) >= 80 && (z.get(n)?.share['v2'] ?? 100) <= 20 && (z.get(n)?.ok ?? 0) > 0);
  }, 60_000, () => out);
  // The apps' and agents' own output goes to their logs, not the lab's terminal.
  assert.doesNotMatch(out, /"msg":"load"|meshfed-dp: ready/);

  child.kill('SIGINT');
  const [code] = (await once(child, 'exit')) as [number | null];
  assert.equal(code, 0, out);
  assert.equal(child.groupAlive(), false, 'no app, agent or daemon of the lab is left running');
});
