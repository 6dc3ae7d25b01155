import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';

const CLI = join(import.meta.dirname, '..', 'packages', 'ctl', 'dist', 'main.js');

test('meshfed lab starts global and two zones, prints their URLs, and Ctrl-C stops them all', async () => {
  // Fixed lab ports shifted by a random offset, so this test can run beside a developer's own lab.
  const offset = 20_000 + Math.floor(Math.random() * 9_000);
  const logDir = mkdtempSync(join(tmpdir(), 'meshfed-lab-'));
  const child = spawn(process.execPath, [CLI, 'lab', '--port-offset', String(offset), '--log-dir', logDir], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr.on('data', (c: Buffer) => (out += c.toString()));
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`lab did not print its table within 60 s:\n${out}`)), 60_000);
      child.stdout.on('data', () => {
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
    assert.deepEqual(modes.map((m) => m.mode), ['global', 'standalone', 'standalone']);
    assert.deepEqual(modes.map((m) => m.zone), [undefined, 'zone-1', 'zone-2']);
    assert.deepEqual(readdirSync(logDir).sort(), ['global.log', 'zone-1.log', 'zone-2.log']);

    child.kill('SIGINT');
    const [code] = await once(child, 'exit');
    assert.equal(code, 0, out);
    for (const u of expected) await assert.rejects(fetch(`${u}/`), `${u} is stopped`);
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
    rmSync(logDir, { recursive: true, force: true });
  }
});
