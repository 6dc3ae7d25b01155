import { X509Certificate } from 'node:crypto';
import { once } from 'node:events';
import { STATUS_CODES } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import { createServer as createNetServer, isIP, type Socket } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { flag, FlagError } from '../config/flags.js';
import { NotFoundError } from '../errors/api-error.js';
import type { ResourceStore } from '../store/resource-store.js';
import type { Logger } from '../telemetry/logger.js';
import { issueServerCertificate, type PemKeyPair } from '../tls/certificates.js';
import { certificateNames, endsSelfSigned, type GivenCertificate, readGivenCertificate } from '../tls/server-tls.js';
import { loadOrCreateStoredCa } from '../tls/stored-ca.js';
import { access } from './access.js';
import { answerClientError } from './error-handler.js';

/** The flags both daemons take for the API's HTTPS port; spread into their schemas (`...ApiTlsFlags.shape`). */
export const ApiTlsFlags = z.object({
  apiTlsEnabled: z.boolean().default(true).describe('serve the REST API over HTTPS on --api-tls-port as well as HTTP on --api-port (--api-tls-enabled=false: HTTP only)'),
  apiTlsPort: flag.port(5682, 'HTTPS port of the REST API (0: any free port)'),
  apiTlsCert: z.string().min(1).optional().describe("PEM certificate (chain) for the HTTPS API (absent: issued at start by the CP's own API CA, kept in its store, served at GET /api-ca.crt)"),
  apiTlsKey: z.string().min(1).optional().describe('PEM private key for --api-tls-cert'),
});
export type ApiTlsFlags = z.infer<typeof ApiTlsFlags>;

/** What the flags ask for, checked and read before anything starts. */
export type ApiTlsPlan =
  | { readonly kind: 'disabled' }
  | ({ readonly kind: 'given'; readonly port: number } & GivenCertificate)
  | { readonly kind: 'own-ca'; readonly port: number };

/** Where an operator gets what to pass to `meshfed --ca-file`. */
export const API_CA_PATH = '/api-ca.crt';
/** The GlobalSecret holding the CA the API's certificate is issued from when none is given. */
export const API_CA_SECRET = 'api-ca';

/**
 * The answer to plain HTTP on the HTTPS port. The CLI recognises the title to say which URL to use,
 * so it is part of the API.
 */
export const PLAIN_HTTP_ON_TLS_PORT_TITLE = 'Plain HTTP on the HTTPS port';

/** Checks the --api-tls-* flags together and reads their files; every mistake is a FlagError. */
export async function planApiTls(flags: ApiTlsFlags): Promise<ApiTlsPlan> {
  const { apiTlsCert: cert, apiTlsKey: key } = flags;
  if (!flags.apiTlsEnabled) {
    const given = [cert && '--api-tls-cert', key && '--api-tls-key'].filter(Boolean);
    if (given.length > 0) throw new FlagError(`--api-tls-enabled=false and ${given.join(', ')} contradict each other: choose one`);
    return { kind: 'disabled' };
  }
  if ((cert === undefined) !== (key === undefined)) throw new FlagError('--api-tls-cert and --api-tls-key must be given together');
  if (cert === undefined || key === undefined) return { kind: 'own-ca', port: flags.apiTlsPort };
  return { kind: 'given', port: flags.apiTlsPort, ...(await readGivenCertificate({ cert, key }, { cert: '--api-tls-cert', key: '--api-tls-key' })) };
}

/** The certificate the HTTPS API serves, and the PEM clients trust it with (`GET /api-ca.crt`). */
export interface ApiCertificate {
  readonly pair: PemKeyPair;
  readonly caPem: string;
  /** For the log: what an operator compares with `openssl x509 -fingerprint -sha256`. */
  readonly caFingerprint: string;
}

/**
 * The API's certificate, as planned. Without one given, the CP issues itself one at each start from
 * a CA of its own, kept in the store, so that an operator's --ca-file stays valid across restarts and
 * across replicas on one store. The names are loopback, the host name and the --api-address.
 */
export async function apiCertificate(plan: Exclude<ApiTlsPlan, { kind: 'disabled' }>, o: { store: ResourceStore; address: string; component: string; log: Logger }): Promise<ApiCertificate> {
  if (plan.kind === 'given') {
    const top = plan.chain.at(-1)!;
    if (!endsSelfSigned(plan.chain)) {
      o.log.warn({ issuer: top.issuer }, 'API: --api-tls-cert does not end in a self-signed certificate: clients need its CA (not GET /api-ca.crt, which serves that chain) as --ca-file');
    }
    return { pair: plan.pair, caPem: plan.pair.certPem, caFingerprint: top.fingerprint256 };
  }
  const { ca, created } = await loadOrCreateStoredCa(o.store, { secret: API_CA_SECRET, commonName: `meshfed ${o.component} API CA` });
  const names = certificateNames(o.address);
  const pair = await issueServerCertificate(ca, { commonName: `meshfed-${o.component}-api`, ...names, validDays: 3650 });
  const caFingerprint = new X509Certificate(ca.certPem).fingerprint256;
  o.log.info({ caFingerprint, caCreated: created, ...names }, `API: HTTPS certificate issued at start by the ${created ? 'new' : 'stored'} API CA; give --api-tls-cert/--api-tls-key for other names`);
  return { pair, caPem: ca.certPem, caFingerprint };
}

/** `GET /api-ca.crt`: public by nature (a certificate, never a key), so open to anyone. */
export function registerApiCaRoute(app: FastifyInstance, caPem: string | undefined): void {
  app.get(API_CA_PATH, access('open'), async (_request, reply) => {
    if (caPem === undefined) throw new NotFoundError('this control plane serves its API over plain HTTP only (--api-tls-enabled=false): there is no API CA');
    return reply.header('content-type', 'application/x-pem-file').send(caPem);
  });
}

export interface HttpsListener {
  readonly port: number;
  close(): Promise<void>;
}

/** A TLS record starts with 22 (handshake); anything else on the HTTPS port is taken as plain HTTP. */
const TLS_HANDSHAKE = 0x16;
/** How long a connection may stay silent before its first byte, as node's TLS handshake timeout. */
const FIRST_BYTE_TIMEOUT_MS = 120_000;

/**
 * Serves `app` (the same routes, hooks and error bodies as on --api-port) over HTTPS on `port`. A
 * front listener looks at each connection's first byte: TLS goes to the HTTPS server, plain HTTP is
 * answered with a 400 naming the https:// URL, so a mistaken http:// URL says what to do instead of
 * failing the handshake with a reset.
 */
export async function listenHttps(app: FastifyInstance, o: { port: number; address: string; pair: PemKeyPair; httpsUrl: (port: number) => string }): Promise<HttpsListener> {
  const https: HttpsServer = createHttpsServer({ key: o.pair.keyPem, cert: o.pair.certPem }, app.routing);
  // As fastify configures its own server, so that both ports time out and refuse alike.
  https.keepAliveTimeout = app.server.keepAliveTimeout;
  https.requestTimeout = app.server.requestTimeout;
  https.headersTimeout = app.server.headersTimeout;
  https.on('clientError', answerClientError);
  const sockets = new Set<Socket>();
  const front = createNetServer((socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    socket.setTimeout(FIRST_BYTE_TIMEOUT_MS, () => socket.destroy());
    socket.once('data', (chunk: Buffer) => {
      socket.setTimeout(0);
      socket.pause();
      // Node's TLS socket reads what is already buffered on the socket it wraps, so nothing is lost.
      socket.unshift(chunk);
      if (chunk[0] === TLS_HANDSHAKE) https.emit('connection', socket);
      else refusePlainHttp(socket, o.httpsUrl(port));
    });
    socket.on('error', () => socket.destroy());
  });
  front.listen({ port: o.port, host: o.address });
  await Promise.race([once(front, 'listening'), once(front, 'error').then(([err]) => Promise.reject(err as Error))]);
  const addr = front.address();
  const port = typeof addr === 'object' && addr ? addr.port : o.port;
  return {
    port,
    async close() {
      const closed = new Promise<void>((resolve) => front.close(() => resolve()));
      https.closeAllConnections();
      for (const s of sockets) s.destroy();
      await closed;
    },
  };
}

function refusePlainHttp(socket: Socket, httpsUrl: string): void {
  const payload = JSON.stringify({
    title: PLAIN_HTTP_ON_TLS_PORT_TITLE,
    details: `this port serves the API over HTTPS: use ${httpsUrl}`,
    causes: [],
  });
  socket.end(`HTTP/1.1 400 ${STATUS_CODES[400]}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(payload)}\r\nConnection: close\r\n\r\n${payload}`);
  // The rest of the request is read and dropped: left unread, it would make the close a reset that
  // can lose the answer.
  socket.resume();
}

/** `host:port` in a URL: a specific bind address as is (IPv6 bracketed), any address as loopback. */
export function urlHost(address: string, port: number): string {
  const host = address === '0.0.0.0' || address === '::' ? '127.0.0.1' : address;
  return isIP(host) === 6 ? `[${host}]:${port}` : `${host}:${port}`;
}
