import type { FastifyError, FastifyInstance } from 'fastify';
import { ApiError } from '../errors/api-error.js';
import type { Logger } from '../telemetry/logger.js';

export const MAX_BODY_BYTES = 1024 * 1024;

/** Every failure leaves the API as `{ title, details, causes }` with the status that fits it. */
export function installErrorHandling(app: FastifyInstance, log: Logger): void {
  app.setErrorHandler((err: FastifyError | ApiError | Error, request, reply) => {
    if (err instanceof ApiError) {
      if (err.status >= 500) log.error({ err, method: request.method, url: request.url }, err.details);
      return reply.status(err.status).send(err.toBody());
    }
    const f = err as FastifyError;
    switch (f.code) {
      case 'FST_ERR_CTP_BODY_TOO_LARGE':
        return reply.status(413).send(body('Body too large', `the body exceeds the limit of ${MAX_BODY_BYTES} bytes (1 MiB)`));
      case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
        return reply.status(415).send(body('Unsupported content type', `"${request.headers['content-type'] ?? ''}" is not accepted: send application/json or application/yaml`));
      case 'FST_ERR_CTP_EMPTY_JSON_BODY':
        return reply.status(400).send(body('Malformed body', 'the body is empty: send the resource as JSON or YAML'));
    }
    if (f.statusCode === 400 || err instanceof SyntaxError) {
      return reply.status(400).send(body('Malformed body', `the body is not valid JSON: ${err.message}`));
    }
    if (typeof f.statusCode === 'number' && f.statusCode < 500) {
      return reply.status(f.statusCode).send(body('Bad request', err.message));
    }
    log.error({ err, method: request.method, url: request.url }, 'unhandled error');
    return reply.status(500).send(body('Internal error', 'the control plane failed to handle the request; see its log'));
  });

  app.setNotFoundHandler((request, reply) => {
    reply.status(404).send(body('Not found', `no API path ${request.method} ${request.url.split('?')[0]}`));
  });
}

function body(title: string, details: string) {
  return { title, details, causes: [] };
}
