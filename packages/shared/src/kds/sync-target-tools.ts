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
