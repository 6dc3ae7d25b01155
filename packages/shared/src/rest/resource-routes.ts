import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { Need } from '../auth/authorization.js';
import { ApiError, BadRequestError, NotFoundError, ValidationError } from '../errors/api-error.js';
import { LABEL_ORIGIN } from '../kds/sync-labels.js';
import type { ResourceDescriptor } from '../resources/descriptor.js';
import { nameLengthSchema } from '../resources/meta.js';
import { type CpMode, writeRefusal } from '../resources/ownership.js';
import { type AnyDescriptor, DESCRIPTORS, findByPlural } from '../resources/registry.js';
import { type Resource, type ResourceKey, type StoredResource, toWire } from '../resources/resource.js';
import { isMeshCaKeySecret } from '../resources/secret.js';
import { parseResource } from '../resources/validate.js';
import { access } from './access.js';
import { isAdmin } from './access-control.js';
import { MAX_PAGE_SIZE, type ResourceStore } from '../store/resource-store.js';

export interface ResourceRoutesOptions {
  readonly store: ResourceStore;
  readonly mode: CpMode;
  /** Lets a CP complete or check a resource before it is written (a zone stamps its name on egresses). */
  readonly prepare?: (resource: Resource) => Resource;
}

const Paging = z.object({
  size: z.coerce.number({ error: 'must be a number' }).int('must be an integer').min(1, 'must be at least 1').max(MAX_PAGE_SIZE, `must be at most ${MAX_PAGE_SIZE}`).default(100),
  offset: z.coerce.number({ error: 'must be a number' }).int('must be an integer').min(0, 'cannot be negative').default(0),
});

type Params = { plural: string; name?: string; mesh?: string };

/** CRUD for every registered type on Kuma's paths; nothing here names a type, the registry decides. */
export function registerResourceRoutes(app: FastifyInstance, options: ResourceRoutesOptions): void {
  const { store, mode } = options;

  const resolve = (params: Params): AnyDescriptor => {
    const d = findByPlural(params.plural);
    if (!d) {
      throw new NotFoundError(`unknown resource type "${params.plural}"; known: ${DESCRIPTORS.map((x) => x.plural).join(', ')}`);
    }
    if ((d as ResourceDescriptor).internal) throw new NotFoundError(`${d.kind} is internal to the control plane and is not served by the API`);
    if (params.mesh !== undefined && d.scope !== 'mesh') throw new NotFoundError(`${d.kind} is not mesh-scoped: use /${d.plural}`);
    if (params.mesh === undefined && params.name !== undefined && d.scope === 'mesh') {
      throw new NotFoundError(`${d.kind} is mesh-scoped: use /meshes/{mesh}/${d.plural}/${params.name}`);
    }
    return d;
  };

  // On a federated zone, what arrived from global (another zone's ingress) is global's to change.
  const refuseIfFromGlobal = async (key: ResourceKey) => {
    if (mode !== 'zone') return;
    const existing = await store.get(key);
    if (existing?.labels[LABEL_ORIGIN] === 'global') {
      throw new BadRequestError('Write refused', `${key.type} "${key.name}" was received from the global control plane and is read-only in this zone`);
    }
  };

  // Asking for a name longer than any resource can have is a mistake in the request, not a miss:
  // it gets PUT's 400 on `name`. Only the length is checked, so names stored under older rules stay reachable.
  const keyOf = (d: AnyDescriptor, p: Params): ResourceKey => {
    const name = nameLengthSchema.safeParse(p.name);
    if (!name.success) {
      const causes = name.error.issues.map((i) => ({ field: 'name', message: i.message }));
      throw new ValidationError(`${d.kind} ${causes[0]!.message}`, causes);
    }
    return { type: d.kind, name: p.name!, ...(p.mesh !== undefined ? { mesh: p.mesh } : {}) };
  };

  const list = async (request: FastifyRequest<{ Params: Params; Querystring: Record<string, string> }>) => {
    const d = resolve(request.params);
    const q = Paging.safeParse(request.query);
    if (!q.success) {
      const i = q.error.issues[0]!;
      throw new BadRequestError('Invalid query', `${String(i.path[0])}: ${i.message}`, q.error.issues.map((x) => ({ field: String(x.path[0]), message: x.message })));
    }
    const { size, offset } = q.data;
    const page = await store.list(d.kind, { limit: size, offset, ...(request.params.mesh !== undefined ? { mesh: request.params.mesh } : {}) });
    const served = page.items.filter((r) => !isMeshCaKeySecret(r));
    const redact = redaction(d.kind, request);
    return {
      total: page.total - (page.items.length - served.length),
      items: served.map((r) => redact(toWire(r))),
      next: page.next !== undefined ? `${baseUrl(request)}${listPath(d, request.params.mesh)}?size=${size}&offset=${page.next}` : null,
    };
  };

  const get = async (request: FastifyRequest<{ Params: Params }>, reply: FastifyReply) => {
    const d = resolve(request.params);
    const r = await store.get(keyOf(d, request.params));
    if (!r) throw new NotFoundError(describe(d, request.params, 'does not exist'));
    if (isMeshCaKeySecret(r)) throw new MeshCaKeyNotServedError(r.mesh ?? '');
    if (d.kind === 'MeshGateway' && !isAdmin(request.principal)) return reply.status(200).header('etag', `"${r.version}"`).send(withoutInlineKeys(toWire(r)));
    return send(reply, 200, r);
  };

  const put = async (request: FastifyRequest<{ Params: Params; Body: unknown }>, reply: FastifyReply) => {
    const d = resolve(request.params);
    const refusal = writeRefusal(mode, d);
    if (refusal) throw new BadRequestError('Write refused', refusal);
    let resource = parseResource(request.body, { descriptor: d, name: request.params.name!, ...(request.params.mesh !== undefined ? { mesh: request.params.mesh } : {}) });
    if (options.prepare) resource = options.prepare(resource);
    await refuseIfFromGlobal(resource);
    const expectedVersion = ifMatch(request);
    const { written, events } = await store.commit([{ op: 'put', resource, ...(expectedVersion !== undefined ? { expectedVersion } : {}) }]);
    return send(reply, events[0]?.op === 'create' ? 201 : 200, written[0]!);
  };

  const del = async (request: FastifyRequest<{ Params: Params }>) => {
    const d = resolve(request.params);
    const refusal = writeRefusal(mode, d);
    if (refusal) throw new BadRequestError('Write refused', refusal);
    await refuseIfFromGlobal(keyOf(d, request.params));
    const expectedVersion = ifMatch(request);
    await store.commit([{ op: 'delete', key: keyOf(d, request.params), ...(expectedVersion !== undefined ? { expectedVersion } : {}) }]);
    return {};
  };

  // The right each route needs, named by the type it is asked for (an unknown plural is read as
  // itself and then answered 404 by the handler). A PUT is an UPDATE of what exists, else a CREATE.
  const needOf = (action: Need['action']) => (request: FastifyRequest) => {
    const p = request.params as Params;
    const type = findByPlural(p.plural)?.kind ?? p.plural;
    return { action, type, ...(p.mesh !== undefined ? { mesh: p.mesh } : {}), ...(p.name !== undefined ? { name: p.name } : {}) };
  };
  const putNeed = async (request: FastifyRequest): Promise<Need> => {
    const p = request.params as Params;
    const d = findByPlural(p.plural);
    const exists = d !== undefined && nameLengthSchema.safeParse(p.name).success && (await store.get(keyOf(d, p))) !== undefined;
    return needOf(exists ? 'UPDATE' : 'CREATE')(request);
  };

  for (const base of ['', '/meshes/:mesh']) {
    app.get(`${base}/:plural`, access(needOf('READ')), list);
    app.get(`${base}/:plural/:name`, access(needOf('READ')), get);
    app.put(`${base}/:plural/:name`, access(putNeed), put);
    app.delete(`${base}/:plural/:name`, access(needOf('DELETE')), del);
  }
}

/** The mesh CA's private key: asked for by name, the answer says why it is never served. */
export class MeshCaKeyNotServedError extends ApiError {
  constructor(mesh: string) {
    super(403, 'Forbidden', `the private key of mesh "${mesh}"'s CA is never served by the API: it travels only over KDS to authenticated zones`);
  }
}

/**
 * What a reader who is not an admin is shown of key material: that a Secret exists, not what it
 * holds; a MeshGateway's listeners with their inline certificates (which carry private keys) redacted.
 */
function redaction(kind: string, request: FastifyRequest): <T extends object>(r: T) => T {
  if (isAdmin(request.principal)) return (r) => r;
  if (kind === 'Secret') return withoutData;
  if (kind === 'MeshGateway') return withoutInlineKeys;
  return (r) => r;
}

const REDACTED = '[redacted]';

function withoutInlineKeys<T extends object>(r: T): T {
  const conf = (r as { conf?: { listeners?: { tls?: { certificates?: Record<string, unknown>[] } }[] } }).conf;
  if (!conf?.listeners?.some((l) => l.tls?.certificates?.some((c) => 'inline' in c || 'inlineString' in c))) return r;
  const listeners = conf.listeners.map((l) => (l.tls?.certificates
    ? { ...l, tls: { ...l.tls, certificates: l.tls.certificates.map((c) => ('inline' in c ? { inline: REDACTED } : 'inlineString' in c ? { inlineString: REDACTED } : c)) } }
    : l));
  return { ...r, conf: { ...conf, listeners } };
}

function withoutData<T extends object>(r: T): T {
  const { data: _data, ...rest } = r as T & { data?: unknown };
  return rest as T;
}

// Built from the descriptor rather than the request, so a list asked for under a former plural
// points onwards to the canonical one.
function listPath(d: AnyDescriptor, mesh: string | undefined): string {
  return mesh !== undefined ? `/meshes/${encodeURIComponent(mesh)}/${d.plural}` : `/${d.plural}`;
}

function send(reply: FastifyReply, status: number, r: StoredResource) {
  return reply.status(status).header('etag', `"${r.version}"`).send(toWire(r));
}

function ifMatch(request: FastifyRequest): string | undefined {
  const h = request.headers['if-match'];
  if (h === undefined) return undefined;
  const v = String(h).trim().replace(/^W\//, '').replace(/^"|"$/g, '');
  if (!/^\d+$/.test(v)) throw new ValidationError('If-Match must be a version from an ETag', [{ field: 'If-Match', message: `"${String(h)}" is not a version` }]);
  return v;
}

function describe(d: ResourceDescriptor, p: Params, what: string): string {
  return `${d.kind} "${p.name}"${p.mesh !== undefined ? ` in mesh "${p.mesh}"` : ''} ${what}`;
}

export function baseUrl(request: FastifyRequest): string {
  return `${request.protocol}://${request.headers.host ?? request.hostname}`;
}
