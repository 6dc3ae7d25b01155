import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { type AccessGrants, authorize, describeNeed, LOOPBACK_ADMIN, type Principal } from '../auth/authorization.js';
import { type UserTokens, UserTokenError } from '../auth/user-token.js';
import { ADMIN_GROUP } from '../resources/access-role.js';
import { ApiError } from '../errors/api-error.js';
import type { Logger } from '../telemetry/logger.js';
import type { Telemetry } from '../telemetry/telemetry.js';
import type { RouteAccess } from './access.js';

/** The API's access flags, shared by both daemons. */
export const ApiAccessFlags = z.object({
  apiLocalhostIsAdmin: z.boolean().default(true).describe('a request from this host without a token is the admin (false: everyone presents a token)'),
  apiAnonymousReads: z.boolean().default(false).describe('anyone may read /, /ready and /metrics without a token'),
});
export type ApiAccessFlags = z.infer<typeof ApiAccessFlags>;

export interface ApiAccessOptions {
  readonly userTokens: Pick<UserTokens, 'verify'>;
  /** A request from loopback without a token is the admin (Kuma's `apiServer.auth.allowFromLocalhost`). */
  readonly localhostIsAdmin: boolean;
  /** Anonymous callers may read `/`, `/ready` and `/metrics` from anywhere. */
  readonly anonymousReads: boolean;
  /** The AccessRoles and their bindings in force now (kept current from the store by events). */
  readonly grants: () => AccessGrants;
  readonly log: Logger;
  /** Counts refusals by status and reason (meshfed_api_refusals_total): a burst of 401s is worth an alert. */
  readonly telemetry?: Telemetry;
}

export class UnauthenticatedError extends ApiError {
  constructor(details: string) {
    super(401, 'Unauthenticated', details);
  }
}

export class ForbiddenError extends ApiError {
  constructor(details: string) {
    super(403, 'Forbidden', details);
  }
}

declare module 'fastify' {
  interface FastifyRequest {
    /** Who is calling, set before any handler runs. */
    principal: Principal;
  }
}

/** 127.0.0.0/8 and ::1, also as IPv4-mapped IPv6: what only this host can send from. */
export function isLoopback(address: string | undefined): boolean {
  if (address === undefined) return false;
  const v4 = address.startsWith('::ffff:') ? address.slice(7) : address;
  return v4 === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(v4);
}

const BEARER = /^Bearer +(\S+) *$/i;

export function isAdmin(p: Principal): boolean {
  return p.kind === 'user' && p.groups.includes(ADMIN_GROUP);
}

/**
 * Authenticates every request (onRequest: before its body is read) and authorizes it against the
 * access its route declares (preHandler: a route's need may depend on its body or on the store). A
 * presented token is always checked, from loopback too: a bad one is a 401, never a fallback to admin.
 */
export function installAccessControl(app: FastifyInstance, o: ApiAccessOptions): void {
  app.decorateRequest('principal', null as never);
  const refusals = o.telemetry?.counter('meshfed_api_refusals_total', 'API requests refused by access control, by status and reason');
  // Reasons are a fixed set (the token failures, anonymous, bad-scheme, not-loopback, missing-right): bounded labels.
  const refuse = <E extends ApiError>(err: E, reason: string): E => {
    refusals?.add(1, { status: err.status, reason });
    return err;
  };

  // Secure by default, at build time: a route that does not say who may call it fails the start.
  app.addHook('onRoute', (route) => {
    if (route.config?.access === undefined) {
      throw new Error(`${String(route.method)} ${route.url} declares no access rule: add access(…) from rest/access.ts to its options`);
    }
  });

  app.addHook('onRequest', async (request) => {
    request.principal = await principalOf(request, o, refuse);
  });

  app.addHook('preHandler', async (request) => {
    const p = request.principal;
    // Unknown paths answer 404 to anyone who may call the API at all.
    if (request.routeOptions.url === undefined) {
      if (p.kind === 'anonymous') throw refuse(new UnauthenticatedError(`authentication required: present a user token ("Authorization: Bearer <token>")`), 'anonymous');
      return;
    }
    const rule: RouteAccess | undefined = request.routeOptions.config.access;
    // Unreachable while onRoute refuses such routes; kept so that a way around it fails closed.
    if (rule === undefined) throw refuse(new ForbiddenError(`${request.method} ${request.routeOptions.url} declares no access rule`), 'no-rule');
    if (rule === 'open') return;
    if (rule === 'loopback') {
      if (isLoopback(request.socket.remoteAddress)) return;
      throw refuse(new ForbiddenError(`${request.method} ${request.url.split('?')[0]} is served only to requests from the control plane's own host (loopback)`), 'not-loopback');
    }
    if (rule === 'anonymous-read') {
      if (p.kind === 'user' || o.anonymousReads) return;
      throw refuse(new UnauthenticatedError('authentication required: present a user token ("Authorization: Bearer <token>"), or start the control plane with --api-anonymous-reads'), 'anonymous');
    }
    const need = typeof rule === 'function' ? await rule(request) : rule;
    const decision = authorize(p, need, o.grants());
    if (decision.allowed) return;
    if (decision.status === 401) throw refuse(new UnauthenticatedError(decision.reason), 'anonymous');
    o.log.info({ user: p.kind === 'user' ? p.name : undefined, need: describeNeed(need), method: request.method, route: request.routeOptions.url }, 'request refused: missing right');
    throw refuse(new ForbiddenError(decision.reason), 'missing-right');
  });
}

async function principalOf(request: FastifyRequest, o: ApiAccessOptions, refuse: <E extends ApiError>(err: E, reason: string) => E): Promise<Principal> {
  const header = request.headers.authorization;
  if (header === undefined || header === '') {
    return o.localhostIsAdmin && isLoopback(request.socket.remoteAddress) ? LOOPBACK_ADMIN : { kind: 'anonymous' };
  }
  const token = BEARER.exec(header)?.[1];
  if (token === undefined) {
    const scheme = header.trim().split(/\s/)[0] ?? '';
    throw refuse(new UnauthenticatedError(`the Authorization header must be "Bearer <user token>", but its scheme is ${scheme === '' ? 'missing' : `"${scheme.slice(0, 20)}"`}`), 'bad-scheme');
  }
  try {
    const user = await o.userTokens.verify(token);
    return { kind: 'user', name: user.name, groups: user.groups, via: 'token', tokenId: user.id };
  } catch (err) {
    if (!(err instanceof UserTokenError)) throw err;
    // The reason, never the token: it may be a real credential sent to the wrong place.
    o.log.info({ reason: err.reason, method: request.method, url: request.url.split('?')[0] }, 'request refused: bad user token');
    throw refuse(new UnauthenticatedError(err.message), err.reason);
  }
}
