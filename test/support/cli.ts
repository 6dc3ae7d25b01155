import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';

export const CLI = join(import.meta.dirname, '..', '..', 'packages', 'ctl', 'dist', 'main.js');

export interface CliRun {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** The token id (`jti`) of a JWT, read as the CLI reads it: without verifying. */
export const jwtId = (token: string): string => (JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString('utf8')) as { jti: string }).jti;

/**
 * Runs the built `meshfed` CLI to its exit (killed after 30 s). The connection settings of the shell
 * that runs the tests (MESHFED_CP, MESHFED_CA_FILE, MESHFED_TOKEN) are cleared, then `env` applies.
 */
export async function meshfed(args: readonly string[], options: { stdin?: string; env?: Record<string, string> } = {}): Promise<CliRun> {
  const child = spawn(process.execPath, [CLI, ...args], {
    env: { ...process.env, MESHFED_CP: '', MESHFED_CA_FILE: '', MESHFED_TOKEN: '', ...options.env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  child.stdin.end(options.stdin ?? '');
  const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  const [code] = (await once(child, 'exit')) as [number | null];
  clearTimeout(timer);
  return { code, stdout, stderr };
}

/** A run as an assertion message shows it. */
export const show = (r: CliRun) => `exit ${r.code}\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`;
