import { FlagError } from '../config/flags.js';
import { ApiError } from '../errors/api-error.js';

export type Stop = () => Promise<void>;

/**
 * Runs a daemon's start function. If it fails, the reason is printed as one line on stderr and the
 * process exits 1 (2 for flag mistakes). Once started, SIGINT/SIGTERM stop it gracefully; a second
 * signal, or a stop that hangs past `stopTimeoutMs`, exits at once.
 */
export function runDaemon(program: string, start: () => Promise<Stop>, stopTimeoutMs = 10_000): void {
  let stop: Stop | undefined;
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping || !stop) process.exit(1);
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

  start().then(
    (s) => {
      stop = s;
    },
    (err: unknown) => {
      process.stderr.write(`${program}: ${err instanceof FlagError ? '' : 'cannot start: '}${oneLine(err)}\n`);
      process.exit(err instanceof FlagError ? 2 : 1);
    },
  );
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
