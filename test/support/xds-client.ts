import { type ChannelCredentials, type ClientDuplexStream, credentials, Metadata } from '@grpc/grpc-js';
import {
  ADS_SERVICE, AdsClient, adsCodec, type Any, clientCredentials, type EnvoyObject, toStruct, unpack, XDS_KINDS, XDS_TYPE_URL, type XdsKind, xdsKindOf,
} from '@meshfed/shared';
import { cleanups } from './cleanup.js';
import type { RunningCp } from './processes.js';

/** Where a zone serves ADS and how to dial it: TLS trusting the zone's xDS CA, or plaintext. */
export interface XdsTarget {
  readonly address: string;
  readonly credentials: ChannelCredentials;
  /** The CA the zone serves at GET /xds-ca.crt; absent for a zone started with --xds-insecure. */
  readonly caPem?: string;
}

/** The ADS port a zone CP printed in its log. */
export function xdsPortOf(cp: RunningCp): number {
  const line = cp.logs().split('\n').find((l) => l.includes('"xDS: ADS server listening"'));
  if (!line) throw new Error(`the zone did not log its ADS port:\n${cp.logs()}`);
  return (JSON.parse(line) as { port: number }).port;
}

/**
 * How a proxy reaches a zone started by startCp (on 127.0.0.1): over TLS with the CA the zone serves
 * at GET /xds-ca.crt, the one its bootstraps embed; in plaintext only if the zone was told --xds-insecure.
 */
export async function xdsTargetOf(cp: RunningCp, port = xdsPortOf(cp)): Promise<XdsTarget> {
  const address = `127.0.0.1:${port}`;
  const res = await fetch(`${cp.url}/xds-ca.crt`);
  if (res.status === 404 && cp.logs().includes('xDS is served without TLS (--xds-insecure)')) return { address, credentials: credentials.createInsecure() };
  if (!res.ok) throw new Error(`GET /xds-ca.crt: ${res.status} ${await res.text()}`);
  const caPem = await res.text();
  return { address, credentials: clientCredentials({ caPem }), caPem };
}

/**
 * A test proxy speaking Envoy v3 delta ADS, as Envoy does with a DELTA_GRPC bootstrap: it subscribes
 * every type as a wildcard, keeps what it is sent, ACKs each response, and counts them. `waitFor`
 * waits (bounded) for its state to satisfy a check; nothing here polls the control plane. It is
 * registered for cleanup (closed after the file's tests) as it is made.
 */
export class XdsTestClient {
  readonly #client: AdsClient;
  readonly #call: ClientDuplexStream<Buffer, Buffer>;
  readonly #state = new Map<XdsKind, Map<string, Any>>(XDS_KINDS.map((k) => [k, new Map()]));
  readonly #waiters = new Set<() => void>();
  responses = 0;
  error: (Error & { code?: number; details?: string }) | undefined;
  ended = false;

  constructor(target: XdsTarget, nodeId: string, proxyType: 'dataplane' | 'ingress' | 'egress', token?: string) {
    this.#client = new AdsClient(target.address, target.credentials);
    cleanups.push(() => this.close());
    const md = new Metadata();
    if (token !== undefined) md.set('authorization', `Bearer ${token}`);
    this.#call = this.#client.makeBidiStreamRequest<Buffer, Buffer>(ADS_SERVICE.DeltaAggregatedResources!.path, (b) => b, (b) => b, md);
    this.#call.on('data', (frame: Buffer) => this.#onResponse(frame));
    this.#call.on('error', (e: Error) => {
      this.error = e;
      this.#wake();
    });
    this.#call.on('end', () => {
      this.ended = true;
      this.#wake();
    });
    const node = { id: nodeId, metadata: toStruct({ proxyType }) };
    for (const kind of XDS_KINDS) this.#call.write(adsCodec.encodeDeltaRequest({ node, type_url: XDS_TYPE_URL[kind] }));
  }

  #onResponse(frame: Buffer): void {
    const r = adsCodec.decodeDeltaResponse(frame);
    if (!r.ok) throw new Error(`undecodable response: ${r.error}`);
    const kind = xdsKindOf(r.value.type_url ?? '');
    if (!kind) return;
    const m = this.#state.get(kind)!;
    for (const res of r.value.resources ?? []) if (res.name && res.resource) m.set(res.name, res.resource);
    for (const name of r.value.removed_resources ?? []) m.delete(name);
    this.responses++;
    this.#call.write(adsCodec.encodeDeltaRequest({ type_url: r.value.type_url!, response_nonce: r.value.nonce! }));
    this.#wake();
  }

  #wake(): void {
    for (const w of [...this.#waiters]) w();
  }

  names(kind: XdsKind): string[] {
    return [...this.#state.get(kind)!.keys()].sort();
  }

  get(kind: XdsKind, name: string): EnvoyObject | undefined {
    const a = this.#state.get(kind)!.get(name);
    return a ? unpack(a) : undefined;
  }

  /** Resolves with check's value once it is defined; rejects after `ms` with what it last saw. */
  waitFor<T>(what: string, check: (c: XdsTestClient) => T | undefined | false, ms = 15_000): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const attempt = () => {
        if (this.error) return finish(() => reject(new Error(`stream failed while waiting for ${what}: ${this.error!.message}`)));
        let v: T | undefined | false;
        try {
          v = check(this);
        } catch (err) {
          return finish(() => reject(err as Error));
        }
        if (v !== undefined && v !== false) finish(() => resolve(v as T));
      };
      const timer = setTimeout(() => finish(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}; clusters: ${this.names('cluster').join(', ')}; listeners: ${this.names('listener').join(', ')}`))), ms);
      const finish = (f: () => void) => {
        clearTimeout(timer);
        this.#waiters.delete(attempt);
        f();
      };
      this.#waiters.add(attempt);
      attempt();
    });
  }

  /** The endpoints of a cluster's ClusterLoadAssignment as `address:port/weight@zone`, sorted. */
  endpoints(cluster: string): string[] | undefined {
    const cla = this.get('endpoint', cluster) as { endpoints?: { locality?: { zone?: string }; lb_endpoints?: { endpoint: { address: { socket_address: { address: string; port_value: number } } }; load_balancing_weight?: { value: number } }[] }[] } | undefined;
    if (!cla) return undefined;
    return (cla.endpoints ?? []).flatMap((l) => (l.lb_endpoints ?? []).map((e) =>
      `${e.endpoint.address.socket_address.address}:${e.endpoint.address.socket_address.port_value}/${e.load_balancing_weight?.value ?? 1}@${l.locality?.zone ?? ''}`)).sort();
  }

  close(): void {
    // Cleanup calls it too, also for a client whose constructor failed before it opened the stream.
    this.#call?.cancel();
    this.#client.close();
  }
}
