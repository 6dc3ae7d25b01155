import { FlagError } from '../config/flags.js';
import { ApiError } from '../errors/api-error.js';

export type Stop = () => Promise<void>;

export interface DaemonOptions {
  /** A stop that hangs past this exits at once (default 10 s). */
  readonly stopTimeoutMs?: number;
  /**
   * A signal while starting aborts `start`'s signal and exits 0 (an agent waiting for its control
   * plane has nothing to undo); without it, such a signal exits 1.
   */
  readonly stopWhileStarting?: boolean;
  /** Errors already phrased for the user, printed without "cannot start: " (flag mistakes always are). */
  readonly phrased?: (err: unknown) => boolean;
}

/**
 * Runs a daemon's start function. If it fails, the reason is printed as one line on stderr and the
 * process exits 1 (2 for flag mistakes). Once started, SIGINT/SIGTERM stop it gracefully; a second
 * signal, or a stop that hangs past `stopTimeoutMs`, exits at once. A start that resolves without a
 * stop (it saw its signal aborted) exits 0.
 */
export function runDaemon(program: string, start: (signal: AbortSignal) => Promise<Stop | undefined>, o: DaemonOptions = {}): void {
  const stopTimeoutMs = o.stopTimeoutMs ?? 10_000;
  const starting = new AbortController();
  let stop: Stop | undefined;
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) process.exit(1);
    if (!stop) {
      starting.abort();
      process.exit(o.stopWhileStarting ? 0 : 1);
    }
    stopping = true;
    const timer = setTimeout(() => {
      process.stderr.write(`${program}: did not stop within ${stopTimeoutMs} ms after ${signal}, exiting\n`);
      process.exit(1);
    }, stopTimeoutMs);
    timer.unref();
    stop().then(
      () => process.exit(0),
      (err: unknown) => {
        process.stderr.write(`${program}: error while stopping: ${oneLine(err)}\n`);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  start(starting.signal).then(
    (s) => {
      if (s === undefined) process.exit(0);
      stop = s;
    },
    (err: unknown) => exitStartFailure(program, err, o.phrased),
  );
}

/** One line on stderr saying why the program could not start; exit 2 for a flag mistake, else 1. */
export function exitStartFailure(program: string, err: unknown, phrased?: (err: unknown) => boolean): never {
  const flagMistake = err instanceof FlagError;
  process.stderr.write(`${program}: ${flagMistake || phrased?.(err) ? '' : 'cannot start: '}${oneLine(err)}\n`);
  process.exit(flagMistake ? 2 : 1);
}

export function oneLine(err: unknown): string {
  if (err instanceof ApiError) return err.details.split('\n')[0]!;
  if (err instanceof Error) {
    const code = (err as NodeJS.ErrnoException).code;
    const msg = err.message.split('\n')[0] || err.name;
    return code && !msg.includes(code) ? `${msg} (${code})` : msg;
  }
  return String(err);
}
