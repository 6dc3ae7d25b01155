#!/usr/bin/env node
import { echoClient, startEchoServer } from './echo.js';
import { FlagError, LoadFlags, ServeFlags, headerRecord, parseFlags } from './flags.js';
import { runLoad } from './load.js';

const PROGRAM = 'meshfed-demo-app';
const STOP_TIMEOUT_MS = 10_000;

const HELP = `Usage:
  ${PROGRAM} serve --port P --instance NAME [--host 127.0.0.1] [--service backend] [--version v1]
                   [--zone zone-1] [--fail-all] [--no-xds]
  ${PROGRAM} load --target xds:///backend --rate 50 [--duration 10s] [--deadline 1s] [--header k=v]...
                  [--concurrency 100] [--fail-times N] [--fail-code UNAVAILABLE] [--delay 100ms] [--no-xds]

serve: the Echo service (meshfed.demo.Echo/Call, JSON), as a proxyless xDS server (bootstrap from
GRPC_XDS_BOOTSTRAP or GRPC_XDS_BOOTSTRAP_CONFIG) or, with --no-xds, a plain gRPC server.
load: calls it at a steady rate and prints one JSON line of outcomes every second.`;

const print = (line: Record<string, unknown>) => process.stdout.write(`${JSON.stringify(line)}\n`);

/** Starts the command; the stop it returns is registered before anything is awaited. */
type Command = (argv: readonly string[]) => { done: Promise<unknown>; stop: () => Promise<unknown> };

const serve: Command = (argv) => {
  const f = parseFlags(ServeFlags, argv);
  const abort = new AbortController();
  const started = startEchoServer({
    host: f.host, port: f.port, instance: f.instance, service: f.service, version: f.version, zone: f.zone,
    failAll: f.failAll, xds: !f.noXds, signal: abort.signal,
    onServingStatus: (s) => print({ msg: 'serving-status', ...s }),
  });
  const done = started.then((s) => print({ msg: 'serving', port: s.port, instance: f.instance, xds: !f.noXds }));
  return {
    // Never resolves by itself: a server serves until stopped.
    done: done.then(() => new Promise(() => undefined)),
    stop: async () => {
      abort.abort();
      const s = await started.catch(() => undefined);
      await s?.stop();
    },
  };
};

const load: Command = (argv) => {
  const f = parseFlags(LoadFlags, argv);
  const abort = new AbortController();
  const client = echoClient(f.target, { xds: !f.noXds });
  const pid = process.pid;
  const done = runLoad({
    client,
    rate: f.rate,
    ...(f.duration !== undefined ? { durationMs: f.duration } : {}),
    deadlineMs: f.deadline,
    concurrency: f.concurrency,
    metadata: headerRecord(f.header),
    // An id per call only when asked to fail, so a plain load does not fill the servers' attempt maps.
    request: (seq) => ({
      ...(f.failTimes ? { id: `${pid}-${seq}`, failTimes: f.failTimes } : {}),
      ...(f.failCode !== undefined ? { failCode: f.failCode } : {}),
      ...(f.delay !== undefined ? { delayMs: f.delay } : {}),
    }),
    onWindow: (w) => print({ msg: 'load', ...w }),
    signal: abort.signal,
  })
    .then((totals) => print({ msg: 'load-done', ...totals }))
    .finally(() => client.close());
  return {
    done,
    stop: async () => {
      abort.abort();
      await done;
    },
  };
};

const COMMANDS: Record<string, Command> = { serve, load };

function fail(err: unknown, code: number): never {
  const msg = err instanceof Error ? err.message.split('\n')[0] : String(err);
  process.stderr.write(`${PROGRAM}: ${err instanceof FlagError ? '' : 'cannot start: '}${msg}\n`);
  process.exit(code);
}

const [name, ...rest] = process.argv.slice(2);
if (name === undefined || name === '--help' || name === '-h' || rest.includes('--help')) {
  console.log(HELP);
  process.exit(name === undefined ? 2 : 0);
}
const command = COMMANDS[name];
if (!command) fail(new FlagError(`unknown command "${name}"; the commands are serve and load`), 2);

let running: ReturnType<Command>;
try {
  running = command(rest);
} catch (err) {
  fail(err, err instanceof FlagError ? 2 : 1);
}

let stopping = false;
const onSignal = () => {
  // A second signal means the first stop is not wanted to finish.
  if (stopping) process.exit(1);
  stopping = true;
  setTimeout(() => {
    process.stderr.write(`${PROGRAM}: did not stop within ${STOP_TIMEOUT_MS} ms, exiting\n`);
    process.exit(1);
  }, STOP_TIMEOUT_MS).unref();
  running.stop().then(
    () => process.exit(0),
    (err: unknown) => {
      process.stderr.write(`${PROGRAM}: error while stopping: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}\n`);
      process.exit(1);
    },
  );
};
process.on('SIGTERM', onSignal);
process.on('SIGINT', onSignal);

running.done.then(
  () => process.exit(0),
  (err: unknown) => {
    if (!stopping) fail(err, 1);
  },
);
