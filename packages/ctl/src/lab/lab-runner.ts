import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createWriteStream, mkdirSync, renameSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { LabProcess } from './lab-plan.js';

// ctl never imports the daemons or the agent (dependencies point to shared only); it runs their built entry points.
const PACKAGES = fileURLToPath(new URL('../../../', import.meta.url));
const daemonPath = (d: LabProcess['daemon']) => join(PACKAGES, d, 'dist', 'main.js');
/** `meshfed-dp`, the agent beside each of the traffic demo's apps. */
export const DP_AGENT_PATH = join(PACKAGES, 'dp', 'dist', 'main.js');
/** The demo Echo app: `serve` for the servers, `load` for the callers. */
export const DEMO_APP_PATH = join(PACKAGES, 'dp', 'dist', 'demo-app', 'main.js');

/** A line longer than this (no newline in sight) is not one the lab waits for: it is logged, not read. */
const MAX_LINE = 64 * 1024;

export interface StartedProcess {
  readonly plan: LabProcess;
  readonly child: ChildProcess;
}

/** Each process's log file is rotated past this size (one previous file kept). */
export const LOG_ROTATE_BYTES = 20 * 1024 * 1024;

export interface LoggedOptions {
  readonly env?: NodeJS.ProcessEnv;
  /** Each complete line of the child's output, without its newline. */
  readonly onLine?: (line: string, stream: 'stdout' | 'stderr') => void;
  /** LOG_ROTATE_BYTES unless told (tests). */
  readonly rotateBytes?: number;
}

/**
 * Runs a node entry point with its output appended to `logFile` (nothing reaches the lab's own
 * terminal) and, when asked, handed over line by line.
 */
export function spawnLogged(entry: string, args: readonly string[], logFile: string, o: LoggedOptions = {}): ChildProcess {
  mkdirSync(dirname(logFile), { recursive: true });
  let log = createWriteStream(logFile, { flags: 'a' });
  // A lab left running for days must not fill the disk: past LOG_ROTATE_BYTES the log moves to
  // <file>.1 (replacing the previous one) and starts again, so each process keeps at most twice that.
  let written = 0;
  const write = (c: Buffer) => {
    if (written + c.length > (o.rotateBytes ?? LOG_ROTATE_BYTES)) {
      log.end();
      renameSync(logFile, `${logFile}.1`);
      log = createWriteStream(logFile, { flags: 'w' });
      written = 0;
    }
    written += c.length;
    log.write(c);
  };
  const child = spawn(process.execPath, [entry, ...args], { stdio: ['ignore', 'pipe', 'pipe'], detached: false, ...(o.env ? { env: o.env } : {}) });
  for (const stream of ['stdout', 'stderr'] as const) {
    let partial = '';
    child[stream]!.on('data', (c: Buffer) => {
      write(c);
      if (!o.onLine) return;
      const lines = (partial + c.toString()).split('\n');
      partial = lines.pop()!;
      if (partial.length > MAX_LINE) partial = '';
      for (const line of lines) o.onLine(line, stream);
    });
  }
  // 'close', not 'exit': output may still be arriving when the process has exited.
  child.once('close', () => log.end());
  return child;
}

/**
 * Starts one daemon with its output teed to a log file; resolves when its API listens. It is added
 * to `started` before that wait, so stopping the lab stops it even if a sibling failed first; if it
 * does not come up in time it is killed.
 */
export async function startLabProcess(plan: LabProcess, logDir: string, started: StartedProcess[], timeoutMs = 30_000): Promise<StartedProcess> {
  const logFile = join(logDir, `${plan.name}.log`);
  let stderr = '';
  let listening = () => {};
  const child = spawnLogged(daemonPath(plan.daemon), plan.args, logFile, {
    onLine: (line, stream) => {
      // The tail is what says why a daemon that exits at once did so.
      if (stream === 'stderr') stderr = `${stderr}${line}\n`.slice(-4096);
      else if (line.includes('"api listening"')) listening();
    },
  });
  const self: StartedProcess = { plan, child };
  started.push(self);
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${plan.name} did not start within ${timeoutMs} ms; see ${logFile}`));
    }, timeoutMs);
    listening = () => {
      clearTimeout(timer);
      resolve();
    };
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${plan.name} exited with ${code}: ${stderr.trim() || 'see its log'}`));
    });
  });
  return self;
}

/** SIGTERM to every running child, then waits (SIGKILL after `graceMs`). */
export async function stopAll(started: readonly { readonly child: ChildProcess }[], graceMs = 10_000): Promise<void> {
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
