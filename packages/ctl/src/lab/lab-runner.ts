import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createWriteStream, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { LabProcess } from './lab-plan.js';

// ctl never imports the daemons (dependencies point to shared only); it runs their built entry points.
const PACKAGES = fileURLToPath(new URL('../../../', import.meta.url));
const daemonPath = (d: LabProcess['daemon']) => join(PACKAGES, d, 'dist', 'main.js');

export interface StartedProcess {
  readonly plan: LabProcess;
  readonly child: ChildProcess;
}

/**
 * Starts one daemon with its output teed to a log file; resolves when its API listens. It is added
 * to `started` before that wait, so stopping the lab stops it even if a sibling failed first; if it
 * does not come up in time it is killed.
 */
export async function startLabProcess(plan: LabProcess, logDir: string, started: StartedProcess[], timeoutMs = 30_000): Promise<StartedProcess> {
  mkdirSync(logDir, { recursive: true });
  const log = createWriteStream(join(logDir, `${plan.name}.log`), { flags: 'a' });
  const child = spawn(process.execPath, [daemonPath(plan.daemon), ...plan.args], { stdio: ['ignore', 'pipe', 'pipe'], detached: false });
  const self: StartedProcess = { plan, child };
  started.push(self);
  child.stdout!.pipe(log);
  let stderr = '';
  child.stderr!.on('data', (c: Buffer) => {
    stderr += c.toString();
    log.write(c);
  });
  await new Promise<void>((resolve, reject) => {
    let buffered = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${plan.name} did not start within ${timeoutMs} ms; see ${join(logDir, `${plan.name}.log`)}`));
    }, timeoutMs);
    child.stdout!.on('data', (c: Buffer) => {
      buffered += c.toString();
      if (buffered.includes('"api listening"')) {
        clearTimeout(timer);
        buffered = '';
        resolve();
      } else if (buffered.length > 1 << 20) buffered = buffered.slice(-4096);
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${plan.name} exited with ${code}: ${stderr.trim() || 'see its log'}`));
    });
  });
  return self;
}

/** SIGTERM to every running child, then waits (SIGKILL after `graceMs`). */
export async function stopAll(started: readonly StartedProcess[], graceMs = 10_000): Promise<void> {
  await Promise.all(
    started.map(async ({ child }) => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    }),
  );
}
