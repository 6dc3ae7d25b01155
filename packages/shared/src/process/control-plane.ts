import { randomBytes } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { AlreadyExistsError } from '../errors/api-error.js';
import { openEventBus } from '../events/open-event-bus.js';
import type { EventBus } from '../events/event-bus.js';
import type { CpMode } from '../resources/ownership.js';
import type { Resource } from '../resources/resource.js';
import { AccessGrantsCache } from '../auth/access-grants.js';
import { loadOrCreateAdminToken } from '../auth/admin-token.js';
import { RevocationList } from '../auth/revocation-list.js';
import { UserTokens } from '../auth/user-token.js';
import type { ApiAccessFlags } from '../rest/access-control.js';
import { buildApiServer } from '../rest/api-server.js';
import { registerRevocationRoutes } from '../rest/revocation-routes.js';
import { registerSigningKeyRoutes } from '../rest/signing-key-routes.js';
import { ADMIN_TOKEN_PATH, registerUserTokenRoutes } from '../rest/user-token-routes.js';
import { apiCertificate, type ApiTlsPlan, type HttpsListener, listenHttps, registerApiCaRoute, urlHost } from '../rest/api-tls.js';
import { MemoryStore } from '../store/memory-store.js';
import { PostgresStore } from '../store/postgres/postgres-store.js';
import type { ResourceStore } from '../store/resource-store.js';
import { instrumentStore } from '../telemetry/instrumented-store.js';
import { createLogger, type Logger, type LogLevel } from '../telemetry/logger.js';
import { Telemetry } from '../telemetry/telemetry.js';
import { MESHFED_VERSION } from '../version.js';
import { MeshDefaultsManager } from '../mesh-defaults/mesh-defaults-manager.js';

export interface ControlPlaneOptions {
  readonly component: 'global' | 'zone';
  readonly mode: CpMode;
  readonly zone?: string;
  readonly store: 'memory' | 'postgres';
  readonly postgresUrl?: string | undefined;
  /** nats://host:4222: replicas on one store see each other's writes as events. Absent: in-process only. */
  readonly natsUrl?: string | undefined;
  /** Replicas of one control plane share it (default `meshfed`). */
  readonly natsSubjectPrefix?: string | undefined;
  readonly apiPort: number;
  readonly apiAddress: string;
  /** The API over HTTPS too, on its own port (planApiTls). Absent: HTTP only. */
  readonly apiTls?: ApiTlsPlan;
  /** Who may call the API without a token (default: loopback is the admin, nobody else anonymous). */
  readonly apiAccess?: Pick<ApiAccessFlags, 'apiLocalhostIsAdmin' | 'apiAnonymousReads'>;
  readonly logLevel: LogLevel;
  /** Kuma creates a `default` mesh where meshes are authored: on global and on standalone zones. */
  readonly createDefaultMesh: boolean;
  readonly prepare?: (resource: Resource) => Resource;
  /**
   * Starts what only one kind of CP has (KDS, tokens, insights) once the store and bus are open. Its
   * routes join the API and its stop runs first on shutdown.
   */
  readonly setup?: (ctx: ControlPlaneContext) => Promise<CpExtension>;
  readonly log?: Logger;
}

export interface CpExtension {
  routes?(app: FastifyInstance): void;
  /** Merged into `GET /`, e.g. a zone's link to global. */
  info?(): Record<string, unknown>;
  stop?(): Promise<void>;
}

/** What a control plane's parts share, handed to `setup` once the store is open. */
export interface ControlPlaneContext {
  /** This process, among replicas of one control plane. */
  readonly instanceId: string;
  readonly store: ResourceStore;
  readonly bus: EventBus;
  readonly log: Logger;
  readonly telemetry: Telemetry;
}

export interface RunningControlPlane {
  readonly url: string;
  readonly port: number;
  /** The same API over HTTPS; undefined when it is served over HTTP only. */
  readonly tlsUrl: string | undefined;
  readonly tlsPort: number | undefined;
  readonly store: ResourceStore;
  readonly bus: EventBus;
  readonly log: Logger;
  readonly telemetry: Telemetry;
  readonly app: FastifyInstance;
  stop(): Promise<void>;
}

/** What both daemons share: store, events, telemetry and the REST API, started in that order. */
export async function startControlPlane(o: ControlPlaneOptions): Promise<RunningControlPlane> {
  const log = o.log ?? createLogger({ component: o.component, level: o.logLevel, ...(o.zone ? { zone: o.zone } : {}) });
  const telemetry = new Telemetry({ service: `meshfed-${o.component}`, attributes: { 'meshfed.mode': o.mode, ...(o.zone ? { 'meshfed.zone': o.zone } : {}) } });
  // One id per process: a replica ignores its own writes when NATS hands them back.
  const instanceId = randomBytes(6).toString('hex');
  const bus = await openEventBus({ natsUrl: o.natsUrl, subjectPrefix: o.natsSubjectPrefix, instanceId, log, telemetry });
  const raw: ResourceStore =
    o.store === 'postgres'
      ? await PostgresStore.open({ url: o.postgresUrl!, bus }).catch(async (err: unknown) => { await bus.close().catch(() => undefined); throw err; })
      : new MemoryStore(bus);
  const store = instrumentStore(raw, telemetry);
  if (o.natsUrl && o.store === 'memory') {
    log.warn('--nats-url with the memory store: replicas will share events but not resources; use --store postgres for replicas');
  }
  let extension: CpExtension = {};
  let meshDefaults: MeshDefaultsManager | undefined;
  let grants: AccessGrantsCache | undefined;
  let userRevocations: RevocationList | undefined;
  let openedUserTokens: UserTokens | undefined;
  let app: FastifyInstance | undefined;
  let https: HttpsListener | undefined;
  try {
    // Where meshes are authored (global, a standalone zone), a new Mesh gets Kuma's default policies.
    // Subscribed before the `default` mesh is made, so that it gets them too.
    if (o.mode !== 'zone') {
      meshDefaults = new MeshDefaultsManager({ store, bus, log });
      meshDefaults.start();
    }
    if (o.createDefaultMesh) await ensureDefaultMesh(store);
    // A fresh CP serves the default mesh with its policies (a failed write is retried in the background).
    await meshDefaults?.idle();
    // Each control plane signs its own user tokens; the admin's is kept in the store for loopback.
    const userTokens = await UserTokens.open(store, { log, bus });
    openedUserTokens = userTokens;
    userRevocations = await RevocationList.open({ store, bus, kind: 'user', log });
    const revokedUsers = userRevocations;
    userTokens.useRevocations(revokedUsers.isRevoked);
    await loadOrCreateAdminToken(store, userTokens, log);
    grants = await AccessGrantsCache.start({ store, bus, log });
    const accessGrants = grants;
    if (o.setup) extension = await o.setup({ instanceId, store, bus, log, telemetry });
    const ext = extension;
    const tlsPlan = o.apiTls ?? { kind: 'disabled' };
    const certificate = tlsPlan.kind === 'disabled' ? undefined : await apiCertificate(tlsPlan, { store, address: o.apiAddress, component: o.component, log });
    const api = buildApiServer({
      mode: o.mode, store, log, telemetry,
      ...(o.zone ? { zone: o.zone } : {}),
      ...(o.prepare ? { prepare: o.prepare } : {}),
      access: {
        userTokens, grants: () => accessGrants.current(),
        localhostIsAdmin: o.apiAccess?.apiLocalhostIsAdmin ?? true, anonymousReads: o.apiAccess?.apiAnonymousReads ?? false,
      },
      extraRoutes: (a: FastifyInstance) => {
        registerApiCaRoute(a, certificate?.caPem);
        registerUserTokenRoutes(a, { tokens: userTokens, store });
        registerRevocationRoutes(a, revokedUsers);
        registerSigningKeyRoutes(a, 'user', userTokens.ring);
        ext.routes?.(a);
      },
      ...(ext.info ? { info: () => ext.info!() } : {}),
    });
    app = api;
    // Loads plugins (async extra routes such as the token issuer) first, so their failures are not
    // reported as a listen error.
    await app.ready();
    await app.listen({ port: o.apiPort, host: o.apiAddress }).catch((err: NodeJS.ErrnoException) => {
      throw new Error(`cannot listen on ${o.apiAddress}:${o.apiPort} for the API: ${err.code ?? err.message}`);
    });
    const addr = app.server.address();
    const port = typeof addr === 'object' && addr ? addr.port : o.apiPort;
    const url = `http://${urlHost(o.apiAddress, port)}`;
    let tlsUrl: string | undefined;
    if (certificate && tlsPlan.kind !== 'disabled') {
      const httpsUrl = (p: number) => `https://${urlHost(o.apiAddress, p)}`;
      https = await listenHttps(api, { port: tlsPlan.port, address: o.apiAddress, pair: certificate.pair, httpsUrl }).catch((err: NodeJS.ErrnoException) => {
        throw new Error(`cannot listen on ${o.apiAddress}:${tlsPlan.port} for the HTTPS API: ${err.code ?? err.message} (choose another --api-tls-port, or --api-tls-enabled=false)`);
      });
      tlsUrl = httpsUrl(https.port);
      // Before 'api listening', which tells harnesses the CP is up: by then both ports answer.
      log.info({ tlsUrl, caFingerprint: certificate.caFingerprint },
        `api listening over HTTPS too: meshfed --cp ${tlsUrl} --ca-file <(curl -s ${url}/api-ca.crt) (or --skip-verify)`);
    }
    const tlsPort = https?.port;
    const tlsListener = https;
    log.info(`admin user token (served only to this host): curl -s ${url}${ADMIN_TOKEN_PATH} | jq -r .data | base64 -d`);
    log.info({ url, ...(tlsUrl ? { tlsUrl } : {}), mode: o.mode, store: o.store, version: MESHFED_VERSION }, 'api listening');
    return {
      url, port, tlsUrl, tlsPort, store, bus, log, telemetry, app: api,
      async stop() {
        log.info('stopping');
        await extension.stop?.().catch((err: Error) => log.error({ err }, 'error while stopping'));
        await meshDefaults?.stop();
        accessGrants.close();
        revokedUsers.close();
        userTokens.close();
        await tlsListener?.close();
        await api.close();
        await store.close();
        await bus.close();
        await telemetry.shutdown();
        log.info('stopped');
      },
    };
  } catch (err) {
    await extension.stop?.().catch(() => undefined);
    await meshDefaults?.stop();
    grants?.close();
    userRevocations?.close();
    openedUserTokens?.close();
    await https?.close().catch(() => undefined);
    await app?.close().catch(() => undefined);
    await store.close().catch(() => undefined);
    await bus.close().catch(() => undefined);
    throw err;
  }
}

export async function ensureDefaultMesh(store: ResourceStore): Promise<void> {
  try {
    await store.commit([{ op: 'put', resource: { type: 'Mesh', name: 'default', labels: {}, spec: {} }, expectedVersion: null }]);
  } catch (err) {
    if (!(err instanceof AlreadyExistsError)) throw err;
  }
}
