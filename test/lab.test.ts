import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';

const CLI = join(import.meta.dirname, '..', 'packages', 'ctl', 'dist', 'main.js');

test('meshfed lab starts global and two federated zones, shows them online, and Ctrl-C stops them all', async () => {
  // Fixed lab ports shifted by a random offset, so this test can run beside a developer's own lab.
  const offset = 20_000 + Math.floor(Math.random() * 9_000);
  const dir = mkdtempSync(join(tmpdir(), 'meshfed-lab-'));
  const child = spawn(process.execPath, [CLI, 'lab', '--port-offset', String(offset), '--dir', dir], { stdio: ['ignore', 'pipe', 'pipe'] });
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
    if (child.exitCode === null) child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
});
