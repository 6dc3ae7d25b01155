import type { FastifyReply } from 'fastify';
import { z } from 'zod';
import { type Cause, fieldPath } from '../errors/api-error.js';
import { durationSchema, durationToMs } from '../resources/meta.js';

/** What the token routes share: their body fields' messages, `validFor`, the field of each problem, the reply. */
export const required = (what: string) => ({ error: (i: { input?: unknown }) => (i.input === undefined ? 'is required' : `must be ${what}`) });

/** A positive duration of at most `maxMs` (10y), such as `example`. */
export function validForSchema(example: string, maxMs: number) {
  return z.string(required(`a duration string such as "${example}"`)).superRefine((d, ctx) => {
    const format = durationSchema.safeParse(d);
    if (!format.success) ctx.addIssue({ code: 'custom', message: format.error.issues[0]?.message ?? 'must be a duration' });
    else if (durationToMs(d) <= 0) ctx.addIssue({ code: 'custom', message: 'must be positive' });
    else if (durationToMs(d) > maxMs) ctx.addIssue({ code: 'custom', message: 'must be at most 10y (87600h)' });
  });
}

/** One cause per issue, with its field; an unknown field names the ones the body takes (`fields`). */
export function causesOf(issues: readonly z.core.$ZodIssue[], fields: string): Cause[] {
  return issues.flatMap((i): Cause[] =>
    i.code === 'unrecognized_keys'
      ? i.keys.map((k) => ({ field: fieldPath([...i.path, k]), message: `unknown field "${k}": use ${fields}` }))
      : [{ field: fieldPath(i.path), message: i.message }],
  );
}

/** A token as text, never cached. */
export function sendToken(reply: FastifyReply, token: string) {
  return reply.status(200).header('content-type', 'text/plain; charset=utf-8').header('cache-control', 'no-store').send(token);
}
