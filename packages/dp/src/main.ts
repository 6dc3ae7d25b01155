#!/usr/bin/env node
import { readFile } from 'node:fs/promises';
import { createLogger, FlagError, oneLine, type Stop } from '@meshfed/shared';
import { runProxyless, readToken } from './agent.js';
import { parseArgs, type RunFlags } from './args.js';
import { CpApi, CpRefusedError } from './cp-api.js';
import { readDataplaneFile } from './dataplane-file.js';
import { checkEnvoyBinary, runEnvoy } from './envoy-mode.js';

const PROGRAM = 'meshfed-dp';

// grpc-js gives TLS the dialled host as servername even when it is an IP (the zone's xDS address);
// the certificate is still checked against that IP. Node's DEP0123 about it tells an operator nothing
// they can act on, and would be the only stray line on stderr.
const emitWarning = process.emitWarning.bind(process) as (...args: unknown[]) => void;
process.emitWarning = ((warning: string | Error, ...rest: unknown[]) => {
  const options = rest[0];
  const code = typeof options === 'object' && options !== null ? (options as { code?: string }).code : rest[1];
  if (code === 'DEP0123') return;
  emitWarning(warning, ...rest);
}) as typeof process.emitWarning;
/** SIGTERM must end the agent well within the 2 s a supervisor gives it. */
const STOP_TIMEOUT_MS = 1_800;

function fail(err: unknown): never {
  const flagMistake = err instanceof FlagError;
  process.stderr.write(`${PROGRAM}: ${flagMistake || err instanceof CpRefusedError ? '' : 'cannot start: '}${oneLine(err)}\n`);
  process.exit(flagMistake ? 2 : 1);
}

async function context(flags: RunFlags, signal: AbortSignal) {
  const dataplane = await readDataplaneFile(flags.dataplaneFile);
  const token = await readToken(flags.tokenFile);
  const caPem = flags.caFile === undefined ? undefined : await readFile(flags.caFile, 'utf8').catch((e: NodeJS.ErrnoException) => {
    throw new FlagError(`cannot read --ca-file ${flags.caFile}: ${e.code ?? e.message}`);
  });
  const api = new CpApi({ url: flags.cp, skipVerify: flags.skipVerify, ...(caPem !== undefined ? { caPem } : {}) });
  const log = createLogger({ component: PROGRAM, level: flags.logLevel });
  return { flags, dataplane, api, signal, log, ...(token !== undefined ? { token } : {}) };
}

async function main(): Promise<void> {
  let command;
  try {
    command = parseArgs(process.argv.slice(2));
  } catch (err) {
    fail(err);
  }
  if (command.kind === 'help') {
    console.log(command.text);
    return;
  }
  const { flags } = command;
  const starting = new AbortController();

  if (flags.envoyBinary !== undefined) {
    const envoyBinary = flags.envoyBinary;
    // Until Envoy runs, a signal just ends the agent; then Envoy gets it and its exit code is ours.
    const early = () => process.exit(0);
    process.once('SIGINT', early);
    process.once('SIGTERM', early);
    try {
      await checkEnvoyBinary(envoyBinary);
      const c = await context(flags, starting.signal);
      process.off('SIGINT', early);
      process.off('SIGTERM', early);
      process.exit(await runEnvoy(c, envoyBinary));
    } catch (err) {
      fail(err);
    }
  }

  let stop: Stop | undefined;
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) process.exit(1);
    stopping = true;
    starting.abort();
    if (!stop) process.exit(0);
    const timer = setTimeout(() => {
      process.stderr.write(`${PROGRAM}: did not stop within ${STOP_TIMEOUT_MS} ms after ${signal}, exiting\n`);
      process.exit(1);
    }, STOP_TIMEOUT_MS);
    timer.unref();
    stop().then(
      () => process.exit(0),
      (err: unknown) => {
        process.stderr.write(`${PROGRAM}: error while stopping: ${oneLine(err)}\n`);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    const c = await context(flags, starting.signal);
    stop = await runProxyless(c);
  } catch (err) {
    fail(err);
  }
  if (starting.signal.aborted) process.exit(0);
}

await main();
