import { ApiError } from '../errors/api-error.js';
import { type ResourceKind } from '../resources/registry.js';
import type { Resource, StoredResource } from '../resources/resource.js';
import { parseResource } from '../resources/validate.js';
import type { ResourceStore, WriteOp } from '../store/resource-store.js';
import type { Rejected } from './consumer-session.js';
import type { Received } from './envelope.js';

/** Validates a received resource exactly as the REST API would; a refusal names the first problem. */
export function validateReceived(u: Extract<Received, { ok: true }>, name: string, labels: Record<string, string>, spec: unknown): Resource | Rejected {
  const body = { ...(spec && typeof spec === 'object' ? (spec as Record<string, unknown>) : {}), type: u.type, name, labels, ...(u.mesh !== undefined ? { mesh: u.mesh } : {}) };
  try {
    return parseResource(body);
  } catch (err) {
    if (err instanceof ApiError) {
      const c = err.causes[0];
      return { name: u.key, version: u.version, error: c ? `${c.field ? `${c.field}: ` : ''}${c.message}` : err.details };
    }
    throw err;
  }
}

export const isRejected = (x: Resource | Rejected): x is Rejected => 'error' in x && !('type' in x);

/** Lists every resource of a type (all pages). */
export async function listAll(store: ResourceStore, type: ResourceKind): Promise<StoredResource[]> {
  const out: StoredResource[] = [];
  for (let offset = 0; ; offset += 1000) {
    const page = await store.list(type, { limit: 1000, offset });
    out.push(...page.items);
    if (page.next === undefined) return out;
  }
}

/** Keeps mesh-scoped writes whose mesh exists (here or earlier in the same commit); the rest are refused. */
export async function splitByMesh(
  store: ResourceStore,
  ops: readonly { op: WriteOp; key: string; version: string; mesh?: string }[],
): Promise<{ ok: WriteOp[]; missing: (Rejected & { mesh: string })[] }> {
  const known = new Map<string, boolean>();
  const ok: WriteOp[] = [];
  const missing: (Rejected & { mesh: string })[] = [];
  for (const o of ops) {
    if (o.mesh === undefined || o.op.op === 'delete') {
      ok.push(o.op);
      continue;
    }
    let exists = known.get(o.mesh);
    if (exists === undefined) known.set(o.mesh, (exists = (await store.get({ type: 'Mesh', name: o.mesh })) !== undefined));
    if (exists) ok.push(o.op);
    else missing.push({ name: o.key, version: o.version, error: `mesh "${o.mesh}" does not exist here`, mesh: o.mesh });
  }
  return { ok, missing };
}

/**
 * Reads the current copies of the resources a response touches: one list of the whole type for a
 * large response (a full sync of thousands), one get each for a small one (a single change).
 */
export async function existingCopies(
  store: ResourceStore,
  type: ResourceKind,
  keys: readonly { name: string; mesh?: string | undefined }[],
): Promise<(key: { name: string; mesh?: string | undefined }) => StoredResource | undefined> {
  const id = (k: { name: string; mesh?: string | undefined }) => `${k.mesh ?? ''}\u0000${k.name}`;
  const found = new Map<string, StoredResource>();
  if (keys.length > PREFETCH_THRESHOLD) {
    for (const r of await listAll(store, type)) found.set(id(r), r);
  } else {
    for (const k of keys) {
      const r = await store.get({ type, name: k.name, ...(k.mesh !== undefined ? { mesh: k.mesh } : {}) });
      if (r) found.set(id(r), r);
    }
  }
  return (k) => found.get(id(k));
}

const PREFETCH_THRESHOLD = 50;
