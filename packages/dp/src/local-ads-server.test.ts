import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { lstatSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { createLogger } from '@meshfed/shared';
import { AdsRelay } from './ads-relay.js';
import { LocalAdsServer } from './local-ads-server.js';

const log = createLogger({ component: 'test', level: 'fatal' });
const server = (listen: string) => new LocalAdsServer({ listen, relay: new AdsRelay({ node: { id: 'default.web' }, secretNames: [] }), upstream: () => {}, log });

test('unix:/path: a socket left by a killed agent is replaced; any other file there is left alone', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'meshfed-dp-sock-'));
  try {
    // A stale socket: a process killed while listening leaves its file behind.
    const stale = join(dir, 'stale.sock');
    const child = spawn(process.execPath, ['-e', `require('node:net').createServer().listen(${JSON.stringify(stale)}, () => process.kill(process.pid, 'SIGKILL'))`]);
    await once(child, 'exit');
    assert.ok(lstatSync(stale).isSocket(), 'the killed listener left its socket');
    const s1 = server(`unix:${stale}`);
    assert.equal(await s1.start(), `unix:${stale}`);
    await s1.stop();

    const precious = join(dir, 'notes.txt');
    writeFileSync(precious, 'keep me');
    const s2 = server(`unix:${precious}`);
    await assert.rejects(s2.start(), /cannot listen on --xds-listen unix:/);
    assert.equal(readFileSync(precious, 'utf8'), 'keep me');
    await s2.stop();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
