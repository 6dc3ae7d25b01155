import type { FastifyRequest } from 'fastify';
import type { Need } from '../auth/authorization.js';

/**
 * Who may call a route. Every route declares one in its `config.access` (a route without one is
 * refused to everybody but the admin group, and a test lists them):
 * - `open`: anyone, always: what is public by nature (the API's CA certificate);
 * - `anonymous-read`: `/`, `/ready`, `/metrics`: anyone authenticated, and anonymous callers when
 *   `--api-anonymous-reads` is on or they come from loopback with `--api-localhost-is-admin`;
 * - `loopback`: only a request from this host's loopback interface (the admin token);
 * - a Need, or a function of the request that answers one (the generic resource routes).
 */
export type RouteAccess = 'open' | 'anonymous-read' | 'loopback' | Need | ((request: FastifyRequest) => Need | Promise<Need>);

declare module 'fastify' {
  interface FastifyContextConfig {
    access?: RouteAccess;
  }
}

/** `{ config: { access } }`, to spread into a route's options. */
export const access = (a: RouteAccess) => ({ config: { access: a } });

/** READ on a type, in the mesh and on the name the path carries (`:mesh`, `:name`) if it does. */
export const readAccess = (type: string) =>
  access((request) => {
    const p = request.params as { mesh?: string; name?: string };
    return { action: 'READ', type, ...(p.mesh !== undefined ? { mesh: p.mesh } : {}), ...(p.name !== undefined ? { name: p.name } : {}) };
  });
