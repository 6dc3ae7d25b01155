import { status } from '@grpc/grpc-js';
import {
  ApiError, type Cause, DataplaneDescriptor, type JsonObject, type Logger, NODE_METADATA, NotFoundError, parseDataplaneNodeId,
  parseResource, type Resource, type ResourceKey, type ResourceStore, VersionConflictError,
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
 * Registers the Dataplane a proxy brings while its stream lives: upserted once the stream is
 * admitted, deleted when that stream ends, but only if it is still the version this stream wrote (a
 * later registration or an operator's PUT is left alone). Store failures are logged and shown on the
 * proxy's insight; they never end the stream. On shutdown nothing is deleted: proxies come back.
 */
export class DataplaneLifecycle {
  readonly #o: DataplaneLifecycleOptions;
  readonly #pending = new Set<Promise<void>>();
  #stopping = false;

  constructor(options: DataplaneLifecycleOptions) {
    this.#o = options;
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
    await this.idle();
  }

  /** Resolves once the registrations and deregistrations under way are done. */
  async idle(): Promise<void> {
    while (this.#pending.size > 0) await Promise.allSettled([...this.#pending]);
  }

  #stream(proxyId: string, node: ProxyIdentity): { opened(): void; closed(): void } {
    const { store, log, zone } = this.#o;
    const resource = this.#o.prepare ? this.#o.prepare(node.dataplane!) : node.dataplane!;
    const key: ResourceKey = { type: resource.type, name: resource.name, ...(resource.mesh !== undefined ? { mesh: resource.mesh } : {}) };
    const where = { proxyId, mesh: resource.mesh, name: resource.name, zone };
    // The version this stream wrote or found identical; deregistration deletes only that one.
    let version: string | undefined;
    let chain: Promise<void> = Promise.resolve();
    const then = (step: () => Promise<void>) => {
      const p = chain.then(step).catch((err: unknown) => log.error({ err, ...where }, 'xDS: the dataplane lifecycle of a stream failed'));
      chain = p;
      this.#pending.add(p);
      void p.finally(() => this.#pending.delete(p));
    };
    return {
      opened: () => then(async () => {
        if (this.#stopping) return;
        try {
          const existing = await store.get(key);
          // A proxy that reconnects with what is stored writes nothing: no change event, no new snapshot.
          if (existing && isDeepStrictEqual(existing.spec, resource.spec) && isDeepStrictEqual(existing.labels, resource.labels)) version = existing.version;
          else version = (await store.commit([{ op: 'put', resource }])).written[0]!.version;
          log.info({ ...where, version }, 'xDS: registered dataplane');
        } catch (err) {
          const message = err instanceof Error ? err.message : String(err);
          log.error({ err, ...where }, 'xDS: could not register the dataplane a proxy brought');
          this.#o.insights?.()?.setProblem(proxyId, `its Dataplane could not be registered: ${message}`);
        }
      }),
      closed: () => then(async () => {
        if (this.#stopping || version === undefined) return;
        try {
          await store.commit([{ op: 'delete', key, expectedVersion: version }]);
          log.info({ ...where, version }, 'xDS: deregistered dataplane');
        } catch (err) {
          if (err instanceof VersionConflictError || err instanceof NotFoundError) {
            log.info({ ...where, version }, 'xDS: left the dataplane in place: it was changed or removed since this stream registered it');
          } else log.error({ err, ...where }, 'xDS: could not deregister the dataplane of a closed stream');
        }
      }),
    };
  }
}
