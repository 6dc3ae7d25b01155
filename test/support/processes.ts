import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { cleanups, killOnExit } from './cleanup.js';

const ROOT = join(import.meta.dirname, '..', '..');

export interface RunningCp {
  readonly url: string;
  /** The same API over HTTPS; undefined when the test turned it off (--api-tls-enabled=false). */
  readonly tlsUrl: string | undefined;
  readonly process: ChildProcess;
  /** SIGTERM and wait for a clean exit (SIGKILL after 10 s). Resolves with the exit code. */
  stop(): Promise<number | null>;
  kill(): void;
  logs(): string;
}

/**
 * Starts the built daemon packages/{kind}/dist/main.js on a free port (port 0, loopback) and resolves
 * once its API listens. Rejects with the daemon's own output if it exits or does not come up in time
 * (then killed). It is registered for cleanup as it is spawned, so the caller has nothing to register.
 */
export async function startCp(kind: 'global' | 'zone', args: readonly string[] = [], env: Record<string, string> = {}): Promise<RunningCp> {
  const bin = join(ROOT, 'packages', kind, 'dist', 'main.js');
  // Free ports on loopback for everything a daemon listens on, unless the test chose one.
  const ports: string[] = kind === 'global'
    ? (args.includes('--kds-port') ? ['--kds-address', '127.0.0.1'] : ['--kds-port', '0', '--kds-address', '127.0.0.1'])
    : (args.includes('--xds-port') ? [] : ['--xds-port', '0', '--xds-address', '127.0.0.1']);
  // The HTTPS API's port too: two daemons on its default 5682 would collide.
  if (!args.some((a) => a.startsWith('--api-tls-port'))) ports.push('--api-tls-port', '0');
  const child = spawn(process.execPath, [bin, '--api-port', '0', '--api-address', '127.0.0.1', ...ports, ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.once('exit', killOnExit(() => child.kill('SIGKILL')));
  const stop = async () => {
    // A daemon killed by a signal keeps exitCode null: waiting for its 'exit' again would never end.
    if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    const exit = once(child, 'exit') as Promise<[number | null]>;
    child.kill('SIGTERM');
    const [code] = await exit;
    clearTimeout(timer);
    return code;
  };
  cleanups.push(stop);
  let out = '';
  const { url, tlsUrl } = await new Promise<{ url: string; tlsUrl: string | undefined }>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${kind} CP did not start within 20 s:\n${out}`));
    }, 20_000);
    const onData = (chunk: Buffer) => {
      out += chunk.toString();
      for (const line of out.split('\n')) {
        if (!line.includes('"api listening"')) continue;
        try {
          const msg = JSON.parse(line) as { url?: string; tlsUrl?: string };
          if (msg.url) {
            clearTimeout(timer);
            resolve({ url: msg.url, tlsUrl: msg.tlsUrl });
          }
        } catch {
          /* partial line */
        }
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', (c: Buffer) => (out += c.toString()));
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${kind} CP exited with ${code} before listening:\n${out}`));
    });
  });
  return {
    url,
    tlsUrl,
    process: child,
    stop,
    kill() {
      child.kill('SIGKILL');
    },
    logs: () => out,
  };
}

/** Runs a daemon expected to fail at start; resolves with its exit code and output (killed after `timeoutMs`). */
export async function runToExit(
  kind: 'global' | 'zone', args: readonly string[], { timeoutMs = 20_000, env = {} }: { timeoutMs?: number; env?: Record<string, string> } = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [join(ROOT, 'packages', kind, 'dist', 'main.js'), ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  child.once('exit', killOnExit(() => child.kill('SIGKILL')));
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const [code] = (await once(child, 'exit')) as [number | null];
  clearTimeout(timer);
  return { code, stdout, stderr };
}
