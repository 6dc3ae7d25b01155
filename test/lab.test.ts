import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { demoResources } from '../packages/ctl/src/lab/lab-demo.js';
import { LAB_BIND_ADDRESS, labFiles, labPlan } from '../packages/ctl/src/lab/lab-plan.js';
import { firstTakenPort, labPorts } from '../packages/ctl/src/lab/lab-ports.js';
import { killOnExit } from './support/cleanup.js';

const CLI = join(import.meta.dirname, '..', 'packages', 'ctl', 'dist', 'main.js');

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
    const ports = labPorts(labPlan(offset, labFiles(join(dir, 'secrets'))), demoResources(offset));
    if ((await firstTakenPort(ports, LAB_BIND_ADDRESS)) === undefined) return offset;
  }
  throw new Error('no free set of lab ports in 10 tries');
}

test('meshfed lab starts global and two federated zones, shows them online, and Ctrl-C stops them all', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'meshfed-lab-'));
  const offset = await freeLabOffset(dir);
  const child = spawnLab(['--port-offset', String(offset), '--dir', dir]);
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
  const others = labPorts(labPlan(offset, labFiles(join(dir, 'secrets'))), demoResources(offset)).filter((p) => p.port !== port);
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
