import { type AnyDescriptor, MeshGatewaysOverview, type RevocableTokenKind, RevocationAnswer, ZoneOverview } from '@meshfed/shared/resources';
import { type RotatableTokenKind, SigningKeyInfo, SigningKeyList, signingKeysPath } from '@meshfed/shared/resources';
import { z } from 'zod';
import { type ConnectionFlags, resolveCpUrl } from './args.js';
import { type Connection, loadConnection, plainHttpRefusal, planConnection, tlsFailure } from './connection.js';
import { ApiResponseError, ProtocolError, TimeoutError, UnreachableError } from './errors.js';
import { describeList, describeResource } from './subject.js';
import type { Io } from './io.js';
import { cliVersion } from './version.js';
import { pageOf, WireError, WireResource } from './wire.js';

export interface ClientOptions {
  readonly fetch?: typeof fetch;
  /** Per request, body included. */
  readonly timeoutMs?: number;
  readonly userAgent?: string;
  /** TLS trust and the bearer token, resolved (files read) before the first request. Absent: neither. */
  readonly connection?: () => Promise<Connection>;
}

export interface WriteOptions {
  /** Makes the write conditional on the resource's current version (409 on mismatch). */
  readonly ifMatch?: string;
}

export type PutResult = 'created' | 'updated';

/** The body of `POST /tokens/zone`, Kuma's. */
export interface ZoneTokenRequest {
  readonly zone: string;
  readonly scope: readonly string[];
  /** A duration: `720h`, `30d`. */
  readonly validFor: string;
}

/** The body of `POST /tokens/dataplane` (a zone CP), Kuma's. */
export interface DataplaneTokenRequest {
  readonly mesh: string;
  readonly name: string;
  readonly tags?: Readonly<Record<string, string>>;
  /** A duration: `24h`, `8760h`. */
  readonly validFor: string;
}

/** The body of `POST /tokens/user`, Kuma's. */
export interface UserTokenRequest {
  readonly name: string;
  readonly groups: readonly string[];
  /** A duration: `24h`, `30d`. */
  readonly validFor: string;
}

const JWT = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;

export interface ResourceRef {
  readonly name: string;
  /** For mesh-scoped types. */
  readonly mesh?: string;
}

interface Answer {
  readonly status: number;
  readonly headers: Headers;
  readonly text: string;
}

const MAX_PAGES = 100_000;

/** The REST path of a type, a mesh's listing of it, or one resource. No mesh on a mesh-scoped type: across meshes. */
export function resourcePath(d: AnyDescriptor, where: { readonly mesh?: string; readonly name?: string } = {}): string {
  const base = d.scope === 'mesh' && where.mesh !== undefined ? `/meshes/${encodeURIComponent(where.mesh)}/${d.plural}` : `/${d.plural}`;
  return where.name === undefined ? base : `${base}/${encodeURIComponent(where.name)}`;
}

/** Kuma's insight listing of a proxy type: `/meshes/{mesh}/dataplanes+insights`, `/zoneingresses+insights/{name}`. */
export function insightsPath(d: AnyDescriptor, where: { readonly mesh?: string; readonly name?: string } = {}): string {
  const base = `${resourcePath(d, { mesh: where.mesh })}+insights`;
  return where.name === undefined ? base : `${base}/${encodeURIComponent(where.name)}`;
}

/** Global's zones joined with their insights (Kuma's path). */
const ZONE_INSIGHTS_PATH = '/zones+insights';

// An Envoy admin ConfigDump: only its shape is checked, the contents are printed as they came.
const ConfigDump = z.looseObject({ configs: z.array(z.unknown()).optional() });

const RuleTag = z.looseObject({ key: z.string(), value: z.string(), not: z.boolean().optional() });
const WireRule = z.looseObject({ subset: z.array(RuleTag), conf: z.unknown(), origins: z.array(z.string()) });
const TypeRules = z.looseObject({
  policies: z.array(z.string()),
  from: z.record(z.string(), z.array(WireRule)),
  to: z.array(WireRule),
  toByService: z.record(z.string(), z.looseObject({ conf: z.unknown(), origins: z.array(z.string()) })),
  warnings: z.array(z.string()),
});
/** A zone CP's `GET /meshes/{mesh}/dataplanes/{name}/_rules`: per policy type, the rules the dataplane gets and their origins. */
export const DataplaneRules = z.looseObject({
  mesh: z.string(),
  dataplane: z.string(),
  rules: z.record(z.string(), TypeRules),
  warnings: z.array(z.string()),
});
export type DataplaneRules = z.infer<typeof DataplaneRules>;
export type WireRule = z.infer<typeof WireRule>;

/** What the CLI needs from the control plane's REST API, with errors turned into the CLI's error types. */
export class ControlPlaneClient {
  private readonly fetch: typeof fetch;
  private readonly timeoutMs: number;
  private readonly userAgent: string;
  private readonly base: URL;
  private readonly connect: () => Promise<Connection>;
  private connected: Promise<{ connection: Connection; fetch: typeof fetch }> | undefined;

  constructor(
    readonly cpUrl: string,
    options: ClientOptions = {},
  ) {
    this.fetch = options.fetch ?? globalThis.fetch;
    this.timeoutMs = options.timeoutMs ?? 30_000;
    this.userAgent = options.userAgent ?? 'meshfed-ctl';
    this.connect = options.connection ?? (async () => ({ skipVerify: false }));
    // A trailing slash makes relative paths keep a prefix (`https://host/cp/` + `meshes`).
    this.base = new URL(cpUrl.endsWith('/') ? cpUrl : `${cpUrl}/`);
  }

  private url(path: string): URL {
    return new URL(path.replace(/^\//, ''), this.base);
  }

  async get(d: AnyDescriptor, name: string, mesh?: string): Promise<WireResource> {
    const scopedMesh = d.scope === 'mesh' ? mesh : undefined;
    const url = this.url(resourcePath(d, { name, mesh: scopedMesh }));
    const answer = await this.send('GET', url, describeResource(d.kind, name, scopedMesh));
    return this.decode(WireResource, answer, 'GET', url);
  }

  /** Every item, following `next` links page by page. `mesh` undefined on a mesh-scoped type: all meshes. */
  async list(d: AnyDescriptor, mesh?: string): Promise<WireResource[]> {
    const scopedMesh = d.scope === 'mesh' ? mesh : undefined;
    return this.listPages(WireResource, resourcePath(d, { mesh: scopedMesh }), describeList(d.plural, scopedMesh));
  }

  /** `GET …+insights` (a zone CP): every proxy of a type, each with its xDS `insight`, page by page. */
  async listInsights(d: AnyDescriptor, mesh?: string): Promise<WireResource[]> {
    const scopedMesh = d.scope === 'mesh' ? mesh : undefined;
    return this.listPages(WireResource, insightsPath(d, { mesh: scopedMesh }), `${describeList(d.plural, scopedMesh)} with insights`);
  }

  /** `GET /zones+insights` (the global CP): every zone with its online state and KDS sync, page by page. */
  async listZoneInsights(): Promise<ZoneOverview[]> {
    return this.listPages(ZoneOverview, ZONE_INSIGHTS_PATH, 'zones with insights');
  }

  /** `GET /zones+insights/{name}` (the global CP): one zone with its online state and KDS sync. */
  async getZoneInsight(name: string): Promise<ZoneOverview> {
    const url = this.url(`${ZONE_INSIGHTS_PATH}/${encodeURIComponent(name)}`);
    return this.decode(ZoneOverview, await this.send('GET', url, describeResource('Zone', name)), 'GET', url);
  }

  /** `GET …+insights/{name}` (a zone CP): one proxy with its xDS `insight`. */
  async getInsight(d: AnyDescriptor, name: string, mesh?: string): Promise<WireResource> {
    const scopedMesh = d.scope === 'mesh' ? mesh : undefined;
    const url = this.url(insightsPath(d, { name, mesh: scopedMesh }));
    return this.decode(WireResource, await this.send('GET', url, describeResource(d.kind, name, scopedMesh)), 'GET', url);
  }

  /** `GET …/{name}/xds` (a zone CP): the Envoy config dump the proxy is served; `types` restricts the sections. */
  async configDump(d: AnyDescriptor, name: string, mesh?: string, types: readonly string[] = []): Promise<Record<string, unknown>> {
    const scopedMesh = d.scope === 'mesh' ? mesh : undefined;
    const url = this.url(`${resourcePath(d, { name, mesh: scopedMesh })}/xds`);
    if (types.length > 0) url.searchParams.set('type', types.join(','));
    // No subject: a 404 here has details worth printing (no configuration computed yet, and why),
    // which the error renderer leaves out of a 404 about a named subject.
    const answer = await this.send('GET', url, undefined);
    return this.decode(ConfigDump, answer, 'GET', url);
  }

  /** `GET /meshes/{mesh}/dataplanes/{name}/_rules` (a zone CP): the dataplane's policy rules per type, with their origins. */
  async dataplaneRules(d: AnyDescriptor, name: string, mesh: string): Promise<DataplaneRules> {
    const url = this.url(`${resourcePath(d, { name, mesh })}/_rules`);
    // No subject, as for a config dump: a 404 says why (no such dataplane, rules not computed yet).
    return this.decode(DataplaneRules, await this.send('GET', url, undefined), 'GET', url);
  }

  /** `GET /meshes/{mesh}/meshgateways/_overview`: gateways, their listeners, attached routes and instances. */
  async gatewayOverview(mesh: string): Promise<MeshGatewaysOverview> {
    const url = this.url(`/meshes/${encodeURIComponent(mesh)}/meshgateways/_overview`);
    return this.decode(MeshGatewaysOverview, await this.send('GET', url, undefined), 'GET', url);
  }

  private async listPages<T>(item: z.ZodType<T>, path: string, subject: string): Promise<T[]> {
    const page = pageOf(item);
    const items: T[] = [];
    const seen = new Set<string>();
    let url: URL | undefined = this.url(path);
    while (url) {
      if (seen.has(url.href) || seen.size >= MAX_PAGES) {
        throw new ProtocolError(`the control plane at ${this.cpUrl} keeps answering the same page for ${subject} (${url.href})`);
      }
      seen.add(url.href);
      const answer: z.infer<typeof page> = this.decode(page, await this.send('GET', url, subject), 'GET', url);
      items.push(...answer.items);
      url = answer.next ? new URL(answer.next, url) : undefined;
    }
    return items;
  }

  /** Creates or replaces the resource at `key` with `body` (the resource as JSON, type and name included). */
  async put(d: AnyDescriptor, key: ResourceRef, body: Readonly<Record<string, unknown>>, options: WriteOptions = {}): Promise<PutResult> {
    const mesh = d.scope === 'mesh' ? key.mesh : undefined;
    const url = this.url(resourcePath(d, { name: key.name, mesh }));
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (options.ifMatch !== undefined) headers['if-match'] = `"${options.ifMatch}"`;
    const answer = await this.send('PUT', url, describeResource(d.kind, key.name, mesh), JSON.stringify(body), headers);
    return answer.status === 201 ? 'created' : 'updated';
  }

  async delete(d: AnyDescriptor, name: string, mesh?: string, options: WriteOptions = {}): Promise<void> {
    const scopedMesh = d.scope === 'mesh' ? mesh : undefined;
    const url = this.url(resourcePath(d, { name, mesh: scopedMesh }));
    const headers: Record<string, string> = {};
    if (options.ifMatch !== undefined) headers['if-match'] = `"${options.ifMatch}"`;
    await this.send('DELETE', url, describeResource(d.kind, name, scopedMesh), undefined, headers);
  }

  /** `POST /tokens/zone`: a zone token signed by the control plane (global, or a standalone zone). */
  async issueZoneToken(request: ZoneTokenRequest): Promise<string> {
    return this.issueToken('tokens/zone', `zone token for zone "${request.zone}"`, request);
  }

  /** `POST /tokens/dataplane`: asked of the zone CP the proxy will connect to. */
  async issueDataplaneToken(request: DataplaneTokenRequest): Promise<string> {
    return this.issueToken('tokens/dataplane', `dataplane token for "${request.mesh}.${request.name}"`, request);
  }

  /** `POST /tokens/user`: a user token of this control plane (the admin's right). */
  async issueUserToken(request: UserTokenRequest): Promise<string> {
    return this.issueToken('tokens/user', `user token for "${request.name}"`, request);
  }

  /** `POST /tokens/<kind>/revocations`: asked of whoever issued the token (global or a standalone zone for zone tokens, the zone for dataplane tokens). */
  async revokeToken(kind: RevocableTokenKind, id: string): Promise<RevocationAnswer> {
    const url = this.url(`tokens/${kind}/revocations`);
    const answer = await this.send('POST', url, `${kind} token ${id}`, JSON.stringify({ id }), { 'content-type': 'application/json' });
    return this.decode(RevocationAnswer, answer, 'POST', url);
  }

  /** `GET /tokens/<kind>/signing-keys`: the present serials, oldest first (no key material). */
  async listSigningKeys(kind: RotatableTokenKind): Promise<SigningKeyInfo[]> {
    const url = this.url(signingKeysPath(kind));
    return this.decode(SigningKeyList, await this.send('GET', url, `${kind} token signing keys`), 'GET', url).items;
  }

  /** `POST /tokens/<kind>/signing-keys`: adds the next serial, which signs new tokens from then on. */
  async addSigningKey(kind: RotatableTokenKind): Promise<SigningKeyInfo> {
    const url = this.url(signingKeysPath(kind));
    return this.decode(SigningKeyInfo, await this.send('POST', url, `a new ${kind} token signing key`), 'POST', url);
  }

  /** `DELETE /tokens/<kind>/signing-keys/{serial}`: its tokens are refused, and the streams they opened end. */
  async removeSigningKey(kind: RotatableTokenKind, serial: number): Promise<SigningKeyInfo> {
    const url = this.url(`${signingKeysPath(kind)}/${serial}`);
    return this.decode(SigningKeyInfo, await this.send('DELETE', url, `${kind} token signing key serial ${serial}`), 'DELETE', url);
  }

  private async issueToken(path: string, subject: string, request: object): Promise<string> {
    const url = this.url(path);
    const answer = await this.send('POST', url, subject, JSON.stringify(request), {
      'content-type': 'application/json',
      accept: 'text/plain',
    });
    const token = answer.text.trim();
    if (!JWT.test(token)) {
      const type = answer.headers.get('content-type') ?? 'no content type';
      throw new ProtocolError(`unexpected answer from ${this.cpUrl}: POST ${url.pathname} returned ${type} that is not a token. Is --cp pointing at a meshfed control plane?`);
    }
    return token;
  }

  private decode<T>(schema: z.ZodType<T>, answer: Answer, method: string, url: URL): T {
    let json: unknown;
    try {
      json = JSON.parse(answer.text);
    } catch {
      const type = answer.headers.get('content-type') ?? 'no content type';
      throw new ProtocolError(
        `unexpected answer from ${this.cpUrl}: ${method} ${url.pathname} returned ${type}, not JSON. Is --cp pointing at a meshfed control plane?`,
      );
    }
    const parsed = schema.safeParse(json);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      const where = issue && issue.path.length > 0 ? ` at ${issue.path.join('.')}` : '';
      throw new ProtocolError(`unexpected answer from ${this.cpUrl}: ${method} ${url.pathname}: ${issue?.message ?? 'invalid'}${where}`);
    }
    // The schemas only check (no defaults, no transforms), and zod's output lists known keys first;
    // the input keeps the control plane's key order, which `-o yaml` and `-o json` show as is.
    return json as T;
  }

  /** The connection's files read once, and the fetch that verifies as it asks. */
  private transport(): Promise<{ connection: Connection; fetch: typeof fetch }> {
    this.connected ??= this.connect().then(async (connection) => {
      const custom = this.base.protocol === 'https:' && (connection.caPem !== undefined || connection.skipVerify);
      return { connection, fetch: custom ? (await import('@meshfed/shared/https-fetch')).httpsFetch(connection) : this.fetch };
    });
    return this.connected;
  }

  private async send(method: string, url: URL, subject: string | undefined, body?: string, headers: Record<string, string> = {}): Promise<Answer> {
    const { connection, fetch } = await this.transport();
    const signal = AbortSignal.timeout(this.timeoutMs);
    let answer: Answer;
    try {
      const res = await fetch(url, {
        method,
        headers: {
          accept: 'application/json', 'user-agent': this.userAgent, ...headers,
          ...(connection.token !== undefined ? { authorization: `Bearer ${connection.token}` } : {}),
        },
        ...(body !== undefined ? { body } : {}),
        signal,
      });
      answer = { status: res.status, headers: res.headers, text: await res.text() };
    } catch (err) {
      if (signal.aborted) throw new TimeoutError(this.cpUrl, `${method} ${url.pathname}`, this.timeoutMs);
      throw tlsFailure(err, this.cpUrl, connection) ?? new UnreachableError(this.cpUrl, networkReason(err), { cause: err });
    }
    if (answer.status >= 400) throw plainHttpRefusal(answer.status, answer.text, this.cpUrl) ?? apiError(answer, subject);
    return answer;
  }
}

function apiError(answer: Answer, subject: string | undefined): ApiResponseError {
  let json: unknown;
  try {
    json = JSON.parse(answer.text);
  } catch {
    json = undefined;
  }
  const body = WireError.safeParse(json);
  if (body.success && (body.data.title !== undefined || body.data.details !== undefined)) {
    const { title, details, causes } = body.data;
    return new ApiResponseError(answer.status, title ?? `HTTP ${answer.status}`, details ?? '', causes ?? [], subject);
  }
  const text = answer.text.trim();
  const details = text.length > 300 ? `${text.slice(0, 300)}…` : text;
  return new ApiResponseError(answer.status, `HTTP ${answer.status}`, details, [], subject);
}

interface ErrnoLike {
  readonly code?: unknown;
  readonly syscall?: unknown;
  readonly message?: unknown;
  readonly errors?: unknown;
}

function errnoOf(e: unknown): ErrnoLike | undefined {
  return typeof e === 'object' && e !== null ? (e as ErrnoLike) : undefined;
}

/** `connect ECONNREFUSED`, `getaddrinfo ENOTFOUND`, …: what failed, from fetch's error and its causes. */
export function networkReason(err: unknown): string {
  const candidates: ErrnoLike[] = [];
  const outer = errnoOf(err);
  const cause = errnoOf(outer && 'cause' in outer ? (outer as { cause?: unknown }).cause : undefined);
  for (const c of [cause, outer]) {
    if (!c) continue;
    candidates.push(c);
    // Several addresses tried at once (localhost → ::1 and 127.0.0.1) fail as an AggregateError.
    if (Array.isArray(c.errors)) for (const inner of c.errors) if (errnoOf(inner)) candidates.push(errnoOf(inner)!);
  }
  const withSyscall = candidates.find((c) => typeof c.code === 'string' && typeof c.syscall === 'string');
  if (withSyscall) return `${String(withSyscall.syscall)} ${String(withSyscall.code)}`;
  const withCode = candidates.find((c) => typeof c.code === 'string');
  if (withCode) return String(withCode.code);
  const message = cause?.message ?? outer?.message;
  return typeof message === 'string' && message !== '' ? message : 'unknown network error';
}

/**
 * The client for a command: `--cp`, else MESHFED_CP, else the local default; with the TLS and token
 * flags (and their environment variables), checked now and their files read at the first request.
 */
export function clientFor(parsed: { readonly cp: string | undefined; readonly connection: ConnectionFlags }, io: Io, options: ClientOptions = {}): ControlPlaneClient {
  const cpUrl = resolveCpUrl(parsed.cp, io.env);
  const plan = planConnection(parsed.connection, io.env, cpUrl);
  return new ControlPlaneClient(cpUrl, { fetch: io.fetch, userAgent: `meshfed-ctl/${cliVersion()}`, connection: () => loadConnection(plan, (f) => io.readFile(f)), ...options });
}
