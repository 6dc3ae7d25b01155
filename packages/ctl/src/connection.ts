import type { ConnectionFlags } from './args.js';
import { InputError, TlsError, UsageError } from './errors.js';

/** What every request carries beyond its URL, files read. */
export interface Connection {
  /** PEM the API's certificate must chain to; absent: the default roots (or none with skipVerify). */
  readonly caPem?: string;
  readonly skipVerify: boolean;
  /** Sent as `Authorization: Bearer …`; never printed, not even in errors. */
  readonly token?: string;
  /** Where caPem came from, for messages: `--ca-file /tmp/ca.crt`. */
  readonly caSource?: string;
}

/** The checked flags: which files to read once a request is about to be made. */
export interface ConnectionPlan {
  readonly caFile?: { readonly path: string; readonly source: string };
  readonly skipVerify: boolean;
  readonly token?: { readonly value: string; readonly source: string };
  readonly tokenFile?: string;
}

// Visible ASCII only: what a header may carry, and what a JWT is made of. A token with anything else
// would make fetch throw an error that quotes it.
const TOKEN = /^[\x21-\x7e]+$/;

/**
 * Checks the connection flags with each other, the environment (MESHFED_CA_FILE, MESHFED_TOKEN;
 * flags win) and the URL. Contradictions are UsageErrors, before anything is read or sent.
 */
export function planConnection(flags: ConnectionFlags, env: Readonly<Record<string, string | undefined>>, cpUrl: string): ConnectionPlan {
  if (flags.token !== undefined && flags.tokenFile !== undefined) throw new UsageError('give --token or --token-file, not both');
  if (flags.caFile !== undefined && flags.skipVerify) throw new UsageError('--ca-file and --skip-verify contradict each other: choose one');
  const https = new URL(cpUrl).protocol === 'https:';
  if (!https && (flags.caFile !== undefined || flags.skipVerify)) {
    throw new UsageError(`${flags.caFile !== undefined ? '--ca-file' : '--skip-verify'} is for an https:// control plane, and ${cpUrl} is http://`);
  }
  const envCa = nonEmpty(env.MESHFED_CA_FILE);
  const envToken = nonEmpty(env.MESHFED_TOKEN);
  const caFile = flags.caFile !== undefined
    ? { path: flags.caFile, source: '--ca-file' }
    // The environment applies to whatever URL is used: ignored for http://, and --skip-verify overrides it.
    : envCa !== undefined && https && !flags.skipVerify ? { path: envCa, source: 'MESHFED_CA_FILE' } : undefined;
  const token = flags.token !== undefined
    ? { value: flags.token, source: '--token' }
    : flags.tokenFile === undefined && envToken !== undefined ? { value: envToken, source: 'MESHFED_TOKEN' } : undefined;
  return {
    skipVerify: flags.skipVerify,
    ...(caFile ? { caFile } : {}),
    ...(token ? { token } : {}),
    ...(flags.tokenFile !== undefined ? { tokenFile: flags.tokenFile } : {}),
  };
}

/** Reads the CA and token files of the plan; a file that cannot be used is an InputError naming it, never its contents. */
export async function loadConnection(plan: ConnectionPlan, readFile: (path: string) => Promise<string>): Promise<Connection> {
  let caPem: string | undefined;
  if (plan.caFile) {
    const { path, source } = plan.caFile;
    caPem = await readFile(path).catch((e: NodeJS.ErrnoException) => {
      throw new InputError(`cannot read ${source} ${path}: ${e.code ?? e.message}`);
    });
    if (!caPem.includes('-----BEGIN CERTIFICATE-----')) throw new InputError(`${source} ${path} holds no PEM certificate: give the API's CA, from GET /api-ca.crt`);
  }
  let token = plan.token?.value;
  let tokenSource = plan.token?.source;
  if (plan.tokenFile !== undefined) {
    const file = plan.tokenFile;
    token = (await readFile(file).catch((e: NodeJS.ErrnoException) => {
      throw new InputError(`cannot read --token-file ${file}: ${e.code ?? e.message}`);
    })).trim();
    tokenSource = `--token-file ${file}`;
    if (token === '') throw new InputError(`--token-file ${file} is empty`);
  }
  if (token !== undefined && !TOKEN.test(token)) throw new InputError(`the token in ${tokenSource} is not a token: it has spaces, control or non-ASCII characters`);
  return {
    skipVerify: plan.skipVerify,
    ...(caPem !== undefined ? { caPem, caSource: `${plan.caFile!.source} ${plan.caFile!.path}` } : {}),
    ...(token !== undefined ? { token } : {}),
  };
}

function nonEmpty(v: string | undefined): string | undefined {
  return v !== undefined && v !== '' ? v : undefined;
}

const UNKNOWN_CA = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'UNABLE_TO_GET_ISSUER_CERT', 'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN', 'CERT_UNTRUSTED', 'CERT_SIGNATURE_FAILURE',
]);
const NOT_TLS = new Set(['ERR_SSL_WRONG_VERSION_NUMBER', 'ERR_SSL_PACKET_LENGTH_TOO_LONG', 'ERR_SSL_HTTP_REQUEST']);

interface TlsLike {
  readonly code?: unknown;
  readonly message?: unknown;
  readonly reason?: unknown;
  readonly host?: unknown;
  readonly cert?: { readonly subjectaltname?: unknown };
  readonly cause?: unknown;
}

/**
 * A TlsError saying what to do, when a request failed because of TLS: an unknown CA, a certificate
 * for other names or out of date, https:// to a port that speaks plain HTTP. Undefined otherwise.
 */
export function tlsFailure(err: unknown, cpUrl: string, connection: Connection | undefined): TlsError | undefined {
  const e = [err, (err as TlsLike | undefined)?.cause].find((x): x is TlsLike => typeof x === 'object' && x !== null && typeof (x as TlsLike).code === 'string');
  if (!e) return undefined;
  const code = String(e.code);
  const url = new URL(cpUrl);
  const at = `the control plane at ${cpUrl}`;
  if (UNKNOWN_CA.has(code)) {
    return new TlsError(connection?.caSource
      ? `${at} presents a certificate the CA in ${connection.caSource} did not sign (${code}): pass --ca-file with the API's CA (GET /api-ca.crt) or --skip-verify`
      : `${at} presents a certificate from an unknown CA (${code}): pass --ca-file with the API's CA (GET /api-ca.crt) or --skip-verify`);
  }
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') {
    const names = typeof e.cert?.subjectaltname === 'string' ? e.cert.subjectaltname : 'other names';
    return new TlsError(`${at} presents a certificate that is not for "${url.hostname}" (it is for ${names}): use one of those names in --cp, or give the control plane a certificate for "${url.hostname}" (--api-tls-cert)`);
  }
  if (code === 'CERT_HAS_EXPIRED' || code === 'CERT_NOT_YET_VALID') {
    return new TlsError(`${at} presents a certificate that is ${code === 'CERT_HAS_EXPIRED' ? 'expired' : 'not valid yet'} (${code}): check the clocks, or give the control plane a current certificate; --skip-verify connects anyway`);
  }
  if (NOT_TLS.has(code) || (code === 'EPROTO' && /wrong version number|packet length too long|http request/i.test(String(e.message)))) {
    return new TlsError(`${at} does not speak TLS on port ${url.port || '443'}, it answers plain HTTP: use --cp http://${url.host}, or the API's HTTPS port (--api-tls-port, default 5682)`);
  }
  return undefined;
}

/** The title the control plane answers plain HTTP on its HTTPS port with (PLAIN_HTTP_ON_TLS_PORT_TITLE in shared). */
const PLAIN_HTTP_ON_TLS_PORT = 'Plain HTTP on the HTTPS port';

/** The TlsError for http:// sent to the API's HTTPS port, recognised by the control plane's answer. */
export function plainHttpRefusal(status: number, text: string, cpUrl: string): TlsError | undefined {
  if (status !== 400 || !text.includes(PLAIN_HTTP_ON_TLS_PORT)) return undefined;
  let title: unknown;
  try {
    title = (JSON.parse(text) as { title?: unknown }).title;
  } catch {
    return undefined;
  }
  if (title !== PLAIN_HTTP_ON_TLS_PORT) return undefined;
  const url = new URL(cpUrl);
  url.protocol = 'https:';
  return new TlsError(`the control plane at ${cpUrl} serves HTTPS on that port: use --cp ${url.href.replace(/\/$/, '')} (with --ca-file or --skip-verify)`);
}
