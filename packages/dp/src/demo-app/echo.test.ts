import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { status } from '@grpc/grpc-js';
import { call, echoClient, startEchoServer } from './echo.js';

const MAIN = join(import.meta.dirname, '..', '..', 'dist', 'demo-app', 'main.js');
const identity = { host: '127.0.0.1', port: 0, service: 'backend', version: 'v1', zone: 'zone-1', xds: false };

test('a plain Echo server answers, fails the first failTimes calls of an id, honours delays and --fail-all', async (t) => {
  const server = await startEchoServer({ ...identity, instance: 'backend-v1-a' });
  t.after(() => server.stop());
  const client = echoClient(`127.0.0.1:${server.port}`, { xds: false });
  t.after(() => client.close());

  assert.deepEqual(await call(client, {}, { deadlineMs: 5_000 }), {
    ok: true,
    res: { service: 'backend', instance: 'backend-v1-a', version: 'v1', zone: 'zone-1', attempt: 1 },
  });

  for (const attempt of [1, 2]) {
    const r = await call(client, { id: 'x', failTimes: 2 }, { deadlineMs: 5_000 });
    assert.equal(r.ok, false, `attempt ${attempt}`);
    assert.equal(!r.ok && r.code, status.UNAVAILABLE);
  }
  const third = await call(client, { id: 'x', failTimes: 2 }, { deadlineMs: 5_000 });
  assert.ok(third.ok && third.res.attempt === 3, JSON.stringify(third));

  const coded = await call(client, { id: 'y', failTimes: 1, failCode: status.RESOURCE_EXHAUSTED }, { deadlineMs: 5_000 });
  assert.equal(!coded.ok && coded.code, status.RESOURCE_EXHAUSTED);

  const started = Date.now();
  const slow = await call(client, { delayMs: 5_000 }, { deadlineMs: 200 });
  assert.equal(!slow.ok && slow.code, status.DEADLINE_EXCEEDED);
  assert.ok(Date.now() - started < 2_000);

  const bad = await call(client, { failtimes: 1 } as never, { deadlineMs: 5_000 });
  assert.equal(!bad.ok && bad.code, status.INVALID_ARGUMENT);

  const broken = await startEchoServer({ ...identity, instance: 'backend-v1-broken', failAll: true });
  t.after(() => broken.stop());
  const brokenClient = echoClient(`127.0.0.1:${broken.port}`, { xds: false });
  t.after(() => brokenClient.close());
  const failed = await call(brokenClient, {}, { deadlineMs: 5_000 });
  assert.equal(!failed.ok && failed.code, status.UNAVAILABLE);
});

/** Spawns the built CLI; resolves its stdout lines as they come, and stops it after the test. */
function cli(t: TestContext, args: string[]) {
  const child = spawn(process.execPath, [MAIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const exit = once(child, 'close') as Promise<[number | null]>;
  t.after(async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const kill = setTimeout(() => child.kill('SIGKILL'), 10_000);
    child.kill('SIGTERM');
    await exit;
    clearTimeout(kill);
  });
  const lines: Record<string, unknown>[] = [];
  let out = '';
  let err = '';
  child.stderr.on('data', (c: Buffer) => (err += c.toString()));
  child.stdout.on('data', (c: Buffer) => {
    out += c.toString();
    const parts = out.split('\n');
    out = parts.pop()!;
    for (const p of parts) lines.push(JSON.parse(p) as Record<string, unknown>);
  });
  const waitFor = async (msg: string, timeoutMs = 15_000) => {
    for (const until = Date.now() + timeoutMs; Date.now() < until; await new Promise((r) => setTimeout(r, 50))) {
      const line = lines.find((l) => l.msg === msg);
      if (line) return line;
      if (child.exitCode !== null) break;
    }
    throw new Error(`no "${msg}" line; stderr: ${err}`);
  };
  return { child, exit, lines, waitFor };
}

test('the CLI serves without xDS and loads it, printing a JSON line a second; SIGTERM exits 0', async (t) => {
  const server = cli(t, ['serve', '--no-xds', '--port', '0', '--instance', 'backend-v1-a', '--version', 'v2']);
  const serving = await server.waitFor('serving');
  assert.equal(typeof serving.port, 'number');

  const load = cli(t, ['load', '--no-xds', '--target', `127.0.0.1:${serving.port}`, '--rate', '50', '--duration', '2s', '--header', 'x-test=1']);
  const done = await load.waitFor('load-done', 20_000);
  assert.deepEqual((await load.exit)[0], 0);
  const windows = load.lines.filter((l) => l.msg === 'load');
  assert.ok(windows.length >= 2, JSON.stringify(load.lines));
  assert.equal(windows[0]!.window, 1);
  assert.ok((done.ok as number) >= 80, JSON.stringify(done));
  assert.deepEqual(done.failed, {});
  assert.deepEqual(Object.keys(done.byInstance as object), ['backend-v1-a']);
  assert.deepEqual(Object.keys(done.byVersion as object), ['v2']);

  server.child.kill('SIGTERM');
  assert.equal((await server.exit)[0], 0);
});

test('the CLI refuses a bad flag with one line and exit 2', async (t) => {
  const bad = cli(t, ['serve', '--port', '0', '--instance', 'a']);
  let err = '';
  bad.child.stderr.on('data', (c: Buffer) => (err += c.toString()));
  assert.equal((await bad.exit)[0], 2);
  assert.match(err, /^meshfed-demo-app: invalid --port "0": must be non-zero with xDS/);
  assert.equal(err.trim().split('\n').length, 1);
});
