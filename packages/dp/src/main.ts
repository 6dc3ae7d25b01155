#!/usr/bin/env node
import { readFile } from 'node:fs/promises';
import { createLogger, exitStartFailure, FlagError, runDaemon } from '@meshfed/shared';
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

/** CpRefusedError says what the zone answered, in a sentence of its own. */
const phrased = (err: unknown) => err instanceof CpRefusedError;
function fail(err: unknown): never {
  return exitStartFailure(PROGRAM, err, phrased);
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

  if (flags.envoyBinary !== undefined) {
    const envoyBinary = flags.envoyBinary;
    // Until Envoy runs, a signal just ends the agent; then Envoy gets it and its exit code is ours.
    const starting = new AbortController();
    const early = () => {
      starting.abort();
      process.exit(0);
    };
    process.once('SIGINT', early);
    process.once('SIGTERM', early);
    try {
      await checkEnvoyBinary(envoyBinary);
      const c = await context(flags, starting.signal);
      process.exit(await runEnvoy(c, envoyBinary, () => {
        process.off('SIGINT', early);
        process.off('SIGTERM', early);
      }));
    } catch (err) {
      fail(err);
    }
  }
  runDaemon(PROGRAM, async (signal) => runProxyless(await context(flags, signal)), { stopTimeoutMs: STOP_TIMEOUT_MS, stopWhileStarting: true, phrased });
}

await main();
