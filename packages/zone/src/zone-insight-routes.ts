import { BadRequestError, readAccess } from '@meshfed/shared';
import type { FastifyInstance } from 'fastify';

/**
 * `GET /zones+insights[/{name}]` is the global CP's: only it sees zones connect. Here the paths would
 * reach the generic resource routes and answer a bare 404, so they say where to ask instead.
 */
export function refuseZoneInsights(app: FastifyInstance, federated: boolean): void {
  const details = federated
    ? 'zone insights are kept by the global control plane, which zones connect to: this is a zone control plane. Run "meshfed inspect zones --cp <global API URL>"'
    : 'zone insights are kept by a global control plane, which zones connect to: this is a standalone zone control plane, no zone connects to it';
  const refuse = async () => {
    throw new BadRequestError('Not served here', details);
  };
  app.get('/zones+insights', readAccess('ZoneInsight'), refuse);
  app.get('/zones+insights/:name', readAccess('ZoneInsight'), refuse);
}
