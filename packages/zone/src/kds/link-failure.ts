import { status } from '@grpc/grpc-js';

/** Where global's KDS listens when --global-address names no port. */
export const KDS_DEFAULT_PORT = 5685;

/** What --global-address dials: host:port for grpc-js, and whether over TLS. */
export function kdsTarget(globalAddress: string): { readonly hostPort: string; readonly host: string; readonly secure: boolean } {
  const url = new URL(globalAddress);
  return { hostPort: `${url.hostname}:${url.port || KDS_DEFAULT_PORT}`, host: url.hostname, secure: url.protocol === 'grpcs:' };
}

/** What the zone knows about how it dials, so the advice names the flag that is actually wrong. */
export interface LinkContext {
  readonly zone: string;
  readonly globalAddress: string;
  /** --kds-ca-file was given: a verification failure then means it is the wrong CA. */
  readonly caFile: boolean;
}

export type LinkFailureCause =
  | 'tls-unverified' | 'tls-expired' | 'tls-name-mismatch' | 'speaks-tls' | 'not-tls' | 'not-kds'
  | 'refused' | 'host-not-found' | 'unreachable' | 'timed-out' | 'token-refused' | 'zone-refused'
  | 'lost' | 'stream-ended' | 'stalled' | 'local-store' | 'other';

export interface LinkFailure {
  readonly cause: LinkFailureCause;
  /** One line: what is wrong and which flag fixes it. Never carries the token or key material. */
  readonly message: string;
  /** error: the configuration is wrong and retrying will not help; warn: it may heal by itself. */
  readonly severity: 'error' | 'warn';
}

/** The shape of a grpc-js ServiceError that matters here, so tests can feed observed errors directly. */
export interface GrpcFailure {
  readonly code: number;
  readonly details: string;
}

const MISCONFIGURED: ReadonlySet<LinkFailureCause> = new Set([
  'tls-unverified', 'tls-expired', 'tls-name-mismatch', 'speaks-tls', 'not-tls', 'not-kds', 'host-not-found', 'token-refused', 'zone-refused',
]);

/** A failure that is not a gRPC status: the streams ended, stalled, or the local store failed. */
export function linkFailure(cause: LinkFailureCause, message: string): LinkFailure {
  return { cause, message: redact(message), severity: MISCONFIGURED.has(cause) ? 'error' : 'warn' };
}

// Node's wording for certificate checks that a CA (or --kds-skip-verify) would settle.
const UNVERIFIED = /self[- ]signed certificate|unable to verify the first certificate|unable to get (local )?issuer certificate|certificate signature failure|unable to get certificate CRL/i;
const NOT_VALID_NOW = /certificate has expired|certificate is not yet valid/i;

/**
 * Turns what grpc-js reports into one line an operator can act on. grpc-js wraps connection failures
 * as UNAVAILABLE "No connection established. Last error: <socket or TLS error>. Resolution note: …";
 * the socket or TLS error says what went wrong, the dialled scheme says which flag to change.
 */
export function classifyLinkFailure(err: GrpcFailure, ctx: LinkContext): LinkFailure {
  const { hostPort, host, secure } = kdsTarget(ctx.globalAddress);
  const details = err.details ?? '';
  const last = lastError(details);
  const is = (cause: LinkFailureCause, message: string) => linkFailure(cause, message);

  if (err.code === status.UNAUTHENTICATED) {
    return is('token-refused', `global refused this zone's token: ${details}: issue one with "meshfed generate zone-token --zone ${ctx.zone} --scope zone" on global and pass it with --zone-token-file`);
  }
  if (err.code === status.PERMISSION_DENIED) return is('zone-refused', `global refused this zone: ${details}`);
  if (err.code === status.DEADLINE_EXCEEDED) {
    return is('timed-out', `global at ${hostPort} did not answer in time: check --global-address and that nothing between this zone and global drops the traffic`);
  }
  if (err.code === status.UNIMPLEMENTED) {
    return is('not-kds', `${hostPort} answers HTTP/2 but is not global's KDS port (${shorten(details)}): point --global-address at global's --kds-port (${KDS_DEFAULT_PORT} by default)`);
  }
  if (/^Name resolution failed/.test(details) || /ENOTFOUND|EAI_AGAIN/.test(last)) {
    return is('host-not-found', `host not found: "${host}" in --global-address does not resolve; check the name (and this host's DNS)`);
  }
  if (/ECONNREFUSED/.test(last)) return is('refused', `nothing answers at ${hostPort} (connection refused): check --global-address and that global is running`);
  const unreachable = last.match(/EHOSTUNREACH|ENETUNREACH|ETIMEDOUT|ECONNRESET/);
  if (unreachable) return is('unreachable', `cannot reach global at ${hostPort} (${unreachable[0]}): check --global-address and the network path to global`);
  if (NOT_VALID_NOW.test(last)) {
    const reason = last.match(NOT_VALID_NOW)![0];
    return is('tls-expired', `global's KDS certificate at ${hostPort} is not valid now (${reason}): renew it on global (--kds-tls-cert), or check this host's clock`);
  }
  if (UNVERIFIED.test(last)) {
    const reason = last.match(UNVERIFIED)![0];
    return is('tls-unverified', ctx.caFile
      ? `cannot verify global's KDS certificate at ${hostPort} (${reason}): the CA in --kds-ca-file did not sign it; pass the CA that did`
      : `cannot verify global's KDS certificate at ${hostPort} (${reason}): pass --kds-ca-file with the CA that signed it, or --kds-skip-verify for a lab`);
  }
  if (/ERR_TLS_CERT_ALTNAME_INVALID|does not match certificate's altnames/.test(last)) {
    const names = last.match(/cert's altnames: (.*)$/)?.[1];
    return is('tls-name-mismatch', `global's KDS certificate does not name "${host}"${names ? ` (it names ${names})` : ''}: dial a name it carries in --global-address, or reissue it with this one`);
  }
  if (secure && /wrong version number|packet length too long|http request/i.test(last)) {
    return is('not-tls', `global at ${hostPort} does not speak TLS (started with --kds-insecure?): use grpc:// in --global-address`);
  }
  // grpc-js says just "Failed to connect" when the peer hangs up before HTTP/2 settings, without an
  // error: what a TLS listener does with a plaintext HTTP/2 preface.
  if (!secure && /^Failed to connect\b/.test(last)) {
    return is('speaks-tls', `global at ${hostPort} hung up on plaintext gRPC (it speaks TLS?): use grpcs:// in --global-address`);
  }
  if (/^Protocol error\b/.test(last)) {
    return is('not-kds', `${hostPort} does not speak HTTP/2 (the REST API port?): point --global-address at global's --kds-port (${KDS_DEFAULT_PORT} by default)`);
  }
  if (secure && /disconnected before secure TLS connection/.test(last)) {
    return is('unreachable', `global at ${hostPort} closed the connection during the TLS handshake: check the port in --global-address`);
  }
  // Not a failed dial: the link was up and global (or grpc-js under it) ended the call, e.g. on shutdown.
  if (err.code === status.UNAVAILABLE && !/^No connection established/.test(details)) {
    return is('lost', `the link to global at ${hostPort} broke (${shorten(details)}): reconnecting`);
  }
  return is('other', `link to global at ${hostPort} failed: ${status[err.code] ?? err.code} ${shorten(last || details)}`);
}

/** The socket or TLS error inside grpc-js's "No connection established" text, without its prefixes. */
function lastError(details: string): string {
  const m = details.match(/Last error: ([\s\S]*?)\.? Resolution note:/);
  const raw = m ? m[1]! : details;
  return raw.replace(/^Error(?: \[[A-Z_]+\])?: /, '').replace(/\s*\(\d{4}-\d\d-\d\dT[\d:.]+Z\)/g, '').trim();
}

/** grpc-js and OpenSSL texts carry timestamps and source locations; a line must stay stable to be said once. */
function shorten(text: string): string {
  return text.replace(/\s*\(\d{4}-\d\d-\d\dT[\d:.]+Z\)/g, '').replace(/:\.\.\/deps\/openssl\S*/g, '').replace(/\s+/g, ' ').trim().slice(0, 300);
}

// Details come from the peer, which is not trusted to keep the zone's token out of its error texts.
function redact(message: string): string {
  return message.replace(/\beyJ[\w-]*\.[\w-]+\.[\w-]*/g, '<token>').replace(/-----BEGIN [^-]+-----[\s\S]*?-----END [^-]+-----/g, '<pem>');
}
