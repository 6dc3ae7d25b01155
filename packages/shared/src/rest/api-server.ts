import Fastify, { type FastifyInstance } from 'fastify';
import { ApiError } from '../errors/api-error.js';
import type { CpMode } from '../resources/ownership.js';
import type { Resource } from '../resources/resource.js';
import type { ResourceStore } from '../store/resource-store.js';
import type { Logger } from '../telemetry/logger.js';
import type { Telemetry } from '../telemetry/telemetry.js';
import { MESHFED_VERSION } from '../version.js';
import { NO_GRANTS } from '../auth/authorization.js';
import { UserTokenError } from '../auth/user-token.js';
import { access } from './access.js';
import { type ApiAccessOptions, installAccessControl } from './access-control.js';
import { installYamlParser } from './content-types.js';
import { httpLayerOptions, installErrorHandling } from './error-handler.js';
import { registerResourceRoutes } from './resource-routes.js';

export interface ApiServerOptions {
  readonly mode: CpMode;
  readonly zone?: string;
  readonly store: ResourceStore;
  readonly log: Logger;
  readonly telemetry: Telemetry;
  readonly prepare?: (resource: Resource) => Resource;
  /** Routes only one kind of CP has (tokens, insights); registered before the generic resource routes. */
  readonly extraRoutes?: (app: FastifyInstance) => void;
  /** More to say on `GET /` (a zone's link to global). */
  readonly info?: () => Record<string, unknown>;
  /** Who may call what; absent: only loopback requests, as the admin (tests that build the API alone). */
  readonly access?: Omit<ApiAccessOptions, 'log'>;
}

const LOOPBACK_ONLY: Omit<ApiAccessOptions, 'log'> = {
  localhostIsAdmin: true, anonymousReads: false, grants: () => NO_GRANTS,
  userTokens: { verify: async () => { throw new UserTokenError('bad-signature', 'this API accepts no user tokens'); } },
};

/** The REST API both control planes serve on --api-port, Kuma's paths, errors as `{ title, details, causes }`. */
export function buildApiServer(options: ApiServerOptions): FastifyInstance {
  const { log, telemetry, store } = options;
  // Fastify's own logger stays off: requests are logged and counted by the onResponse hook below.
  const app = Fastify({ logger: false, forceCloseConnections: true, ...httpLayerOptions(log) });
  installErrorHandling(app, log);
  installYamlParser(app);
  installAccessControl(app, { ...(options.access ?? LOOPBACK_ONLY), log, telemetry });

  const requests = telemetry.counter('meshfed_http_requests_total', 'API requests by method, route and status');
  const latency = telemetry.histogram('meshfed_http_request_duration_seconds', 'API request latency');
  app.addHook('onResponse', async (request, reply) => {
    const route = request.routeOptions.url ?? 'unmatched';
    const attrs = { method: request.method, route, status: reply.statusCode };
    requests.add(1, attrs);
    latency.record(reply.elapsedTime / 1000, { method: request.method, route });
    log.debug({ method: request.method, url: request.url, status: reply.statusCode, ms: Math.round(reply.elapsedTime) }, 'request');
  });

  app.get('/', access('anonymous-read'), async () => ({ product: 'meshfed', version: MESHFED_VERSION, mode: options.mode, ...(options.zone ? { zone: options.zone } : {}), ...options.info?.() }));
  app.get('/ready', access('anonymous-read'), async (_request, reply) => {
    if (await store.healthy().catch(() => false)) return { ready: true };
    return reply.status(503).send(new ApiError(503, 'Not ready', `the ${store.backend} store is not reachable`).toBody());
  });
  app.get('/metrics', access('anonymous-read'), (request, reply) => {
    reply.hijack();
    telemetry.serveMetrics(request.raw, reply.raw);
  });

  options.extraRoutes?.(app);
  registerResourceRoutes(app, { store, mode: options.mode, ...(options.prepare ? { prepare: options.prepare } : {}) });
  return app;
}
