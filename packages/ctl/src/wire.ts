import { z } from 'zod';

/** A resource as the REST API answers it (toWire): meta and spec fields side by side. */
export const WireResource = z.looseObject({
  type: z.string(),
  name: z.string(),
  mesh: z.string().optional(),
  creationTime: z.string().optional(),
  modificationTime: z.string().optional(),
  labels: z.record(z.string(), z.string()).optional(),
});
export type WireResource = z.infer<typeof WireResource>;

/** One page of a listing of `item`s. `next` is the absolute URL of the next page, or null on the last. */
export const pageOf = <T extends z.ZodType>(item: T) =>
  z.object({
    total: z.number().int().nonnegative().optional(),
    items: z.array(item),
    next: z.string().nullable().optional(),
  });

export const WireList = pageOf(WireResource);
export type WireList = z.infer<typeof WireList>;

/** The body of a 4xx/5xx answer. Fields are optional: a proxy in between may answer less. */
export const WireError = z.object({
  title: z.string().optional(),
  details: z.string().optional(),
  causes: z.array(z.object({ field: z.string().default(''), message: z.string() })).optional(),
});

/** Reads `obj.a.b[0]` out of untrusted data without throwing; undefined when absent. */
export function at(obj: unknown, ...path: readonly (string | number)[]): unknown {
  let cur: unknown = obj;
  for (const p of path) {
    if (typeof p === 'number') {
      if (!Array.isArray(cur)) return undefined;
      cur = cur[p];
    } else {
      if (typeof cur !== 'object' || cur === null || Array.isArray(cur)) return undefined;
      cur = (cur as Record<string, unknown>)[p];
    }
  }
  return cur;
}

/** Scalars as text; anything else (absent, objects) as undefined. */
export function scalarText(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return undefined;
}

export function asArray(v: unknown): readonly unknown[] {
  return Array.isArray(v) ? v : [];
}
