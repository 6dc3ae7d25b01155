import type { FastifyInstance, FastifyRequest } from 'fastify';
import {
  access, authorize, BadRequestError, baseUrl, type Cause, configDump, type ConfigDumpInput, type ConfigDumpSection, DataplaneDescriptor, dataplaneNodeId, ENVOY_TYPE, fieldPath,
  findByPlural, ForbiddenError, type JsonObject, type JsonValue, LABEL_ORIGIN, LABEL_ZONE, MAX_PAGE_SIZE, type Need, NO_GRANTS, NotFoundError, type ResourceKey, type ResourceStore,
  readAccess, SERVICE_TAG, type StoredResource, toEnvoyJson, toWire, typed, UnauthenticatedError, XDS_KINDS, type XdsKind, ZoneEgressDescriptor, ZoneIngressDescriptor,
} from '@meshfed/shared';
import { z } from 'zod';
import { proxyIdOf, type ProxyType } from './proxy-id.js';
import { BootstrapRequest, DEFAULT_ADMIN_PORT, generateBootstrap } from './bootstrap.js';
import type { DataplaneRulesView, Lookup, PolicyDataplanesView } from './inspect-rules.js';
import { descriptorOf, isPolicyKind, type PolicyKind, POLICY_KINDS_LIST } from './rules/index.js';
import type { ProxyInsight, ProxyInsights, TypeInsight } from './proxy-insights.js';
import type { XdsSnapshot } from './snapshot.js';
import type { SnapshotCache } from './snapshot-cache.js';

export interface XdsRoutesOptions {
  readonly cache: SnapshotCache;
  readonly insights: ProxyInsights;
  readonly store: ResourceStore;
  /**
   * The ADS server's port and bind address (a bootstrap dials the address unless it is a wildcard).
   * Read on every request, so a getter can hand over a port bound after the routes were registered.
   */
  readonly xds: { readonly port: number; readonly address?: string; readonly caPem?: string };
  readonly zone: string;
  /**
   * Why a proxy has no configuration (the xDS reconciler's `explain`): known even for a proxy that
   * never connected, where the insight's `problem` is not. The insight's is used without it.
   */
  readonly explain?: (proxyId: string) => string | undefined;
  /**
   * The matching step's results (the xDS reconciler's `rulesOf` and `dataplanesOf`): with them,
   * `GET …/dataplanes/{name}/_rules` and `GET …/{policy-plural}/{name}/_resources/dataplanes` answer.
   */
  readonly rules?: {
    readonly rulesOf: (mesh: string, name: string) => Lookup<DataplaneRulesView>;
    readonly dataplanesOf: (type: PolicyKind, mesh: string, name: string) => Lookup<PolicyDataplanesView>;
  };
}

/** Where each kind of proxy lives in the store and how its xDS proxy id is formed. */
const PROXIES = {
  dataplane: { descriptor: DataplaneDescriptor, proxyId: (mesh: string | undefined, name: string) => dataplaneNodeId(mesh ?? '', name) },
  ingress: { descriptor: ZoneIngressDescriptor, proxyId: (_mesh: string | undefined, name: string) => proxyIdOf('ingress', name) },
  egress: { descriptor: ZoneEgressDescriptor, proxyId: (_mesh: string | undefined, name: string) => proxyIdOf('egress', name) },
} as const satisfies Record<ProxyType, unknown>;

type Params = { mesh?: string; name?: string };

// ---- the insight of one proxy, as the API shows it -------------------------------------------

/** Where one xDS type stands: its last response ACKed, NACKed, awaiting an answer, or nothing sent yet. */
export type TypeSyncState = 'acked' | 'nacked' | 'pending' | 'not-sent';

/**
 * Judged on the last response only: an answer counts if it carries that response's nonce and is not
 * older (nonces restart with each stream, so an old stream's ACK of nonce "1" must not pass).
 */
export function typeSyncState(t: Pick<TypeInsight, 'lastSent' | 'lastAcked' | 'lastNack'>): TypeSyncState {
  const sent = t.lastSent;
  if (!sent) return 'not-sent';
  if (t.lastNack && t.lastNack.nonce === sent.nonce && t.lastNack.at >= sent.at) return 'nacked';
  const a = t.lastAcked;
  if (a && a.nonce === sent.nonce && a.version === sent.version && a.at >= sent.at) return 'acked';
  return 'pending';
}

/**
 * The `insight` of a `+insights` item: what ProxyInsights knows (extra fields pass through), the
 * version of the snapshot the cache holds for the proxy, each type's state, and `synced` — connected,
 * something sent, and every type's last response ACKed.
 */
export function insightView(insight: ProxyInsight | undefined, snapshot: XdsSnapshot | undefined): Record<string, unknown> {
  const configVersion = snapshot ? { configVersion: snapshot.version } : {};
  if (!insight) return { connected: false, ...configVersion, synced: false, types: {} };
  const types: Record<string, unknown> = {};
  const states: TypeSyncState[] = [];
  for (const [kind, t] of Object.entries(insight.types) as [XdsKind, TypeInsight][]) {
    const state = typeSyncState(t);
    if (state !== 'not-sent') states.push(state);
    types[kind] = { ...t, state };
  }
  const synced = insight.connected && states.length > 0 && states.every((s) => s === 'acked');
  return { ...insight, ...configVersion, synced, types };
}

// ---- the config dump ---------------------------------------------------------------------------

/** The snapshot as the sections of an admin ConfigDump; each resource keeps its own content version. */
export function dumpSections(snapshot: XdsSnapshot, kinds: readonly XdsKind[] = XDS_KINDS): ConfigDumpInput {
  const input: { [K in XdsKind]?: ConfigDumpSection } = {};
  for (const kind of kinds) {
    const t = snapshot.types[kind];
    input[kind] = { version: t.version, resources: [...t.entries.values()].map((e) => ({ name: e.key, resource: e.resource, version: e.version })) };
  }
  return input;
}

const REDACTED = '[redacted]';

/**
 * toEnvoyJson already redacts what Envoy's protos mark sensitive; this pass makes "no private key in
 * an answer" hold even if those annotations were not loaded: every `private_key` DataSource that is
 * inline loses its content.
 */
export function redactPrivateKeys(json: JsonValue): JsonValue {
  if (Array.isArray(json)) return json.map(redactPrivateKeys);
  if (json === null || typeof json !== 'object') return json;
  const out: JsonObject = {};
  for (const [k, v] of Object.entries(json)) {
    if (k === 'private_key' && v !== null && typeof v === 'object' && !Array.isArray(v)) {
      const key: JsonObject = { ...v };
      for (const f of ['inline_bytes', 'inline_string', 'environment_variable']) if (f in key) key[f] = f === 'inline_bytes' ? Buffer.from(REDACTED).toString('base64') : REDACTED;
      out[k] = key;
    } else out[k] = redactPrivateKeys(v);
  }
  return out;
}

const XdsQuery = z.object({
  type: z
    .string()
    .optional()
    .transform((t, ctx) => {
      if (t === undefined || t === '') return XDS_KINDS;
      const kinds = [...new Set(t.split(',').map((s) => s.trim()))];
      const bad = kinds.filter((k) => !(XDS_KINDS as readonly string[]).includes(k));
      if (bad.length > 0) ctx.addIssue({ code: 'custom', message: `unknown type ${bad.map((b) => `"${b}"`).join(', ')}: use ${XDS_KINDS.join(', ')} (comma-separated for several)` });
      return kinds as XdsKind[];
    }),
});

const Paging = z.object({
  size: z.coerce.number({ error: 'must be a number' }).int('must be an integer').min(1, 'must be at least 1').max(MAX_PAGE_SIZE, `must be at most ${MAX_PAGE_SIZE}`).default(100),
  offset: z.coerce.number({ error: 'must be a number' }).int('must be an integer').min(0, 'cannot be negative').default(0),
});

function causesOf(issues: readonly z.core.$ZodIssue[]): Cause[] {
  return issues.flatMap((i): Cause[] =>
    i.code === 'unrecognized_keys'
      ? i.keys.map((k) => ({ field: fieldPath([...i.path, k]), message: `unknown field "${k}": use mesh, name, proxyType, dataplaneToken and adminPort` }))
      : [{ field: fieldPath(i.path), message: i.message }],
  );
}

function query<T>(schema: z.ZodType<T>, value: unknown): T {
  const q = schema.safeParse(value ?? {});
  if (!q.success) {
    const causes = causesOf(q.error.issues);
    throw new BadRequestError('Invalid query', causes.map((c) => `${c.field}: ${c.message}`).join('; '), causes);
  }
  return q.data;
}

// ---- routes ------------------------------------------------------------------------------------

const describe = (p: ProxyType, name: string, mesh?: string) =>
  `${PROXIES[p].descriptor.kind} "${name}"${mesh !== undefined ? ` in mesh "${mesh}"` : ''}`;

const apiPath = (p: ProxyType, name: string, mesh?: string) =>
  mesh !== undefined ? `/meshes/${mesh}/${PROXIES[p].descriptor.plural}/${name}` : `/${PROXIES[p].descriptor.plural}/${name}`;

/** The zone another zone's resource came from (ingresses reach every zone through global). */
function foreignZone(r: StoredResource, zone: string): string | undefined {
  if (r.labels[LABEL_ORIGIN] !== 'global') return undefined;
  const from = r.labels[LABEL_ZONE] ?? (typeof r.spec['zone'] === 'string' ? r.spec['zone'] : undefined);
  return from !== zone ? (from ?? 'another zone') : undefined;
}

/** The service a dataplane serves (its first inbound, or its gateway): Envoy's node.cluster. */
function serviceOf(r: StoredResource): string | undefined {
  const networking = r.spec['networking'] as { inbound?: { tags?: Record<string, string> }[]; gateway?: { tags?: Record<string, string> } } | undefined;
  return networking?.inbound?.[0]?.tags?.[SERVICE_TAG] ?? networking?.gateway?.tags?.[SERVICE_TAG];
}

function adminPortOf(r: StoredResource): number | undefined {
  const port = (r.spec['networking'] as { admin?: { port?: unknown } } | undefined)?.admin?.port;
  return typeof port === 'number' ? port : undefined;
}

const UNSPECIFIED = new Set(['0.0.0.0', '::', '[::]']);

/** The host proxies dial: the configured xDS address, else the host this request was sent to. */
export function xdsHostFor(hostHeader: string | undefined, address: string | undefined): string {
  if (address !== undefined && address !== '' && !UNSPECIFIED.has(address)) return address;
  if (hostHeader) {
    try {
      const hostname = new URL(`http://${hostHeader}`).hostname;
      if (hostname !== '') return hostname.replace(/^\[(.*)\]$/, '$1');
    } catch {
      // an unparsable Host header: fall through to loopback
    }
  }
  return '127.0.0.1';
}

/** A bootstrap reveals a proxy's registration: READ on the proxy's type, in its mesh. */
function bootstrapNeed(request: FastifyRequest) {
  const b = (request.body ?? {}) as { proxyType?: unknown; mesh?: unknown };
  const type = b.proxyType === 'ingress' ? 'ZoneIngress' : b.proxyType === 'egress' ? 'ZoneEgress' : 'Dataplane';
  return { action: 'READ' as const, type, ...(typeof b.mesh === 'string' ? { mesh: b.mesh } : {}) };
}

/** The plurals `_resources/dataplanes` answers for: every policy type the matching step knows. */
const POLICY_PLURALS = POLICY_KINDS_LIST.map((k) => descriptorOf(k).plural);

type PolicyParams = { mesh: string; plural: string; name: string };

/**
 * Which proxies a policy affects reveals the policy and the proxies: READ on the policy's type (named
 * by the plural, as the generic resource routes do; an unknown plural is read as itself and answered
 * 404 by the handler) and READ on Dataplane, both in the mesh.
 */
function policyNeed(request: FastifyRequest): Need {
  const p = request.params as PolicyParams;
  return { action: 'READ', type: findByPlural(p.plural)?.kind ?? p.plural, mesh: p.mesh, name: p.name };
}

/**
 * The second right of `_resources/dataplanes` (a route declares one): READ on Dataplane in the mesh.
 * Judged by the built-in rules only, without AccessRoles: it can refuse what a role would grant,
 * never grant what the rules refuse (today any authenticated caller may read dataplanes).
 */
async function requireDataplaneRead(request: FastifyRequest): Promise<void> {
  const need: Need = { action: 'READ', type: DataplaneDescriptor.kind, mesh: (request.params as PolicyParams).mesh };
  const d = authorize(request.principal, need, NO_GRANTS);
  if (d.allowed) return;
  throw d.status === 401 ? new UnauthenticatedError(d.reason) : new ForbiddenError(d.reason);
}

/**
 * The zone CP's proxy routes: what each proxy is served (`…/xds`, an Envoy config dump), Kuma's
 * `+insights` listings, `POST /bootstrap`, and with `rules` the matching step's `…/_rules` and
 * `…/_resources/dataplanes`. Registered before the generic resource routes; fastify prefers static
 * segments, so `/meshes/:mesh/dataplanes/:name/xds` and `/meshes/:mesh/dataplanes+insights` never
 * reach `/meshes/:mesh/:plural[/:name]`.
 */
export function registerXdsRoutes(app: FastifyInstance, o: XdsRoutesOptions): void {
  const { cache, insights, store } = o;

  const lookup = async (p: ProxyType, name: string, mesh?: string): Promise<StoredResource | undefined> => {
    const key: ResourceKey = { type: PROXIES[p].descriptor.kind, name, ...(p === 'dataplane' ? { mesh: mesh ?? '' } : {}) };
    return store.get(key);
  };

  const xds = (p: ProxyType) => async (request: FastifyRequest<{ Params: Params; Querystring: unknown }>) => {
    const { name = '', mesh } = request.params;
    const { type: kinds } = query(XdsQuery, request.query);
    const r = await lookup(p, name, mesh);
    if (!r) throw new NotFoundError(`${describe(p, name, mesh)} does not exist`);
    const proxyId = PROXIES[p].proxyId(mesh, name);
    const snapshot = cache.get(proxyId);
    if (!snapshot) {
      const elsewhere = foreignZone(r, o.zone);
      const problem = o.explain?.(proxyId) ?? (insights.get(proxyId) as { problem?: unknown } | undefined)?.problem;
      throw new NotFoundError(
        elsewhere !== undefined
          ? `${describe(p, name, mesh)} belongs to zone "${elsewhere}": inspect it on that zone's control plane`
          : `${describe(p, name, mesh)} has no configuration computed yet${typeof problem === 'string' && problem !== '' ? `: ${problem}` : ''}`,
      );
    }
    return redactPrivateKeys(toEnvoyJson(configDump(dumpSections(snapshot, kinds))));
  };

  const item = (p: ProxyType, r: StoredResource) => {
    // Other zones' ingresses arrive over KDS and are listed too; their proxies connect to their own zone.
    const elsewhere = foreignZone(r, o.zone);
    if (elsewhere !== undefined) return { ...toWire(r), insight: { connected: false, synced: false, types: {}, problem: `a proxy of zone "${elsewhere}": inspect it on that zone's control plane` } };
    const proxyId = PROXIES[p].proxyId(r.mesh, r.name);
    return { ...toWire(r), insight: insightView(insights.get(proxyId), cache.get(proxyId)) };
  };

  const list = (p: ProxyType) => async (request: FastifyRequest<{ Params: Params; Querystring: unknown }>) => {
    const { size, offset } = query(Paging, request.query);
    const { mesh } = request.params;
    const page = await store.list(PROXIES[p].descriptor.kind, { limit: size, offset, ...(mesh !== undefined ? { mesh } : {}) });
    return {
      total: page.total,
      items: page.items.map((r) => item(p, r)),
      next: page.next !== undefined ? `${baseUrl(request)}${request.url.split('?')[0]}?size=${size}&offset=${page.next}` : null,
    };
  };

  const one = (p: ProxyType) => async (request: FastifyRequest<{ Params: Params }>) => {
    const { name = '', mesh } = request.params;
    const r = await lookup(p, name, mesh);
    if (!r) throw new NotFoundError(`${describe(p, name, mesh)} does not exist`);
    return item(p, r);
  };

  app.get('/meshes/:mesh/dataplanes/:name/xds', readAccess('Dataplane'), xds('dataplane'));
  app.get('/zoneingresses/:name/xds', readAccess('ZoneIngress'), xds('ingress'));
  app.get('/zoneegresses/:name/xds', readAccess('ZoneEgress'), xds('egress'));

  app.get('/dataplanes+insights', readAccess('Dataplane'), list('dataplane'));
  app.get('/meshes/:mesh/dataplanes+insights', readAccess('Dataplane'), list('dataplane'));
  app.get('/meshes/:mesh/dataplanes+insights/:name', readAccess('Dataplane'), one('dataplane'));
  app.get('/zoneingresses+insights', readAccess('ZoneIngress'), list('ingress'));
  app.get('/zoneingresses+insights/:name', readAccess('ZoneIngress'), one('ingress'));
  app.get('/zoneegresses+insights', readAccess('ZoneEgress'), list('egress'));
  app.get('/zoneegresses+insights/:name', readAccess('ZoneEgress'), one('egress'));

  if (o.rules) registerRulesRoutes(app, o, o.rules, lookup);

  app.post('/bootstrap', access(bootstrapNeed), async (request, reply) => {
    const body = BootstrapRequest.safeParse(request.body ?? undefined, { reportInput: true });
    if (!body.success) throw new BadRequestError('Invalid request', 'the bootstrap request is invalid', causesOf(body.error.issues));
    const { proxyType: p, name, mesh, dataplaneToken, adminPort } = body.data;
    const r = await lookup(p, name, mesh);
    // Kuma's rule: a proxy is registered in its zone before it asks for a bootstrap.
    if (!r) {
      throw new NotFoundError(`${describe(p, name, mesh)} is not registered in zone "${o.zone}": register it first with PUT ${apiPath(p, name, mesh)} (or meshfed apply) on this zone's control plane`);
    }
    const elsewhere = foreignZone(r, o.zone);
    if (elsewhere !== undefined) throw new NotFoundError(`${describe(p, name, mesh)} belongs to zone "${elsewhere}", not "${o.zone}": bootstrap it from its own zone's control plane`);
    const bootstrap = generateBootstrap({
      proxyType: p,
      nodeId: p === 'dataplane' ? dataplaneNodeId(mesh ?? '', name) : name,
      cluster: (p === 'dataplane' ? serviceOf(r) : undefined) ?? name,
      adminPort: adminPort ?? adminPortOf(r) ?? DEFAULT_ADMIN_PORT,
      xdsHost: xdsHostFor(request.headers.host, o.xds.address),
      xdsPort: o.xds.port,
      ...(dataplaneToken !== undefined ? { token: dataplaneToken } : {}),
      ...(o.xds.caPem !== undefined ? { xdsCaPem: o.xds.caPem } : {}),
    });
    // The token is a credential: nothing between here and the proxy should keep a copy.
    return reply.header('cache-control', 'no-store').send(toEnvoyJson(typed(ENVOY_TYPE.bootstrap, bootstrap)));
  });
}

/**
 * `GET /meshes/{mesh}/dataplanes/{name}/_rules`: the dataplane's rules per policy type, with the
 * policies they came from; `GET /meshes/{mesh}/{policy-plural}/{name}/_resources/dataplanes`: the
 * local dataplanes a policy selects, and what keeps it from selecting (or matching) anything.
 */
function registerRulesRoutes(
  app: FastifyInstance,
  { store, zone }: XdsRoutesOptions,
  rules: NonNullable<XdsRoutesOptions['rules']>,
  lookup: (p: ProxyType, name: string, mesh?: string) => Promise<StoredResource | undefined>,
): void {
  app.get('/meshes/:mesh/dataplanes/:name/_rules', readAccess('Dataplane'), async (request: FastifyRequest<{ Params: { mesh: string; name: string } }>) => {
    const { mesh, name } = request.params;
    const r = await lookup('dataplane', name, mesh);
    if (!r) throw new NotFoundError(`${describe('dataplane', name, mesh)} does not exist`);
    const elsewhere = foreignZone(r, zone);
    if (elsewhere !== undefined) throw new NotFoundError(`${describe('dataplane', name, mesh)} belongs to zone "${elsewhere}": inspect it on that zone's control plane`);
    const found = rules.rulesOf(mesh, name);
    if ('missing' in found) throw new NotFoundError(`${describe('dataplane', name, mesh)} has no rules computed yet: ${found.missing}`);
    return found.found;
  });

  app.get<{ Params: PolicyParams }>('/meshes/:mesh/:plural/:name/_resources/dataplanes', { ...access(policyNeed), preHandler: requireDataplaneRead }, async (request) => {
    const { mesh, plural, name } = request.params;
    const d = findByPlural(plural);
    if (!d || !isPolicyKind(d.kind)) {
      const what = d ? `${d.kind} is not a policy matched to proxies` : `unknown policy type "${plural}"`;
      throw new NotFoundError(`${what}: _resources/dataplanes answers for ${POLICY_PLURALS.join(', ')}`);
    }
    const type = d.kind;
    const described = `${type} "${name}" in mesh "${mesh}"`;
    if (!(await store.get({ type, mesh, name }))) throw new NotFoundError(`${described} does not exist in this zone`);
    const found = rules.dataplanesOf(type, mesh, name);
    if ('missing' in found) throw new NotFoundError(`${described} is not matched yet: ${found.missing}`);
    return found.found;
  });
}
