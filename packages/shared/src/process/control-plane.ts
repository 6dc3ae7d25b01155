import { randomBytes } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { AlreadyExistsError } from '../errors/api-error.js';
import { openEventBus } from '../events/open-event-bus.js';
import type { EventBus } from '../events/event-bus.js';
import type { CpMode } from '../resources/ownership.js';
import type { Resource } from '../resources/resource.js';
import { buildApiServer } from '../rest/api-server.js';
import { MemoryStore } from '../store/memory-store.js';
import { PostgresStore } from '../store/postgres/postgres-store.js';
import type { ResourceStore } from '../store/resource-store.js';
import { instrumentStore } from '../telemetry/instrumented-store.js';
import { createLogger, type Logger, type LogLevel } from '../telemetry/logger.js';
import { Telemetry } from '../telemetry/telemetry.js';
import { MESHFED_VERSION } from '../version.js';

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
  try {
    if (o.createDefaultMesh) await ensureDefaultMesh(store);
    if (o.setup) extension = await o.setup({ instanceId, store, bus, log, telemetry });
    const ext = extension;
    const app = buildApiServer({
      mode: o.mode, store, log, telemetry,
      ...(o.zone ? { zone: o.zone } : {}),
      ...(o.prepare ? { prepare: o.prepare } : {}),
      ...(ext.routes ? { extraRoutes: (a: FastifyInstance) => ext.routes!(a) } : {}),
      ...(ext.info ? { info: () => ext.info!() } : {}),
    });
    // Loads plugins (async extra routes such as the token issuer) first, so their failures are not
    // reported as a listen error.
    await app.ready();
    await app.listen({ port: o.apiPort, host: o.apiAddress }).catch((err: NodeJS.ErrnoException) => {
      throw new Error(`cannot listen on ${o.apiAddress}:${o.apiPort} for the API: ${err.code ?? err.message}`);
    });
    const addr = app.server.address();
    const port = typeof addr === 'object' && addr ? addr.port : o.apiPort;
    const host = o.apiAddress === '0.0.0.0' || o.apiAddress === '::' ? '127.0.0.1' : o.apiAddress;
    const url = `http://${host}:${port}`;
    log.info({ url, mode: o.mode, store: o.store, version: MESHFED_VERSION }, 'api listening');
    return {
      url, port, store, bus, log, telemetry, app,
      async stop() {
        log.info('stopping');
        await extension.stop?.().catch((err: Error) => log.error({ err }, 'error while stopping'));
        await app.close();
        await store.close();
        await bus.close();
        await telemetry.shutdown();
        log.info('stopped');
      },
    };
  } catch (err) {
    await extension.stop?.().catch(() => undefined);
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
