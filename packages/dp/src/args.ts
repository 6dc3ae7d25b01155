import { FlagError, flag, flagsHelp, parseFlags } from '@meshfed/shared';
import { z } from 'zod';

/** Loopback only, a free port: the app beside the agent is the only one meant to dial it. */
export const DEFAULT_XDS_LISTEN = '127.0.0.1:0';

/** `host:port`, `[v6]:port` or `unix:/path`: where the local ADS server listens for the app. */
const LISTEN = /^(unix:\/.+|(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):\d{1,5})$/;

/**
 * `meshfed-dp run` flags. Cross-flag rules (mode, TLS choice) are checked in `parseRunArgs` so that
 * each mistake is still one line naming a flag.
 */
export const RunFlags = z
  .object({
    cp: z
      .string()
      .refine((u) => /^https?:\/\/[^/]+\/?$/.test(u), 'must be the zone API URL, http://host:port or https://host:port')
      .describe("the zone control plane's API, http://127.0.0.1:5681"),
    dataplaneFile: z.string().min(1, 'must name a file').describe('the Dataplane as YAML or JSON (type, mesh, name, networking)'),
    tokenFile: z.string().min(1, 'must name a file').optional().describe('file holding the dataplane token (absent: the zone runs --dp-auth none)'),
    proxyless: z.boolean().default(false).describe('serve xDS to a proxyless gRPC app instead of running Envoy'),
    bootstrapFile: z.string().min(1, 'must name a file').describe('where the bootstrap is written (gRPC xDS bootstrap, or Envoy\'s)'),
    caFile: z.string().min(1, 'must name a file').optional().describe("PEM CA that signed the zone API's certificate (https)"),
    skipVerify: z.boolean().default(false).describe("do not verify the zone API's certificate (labs only)"),
    xdsListen: z
      .string()
      .regex(LISTEN, 'must be host:port (port 0 for a free one) or unix:/path')
      .optional()
      .describe(`where the local ADS server for the app listens: host:port or unix:/path (default ${DEFAULT_XDS_LISTEN})`),
    workDir: z.string().min(1, 'must name a directory').optional().describe('where cert.pem, key.pem and ca.pem are written (default: beside --bootstrap-file)'),
    envoyBinary: z.string().min(1, 'must name a file').optional().describe('the Envoy executable (without --proxyless)'),
    logLevel: flag.logLevel(),
  })
  .strict();
export type RunFlags = z.infer<typeof RunFlags>;

export const RUN_SUMMARY = 'meshfed-dp run: registers a workload with its zone, relays xDS for a proxyless gRPC app (--proxyless) or runs Envoy, and keeps its mesh certificates on disk.';

export type Command = { readonly kind: 'help'; readonly text: string } | { readonly kind: 'run'; readonly flags: RunFlags };

/**
 * `meshfed-dp run …`: the flags, checked with each other. Flags also come from MESHFED_* variables
 * (parseFlags' convention), so a unit test passes `env` explicitly.
 */
export function parseArgs(argv: readonly string[], env: Readonly<Record<string, string | undefined>> = process.env): Command {
  const [verb, ...rest] = argv;
  if (verb === undefined || verb === '--help' || verb === '-h' || verb === 'help') return { kind: 'help', text: flagsHelp('meshfed-dp run', RUN_SUMMARY, RunFlags) };
  if (verb !== 'run') throw new FlagError(`unknown command "${verb}": the only command is run (meshfed-dp run --help)`);
  if (rest.includes('--help') || rest.includes('-h')) return { kind: 'help', text: flagsHelp('meshfed-dp run', RUN_SUMMARY, RunFlags) };
  const flags = parseFlags(RunFlags, rest, env);
  if (flags.caFile !== undefined && flags.skipVerify) throw new FlagError('--ca-file and --skip-verify contradict each other: choose one');
  const https = flags.cp.startsWith('https:');
  // The dataplane token and the zone's word on where to dial would cross the network in clear text.
  if (!https && !isLoopbackUrl(flags.cp)) {
    throw new FlagError(`--cp ${flags.cp}: a zone API beyond this host must be https:// (the zone serves it on --api-tls-port, 5682; trust its CA with --ca-file, from GET /api-ca.crt)`);
  }
  if (!https && (flags.caFile !== undefined || flags.skipVerify)) {
    throw new FlagError(`${flags.caFile !== undefined ? '--ca-file' : '--skip-verify'} is for an https:// zone API, and --cp ${flags.cp} is http://`);
  }
  if (flags.proxyless && flags.envoyBinary !== undefined) throw new FlagError('--envoy-binary and --proxyless contradict each other: a proxyless app needs no Envoy');
  if (!flags.proxyless && flags.envoyBinary === undefined) {
    throw new FlagError('--envoy-binary is required without --proxyless (or give --proxyless to serve a proxyless gRPC app)');
  }
  if (!flags.proxyless && flags.xdsListen !== undefined) throw new FlagError('--xds-listen is for --proxyless: Envoy dials the zone itself');
  return { kind: 'run', flags };
}

/** http://localhost, 127.0.0.0/8 or [::1]: plain HTTP that never leaves the host. */
export function isLoopbackUrl(url: string): boolean {
  const host = new URL(url).hostname.replace(/^\[|\]$/g, '');
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}
