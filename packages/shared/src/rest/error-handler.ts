import { maxHeaderSize, STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest, FastifyServerOptions } from 'fastify';
import { ApiError } from '../errors/api-error.js';
import { MAX_NAME_LENGTH } from '../resources/meta.js';
import type { Logger } from '../telemetry/logger.js';

export const MAX_BODY_BYTES = 1024 * 1024;

/**
 * Longest path segment the router lets through (fastify's default is 100, shorter than a name may be).
 * Node already bounds the whole request head by maxHeaderSize, so any segment the server accepted
 * reaches the handlers, and a name that is too long is refused on `name` as it is in a body.
 */
export const MAX_PATH_SEGMENT = maxHeaderSize;

/**
 * Fastify options for what is refused before any route runs (a URL the router rejects, a request
 * node's parser rejects), so those answers are the API's error body too and not fastify's own.
 */
export function httpLayerOptions(log: Logger) {
  return {
    bodyLimit: MAX_BODY_BYTES,
    routerOptions: { maxParamLength: MAX_PATH_SEGMENT },
    frameworkErrors: (err: FastifyError, request: FastifyRequest, reply: FastifyReply) => {
      respond(err, request, reply, log);
    },
    clientErrorHandler: answerClientError,
  } satisfies FastifyServerOptions;
}

/** Every failure leaves the API as `{ title, details, causes }` with the status that fits it. */
export function installErrorHandling(app: FastifyInstance, log: Logger): void {
  app.setErrorHandler((err: FastifyError | ApiError | Error, request, reply) => respond(err, request, reply, log));

  app.setNotFoundHandler((request, reply) => {
    reply.status(404).send(body('Not found', `no API path ${request.method} ${request.url.split('?')[0]}`));
  });
}

/** Shared by the error handler and frameworkErrors, so a failure reads the same whichever layer met it. */
function respond(err: FastifyError | ApiError | Error, request: FastifyRequest, reply: FastifyReply, log: Logger) {
  if (err instanceof ApiError) {
    if (err.status >= 500) log.error({ err, method: request.method, url: request.url }, err.details);
    return reply.status(err.status).send(err.toBody());
  }
  const f = err as FastifyError;
  switch (f.code) {
    case 'FST_ERR_MAX_PARAM_LENGTH':
      return reply.status(414).send(body('URI too long', `a segment of the path is longer than ${MAX_PATH_SEGMENT} characters; resource names are at most ${MAX_NAME_LENGTH}`));
    case 'FST_ERR_BAD_URL':
      return reply.status(400).send(body('Malformed URL', 'the path has a "%" that does not start a valid percent-encoded character'));
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return reply.status(400).send(body('Malformed body', 'the body is not as long as its Content-Length says'));
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
    return reply.status(f.statusCode).send(body(STATUS_CODES[f.statusCode] ?? 'Bad request', err.message));
  }
  log.error({ err, method: request.method, url: request.url }, 'unhandled error');
  return reply.status(500).send(body('Internal error', 'the control plane failed to handle the request; see its log'));
}

/**
 * Node's parser refuses some requests before fastify sees them: a URL and headers over maxHeaderSize
 * (the status cannot tell a long URL from long headers, so it is node's 431), a request that is not
 * HTTP, a timeout. Written on the socket as fastify's default handler does, with the API's body.
 */
export function answerClientError(err: NodeJS.ErrnoException, socket: Socket): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  const [status, answer]: [number, ReturnType<typeof body>] =
    err.code === 'HPE_HEADER_OVERFLOW'
      ? [431, body('Request too large', `the URL and headers exceed the ${maxHeaderSize} bytes the API accepts; resource names are at most ${MAX_NAME_LENGTH} characters`)]
      : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? [408, body('Request timeout', 'the request did not arrive in time')]
        : [400, body('Malformed request', 'the request is not valid HTTP/1.1')];
  if (socket.writable) {
    const payload = JSON.stringify(answer);
    socket.write(`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(payload)}\r\nConnection: close\r\n\r\n${payload}`);
  }
  socket.destroy(err);
}

function body(title: string, details: string) {
  return { title, details, causes: [] };
}
