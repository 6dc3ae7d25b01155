import type { z } from 'zod';
import { BadRequestError, type Cause, fieldPath, ValidationError } from '../errors/api-error.js';
import { labelsSchema, meshNameSchema, resourceNameSchema } from './meta.js';
import { type AnyDescriptor, DESCRIPTORS, findByKind } from './registry.js';
import type { Resource } from './resource.js';

// Issues carry the offending input so messages can say what was given.
const REPORT = { reportInput: true } as const;

const META_KEYS = new Set(['type', 'name', 'mesh', 'labels', 'creationTime', 'modificationTime']);

/** Where a body was sent: the path fixes its type and name, and its mesh when mesh-scoped. */
export interface Expected {
  readonly descriptor?: AnyDescriptor;
  readonly name?: string;
  readonly mesh?: string;
}

function issuesToCauses(issues: readonly z.core.$ZodIssue[], prefix: readonly PropertyKey[] = []): Cause[] {
  const causes: Cause[] = [];
  for (const i of issues) {
    if (i.code === 'unrecognized_keys') {
      for (const k of i.keys) {
        const custom = i.message && !i.message.startsWith('Unrecognized key');
        causes.push({ field: fieldPath([...prefix, ...i.path, k]), message: custom ? i.message : `unknown field "${k}"` });
      }
    } else if (i.code === 'invalid_union' && i.errors.length > 0) {
      causes.push({ field: fieldPath([...prefix, ...i.path]), message: i.message === 'Invalid input' ? 'does not match any allowed form' : i.message });
    } else {
      causes.push({ field: fieldPath([...prefix, ...i.path]), message: humanize(i) });
    }
  }
  return causes;
}

function humanize(i: z.core.$ZodIssue): string {
  const got = (i as { input?: unknown }).input;
  if (i.code === 'invalid_type' && got === undefined) return 'is required';
  // zod's own wording starts with "Invalid input"; messages written in the schemas are kept.
  if (i.code === 'invalid_type' && i.message.startsWith('Invalid input')) return `must be ${article(i.expected)}, got ${describe(got)}`;
  return i.message;
}

function article(t: string) {
  return /^[aeiou]/.test(t) ? `an ${t}` : `a ${t}`;
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'string') return `"${v.length > 40 ? `${v.slice(0, 40)}…` : v}"`;
  if (typeof v === 'object') return 'an object';
  return `${typeof v} ${String(v)}`;
}

/**
 * Turns an untrusted body into a resource, or throws one ValidationError listing every problem with
 * its field path. Nothing is stored here; callers write only what this returned.
 */
export function parseResource(body: unknown, expected: Expected = {}): Resource {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new BadRequestError('Invalid resource', 'the body must be an object with type, name and the fields of the resource');
  }
  const raw = body as Record<string, unknown>;
  const causes: Cause[] = [];

  const typeName = raw.type ?? expected.descriptor?.kind;
  if (typeof typeName !== 'string') {
    throw new ValidationError('type is required', [{ field: 'type', message: 'is required' }]);
  }
  const d = findByKind(typeName);
  if (!d) {
    throw new ValidationError(`unknown type "${typeName}"`, [
      { field: 'type', message: `unknown type "${typeName}"; known types: ${DESCRIPTORS.map((x) => x.kind).join(', ')}` },
    ]);
  }
  if (expected.descriptor && expected.descriptor.kind !== d.kind) {
    throw new ValidationError(`type ${d.kind} cannot be written at the path of ${expected.descriptor.kind}`, [
      { field: 'type', message: `must be ${expected.descriptor.kind} on /${expected.descriptor.plural}, got ${d.kind}` },
    ]);
  }

  const name = raw.name ?? expected.name;
  const nameParse = resourceNameSchema.safeParse(name, REPORT);
  if (!nameParse.success) causes.push(...issuesToCauses(nameParse.error.issues, ['name']));
  else if (expected.name !== undefined && name !== expected.name) {
    causes.push({ field: 'name', message: `must match the name in the path ("${expected.name}"), got "${String(name)}"` });
  }
  if (d.kind === 'Mesh' && nameParse.success) {
    const meshName = meshNameSchema.safeParse(name, REPORT);
    if (!meshName.success) causes.push(...issuesToCauses(meshName.error.issues, ['name']));
  }

  let mesh: string | undefined;
  if (d.scope === 'mesh') {
    const m = raw.mesh ?? expected.mesh;
    const meshParse = meshNameSchema.safeParse(m, REPORT);
    if (!meshParse.success) causes.push(...issuesToCauses(meshParse.error.issues, ['mesh']));
    else if (expected.mesh !== undefined && m !== expected.mesh) {
      causes.push({ field: 'mesh', message: `must match the mesh in the path ("${expected.mesh}"), got "${String(m)}"` });
    } else mesh = meshParse.data;
  } else if (raw.mesh !== undefined) {
    causes.push({ field: 'mesh', message: `${d.kind} is not mesh-scoped: remove mesh` });
  }

  const labelsParse = labelsSchema.safeParse(raw.labels ?? {}, REPORT);
  if (!labelsParse.success) causes.push(...issuesToCauses(labelsParse.error.issues, ['labels']));

  const specIn: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(raw)) if (!META_KEYS.has(k)) specIn[k] = v;
  const specParse = d.spec.safeParse(specIn, REPORT);
  if (!specParse.success) causes.push(...issuesToCauses(specParse.error.issues));

  if (causes.length > 0 || !specParse.success || !labelsParse.success) {
    const first = causes[0];
    const details = first ? `${d.kind} is invalid: ${first.field ? `${first.field}: ` : ''}${first.message}${causes.length > 1 ? ` (and ${causes.length - 1} more)` : ''}` : `${d.kind} is invalid`;
    throw new ValidationError(details, causes);
  }
  const res: Resource = {
    type: d.kind,
    name: nameParse.data!,
    labels: labelsParse.data,
    spec: specParse.data,
    ...(mesh !== undefined ? { mesh } : {}),
  };
  return res;
}
