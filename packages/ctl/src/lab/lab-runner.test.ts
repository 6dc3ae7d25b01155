import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { spawnLogged } from './lab-runner.js';

test('a process\'s log is rotated past its size: the current file and one previous, never more', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'meshfed-lab-log-'));
  try {
    const entry = join(dir, 'talk.mjs');
    // 10 writes of 1,000 bytes, apart in time so that each arrives on its own.
    writeFileSync(entry, "for (let i = 0; i < 10; i++) { process.stdout.write(`${String(i).repeat(999)}\\n`); await new Promise((r) => setTimeout(r, 30)); }\n");
    const logFile = join(dir, 'talk.log');
    const lines: string[] = [];
    const child = spawnLogged(entry, [], logFile, { rotateBytes: 2_500, onLine: (l) => lines.push(l) });
    await once(child, 'close');
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(lines.length, 10, 'every line still reaches the lab');
    assert.ok(statSync(logFile).size <= 2_500 && statSync(`${logFile}.1`).size <= 2_500);
    assert.match(readFileSync(logFile, 'utf8'), /^9{999}$/m, 'the newest output is in the current file');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
