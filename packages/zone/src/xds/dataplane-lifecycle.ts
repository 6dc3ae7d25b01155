import { status } from '@grpc/grpc-js';
import {
  ApiError, type Cause, DataplaneDescriptor, type JsonObject, type Logger, NODE_METADATA, NotFoundError, parseDataplaneNodeId,
  MAX_PAGE_SIZE, parseResource, type Resource, type ResourceKey, type ResourceStore, STREAM_REGISTERED_LABEL, VersionConflictError,
} from '@meshfed/shared';
import { isDeepStrictEqual } from 'node:util';
import type { Authenticate, AuthResult, ProxyIdentity } from './auth.js';
import type { ProxyInsights } from './proxy-insights.js';

const FIELD = `node.metadata["${NODE_METADATA.dataplaneResource}"]`;
// Enough to fix a resource in one go without letting a garbage resource write a novel into the status.
const MAX_CAUSES_SAID = 5;

/**
 * The Dataplane a proxy registers for its stream's life (Kuma's dataplane lifecycle for universal
 * kuma-dp): `node.metadata["dataplane.resource"]`, a JSON string of the resource as its YAML, checked
 * with the schema a REST PUT uses and bound to the node id. Undefined when the proxy sent none (its
 * Dataplane is applied through the API instead); an error sentence naming the field(s) when unusable.
 */
export function dataplaneOfNode(nodeId: string, metadata: JsonObject): { dataplane: Resource | undefined } | { error: string } {
  const raw = metadata[NODE_METADATA.dataplaneResource];
  if (raw === undefined || raw === null) return { dataplane: undefined };
  if (typeof raw !== 'string') return { error: `${FIELD} must be a JSON string of the Dataplane, got ${Array.isArray(raw) ? 'an array' : typeof raw}` };
  let body: unknown;
  try {
    body = JSON.parse(raw);
  } catch (err) {
    return { error: `${FIELD} is not valid JSON: ${(err as Error).message}` };
  }
  const given = (body as { type?: unknown } | null)?.type;
  if (typeof body === 'object' && body !== null && given !== undefined && given !== DataplaneDescriptor.kind) {
    return { error: `${FIELD} type must be "Dataplane", got ${JSON.stringify(given)}` };
  }
  let dataplane: Resource;
  try {
    dataplane = parseResource(body, { descriptor: DataplaneDescriptor });
  } catch (err) {
    if (err instanceof ApiError) return { error: `${FIELD} is not a valid Dataplane: ${describeCauses(err)}` };
    throw err;
  }
  const id = parseDataplaneNodeId(nodeId);
  const mismatched = [
    ...(id?.mesh !== dataplane.mesh ? [`mesh "${dataplane.mesh ?? ''}"`] : []),
    ...(id?.name !== dataplane.name ? [`name "${dataplane.name}"`] : []),
  ];
  if (mismatched.length > 0) {
    return { error: `${FIELD} ${mismatched.join(' and ')} do${mismatched.length === 1 ? 'es' : ''} not match node.id "${nodeId}": a proxy registers only the Dataplane <mesh>.<name> it is` };
  }
  return { dataplane };
}

function describeCauses(err: ApiError): string {
  if (err.causes.length === 0) return err.details;
  const said = err.causes.slice(0, MAX_CAUSES_SAID).map((c: Cause) => (c.field ? `${c.field}: ${c.message}` : c.message));
  const more = err.causes.length - said.length;
  return `${said.join('; ')}${more > 0 ? ` (and ${more} more)` : ''}`;
}

export interface DataplaneLifecycleOptions {
  readonly store: ResourceStore;
  readonly log: Logger;
  readonly zone: string;
  /** What the zone adds to a locally created resource (its REST PUT's `prepare`: labels on a federated zone). */
  readonly prepare?: (resource: Resource) => Resource;
  /** The proxies' insights, once the xDS service is up: where a failed registration is shown. */
  readonly insights?: () => ProxyInsights | undefined;
}

/**
 * How long a Dataplane outlives the stream that registered it: a proxy that redials (its agent's
 * stream broke, a zone CP replica went away) keeps its endpoint in every peer's configuration instead
 * of flapping it out and back, and global is not sent a delete and a create. Kuma waits likewise.
 */
export const DEREGISTRATION_DELAY_MS = 10_000;

/**
 * After a zone CP starts, how much longer than the deregistration delay a Dataplane registered by a
 * stream waits for its proxy to come back: agents redial with backoff (up to 5 s) and every one of them
 * is authenticated again, all at once.
 */
export const RESTART_GRACE_MS = 30_000;

/** One Dataplane's registration: its steps in order, whatever stream they come from. */
interface Registration {
  chain: Promise<void>;
  /** The version the latest stream wrote or found identical; deregistration deletes only that one. */
  version?: string;
  /** The stream that holds it now (a newer stream for the same Dataplane takes it over). */
  holder?: object;
  /** A deregistration waiting out DEREGISTRATION_DELAY_MS. */
  timer?: NodeJS.Timeout;
}

/**
 * Registers the Dataplane a proxy brings while its stream lives: upserted once the stream is
 * admitted, deleted DEREGISTRATION_DELAY_MS after the last stream for it ends unless one reopens, and
 * only if it is still the version a stream wrote (a later registration or an operator's PUT is left
 * alone). Steps for one Dataplane run in order across streams. Store failures are logged and shown on
 * the proxy's insight; they never end the stream. On shutdown nothing is deleted: proxies come back.
 */
export class DataplaneLifecycle {
  readonly #o: DataplaneLifecycleOptions;
  readonly #delayMs: number;
  readonly #pending = new Set<Promise<void>>();
  /** By resource key; an entry leaves once its Dataplane is deregistered or taken over by nobody. */
  readonly #registrations = new Map<string, Registration>();
  #stopping = false;

  readonly #restartGraceMs: number;

  constructor(options: DataplaneLifecycleOptions & { readonly deregistrationDelayMs?: number; readonly restartGraceMs?: number }) {
    this.#o = options;
    this.#delayMs = options.deregistrationDelayMs ?? DEREGISTRATION_DELAY_MS;
    this.#restartGraceMs = options.restartGraceMs ?? RESTART_GRACE_MS;
  }

  /**
   * At start: every Dataplane a stream registered before this process ran is deregistered unless its
   * proxy reconnects within the delay and RESTART_GRACE_MS, so a proxy that died while the zone was
   * down does not stay an endpoint for ever. Returns how many wait for their proxy.
   */
  async start(): Promise<number> {
    const { store } = this.#o;
    let waiting = 0;
    for (let offset: number | undefined = 0; offset !== undefined;) {
      const page: Awaited<ReturnType<ResourceStore['list']>> = await store.list('Dataplane', { limit: MAX_PAGE_SIZE, offset });
      for (const d of page.items) {
        if (d.labels[STREAM_REGISTERED_LABEL.key] !== STREAM_REGISTERED_LABEL.value) continue;
        const key: ResourceKey = { type: d.type, name: d.name, ...(d.mesh !== undefined ? { mesh: d.mesh } : {}) };
        const id = registrationId(key);
        if (this.#registrations.has(id)) continue; // its proxy is already back
        const r: Registration = { chain: Promise.resolve(), version: d.version };
        this.#registrations.set(id, r);
        r.timer = setTimeout(() => this.#deregister(id, key, r, { mesh: d.mesh, name: d.name, zone: this.#o.zone }), this.#delayMs + this.#restartGraceMs);
        r.timer.unref();
        waiting++;
      }
      offset = page.next;
    }
    if (waiting > 0) this.#o.log.info({ zone: this.#o.zone, dataplanes: waiting, withinMs: this.#delayMs + this.#restartGraceMs }, 'xDS: dataplanes registered by their proxies wait for them to reconnect');
    return waiting;
  }

  /** Wraps an authenticator: an admitted dataplane that brought its resource registers it for the stream's life. */
  admitting(inner: Authenticate): Authenticate {
    return async (metadata, node): Promise<AuthResult> => {
      const result = await inner(metadata, node);
      if (!result.ok || node.proxyType !== 'dataplane' || !node.dataplane) return result;
      return { ...result, lifecycle: this.#stream(result.proxyId, node) };
    };
  }

  /** Stops registering and deregistering (the zone CP is stopping); waits for writes under way. */
  async stop(): Promise<void> {
    this.#stopping = true;
    for (const r of this.#registrations.values()) clearTimeout(r.timer);
    await this.idle();
  }

  /** Resolves once the registrations and deregistrations under way (not those still waiting out the delay) are done. */
  async idle(): Promise<void> {
    while (this.#pending.size > 0) await Promise.allSettled([...this.#pending]);
  }

  #stream(proxyId: string, node: ProxyIdentity): { opened(): void; closed(): void } {
    const { store, log, zone } = this.#o;
    const prepared = this.#o.prepare ? this.#o.prepare(node.dataplane!) : node.dataplane!;
    const resource: Resource = { ...prepared, labels: { ...prepared.labels, [STREAM_REGISTERED_LABEL.key]: STREAM_REGISTERED_LABEL.value } };
    const key: ResourceKey = { type: resource.type, name: resource.name, ...(resource.mesh !== undefined ? { mesh: resource.mesh } : {}) };
    const id = registrationId(key);
    const where = { proxyId, mesh: resource.mesh, name: resource.name, zone };
    const stream = {};
    const registration = () => {
      let r = this.#registrations.get(id);
      if (!r) this.#registrations.set(id, (r = { chain: Promise.resolve() }));
      return r;
    };
    const then = (r: Registration, step: () => Promise<void>) => this.#then(r, step, where);
    return {
      opened: () => {
        const r = registration();
        clearTimeout(r.timer);
        r.timer = undefined;
        r.holder = stream;
        then(r, async () => {
          if (this.#stopping || r.holder !== stream) return;
          try {
            const existing = await store.get(key);
            // A proxy that reconnects with what is stored writes nothing: no change event, no new snapshot.
            if (existing && isDeepStrictEqual(existing.spec, resource.spec) && isDeepStrictEqual(existing.labels, resource.labels)) r.version = existing.version;
            else r.version = (await store.commit([{ op: 'put', resource }])).written[0]!.version;
            log.info({ ...where, version: r.version }, 'xDS: registered dataplane');
          } catch (err) {
            const message = err instanceof Error ? err.message : String(err);
            log.error({ err, ...where }, 'xDS: could not register the dataplane a proxy brought');
            this.#o.insights?.()?.setProblem(proxyId, `its Dataplane could not be registered: ${message}`);
          }
        });
      },
      closed: () => {
        const r = this.#registrations.get(id);
        // Another stream took the Dataplane over: its own close decides.
        if (!r || r.holder !== stream || this.#stopping) return;
        r.holder = undefined;
        if (this.#delayMs <= 0) return this.#deregister(id, key, r, where);
        r.timer = setTimeout(() => this.#deregister(id, key, r, where), this.#delayMs);
        // The CP may stop before the delay ends; nothing else waits on it.
        r.timer.unref();
      },
    };
  }

  #then(r: Registration, step: () => Promise<void>, where: Record<string, unknown>): void {
    const p = r.chain.then(step).catch((err: unknown) => this.#o.log.error({ err, ...where }, 'xDS: the dataplane lifecycle of a stream failed'));
    r.chain = p;
    this.#pending.add(p);
    void p.finally(() => this.#pending.delete(p));
  }

  /** Deletes the Dataplane if nobody took it over meanwhile and it is still the version a stream wrote. */
  #deregister(id: string, key: ResourceKey, r: Registration, where: Record<string, unknown>): void {
    const { store, log } = this.#o;
    this.#then(r, async () => {
      // Reopened meanwhile, or the CP is stopping: keep it.
      if (this.#stopping || r.holder !== undefined) return;
      this.#registrations.delete(id);
      if (r.version === undefined) return;
      try {
        await store.commit([{ op: 'delete', key, expectedVersion: r.version }]);
        log.info({ ...where, version: r.version }, 'xDS: deregistered dataplane');
      } catch (err) {
        if (err instanceof VersionConflictError || err instanceof NotFoundError) {
          log.info({ ...where, version: r.version }, 'xDS: left the dataplane in place: it was changed or removed since its stream registered it');
        } else log.error({ err, ...where }, 'xDS: could not deregister the dataplane of a closed stream');
      }
    }, where);
  }
}

const registrationId = (key: ResourceKey) => `${key.mesh ?? ''}/${key.name}`;
