// The one proxy of `npm run bench -- gateway` as the zone CP sees it: a delta ADS stream
// (DeltaAggregatedResources) over node:http2 that behaves like Envoy's (CDS and LDS by wildcard, SDS for
// the mesh's two secrets, RDS for the route names it is told, EDS for the clusters it was sent, every
// response ACKed), keeping what it holds as a digest, with the arrival time and digest after each
// response since `arm`. It shares the bench's process: one stream is not a load on its own.
import { ADS_SERVICE, adsCodec, identityCertSecretName, meshCaSecretName, toStruct, XDS_TYPE_URL } from '@meshfed/shared';
import { decodeLeanDeltaResponse, encodeAck, HeldDigest } from './xds-client-wire.js';
import { type BidiStream, H2GrpcChannel } from './xds-h2-client.js';

const DELTA = ADS_SERVICE.DeltaAggregatedResources!.path;
const ENVOY_WINDOW_BYTES = 256 * 1024 * 1024;

export class DeltaStream {
  readonly #held = new Map<string, Map<string, number>>();
  readonly #digest = new HeldDigest();
  readonly #eds = new Set<string>();
  readonly #channel: H2GrpcChannel;
  readonly #call: BidiStream;
  #wake: (() => void) | undefined;
  /** Since `arm`: response bytes (without the gRPC prefix), responses, and the digest after each. */
  bytes = 0;
  frames = 0;
  history: { at: number; digest: string }[] = [];
  error: string | undefined;

  constructor(port: number, nodeId: string, mesh: string, routeNames: readonly string[]) {
    this.#channel = new H2GrpcChannel(`127.0.0.1:${port}`, ENVOY_WINDOW_BYTES);
    this.#call = this.#channel.open(DELTA, {
      onMessage: (m) => this.#onResponse(m),
      onError: (e) => {
        this.error ??= e.message;
        this.#wake?.();
      },
    });
    const node = { id: nodeId, metadata: toStruct({ proxyType: 'dataplane' }) };
    this.#call.write(adsCodec.encodeDeltaRequest({ node, type_url: XDS_TYPE_URL.cluster, resource_names_subscribe: ['*'] }));
    this.#call.write(adsCodec.encodeDeltaRequest({ type_url: XDS_TYPE_URL.listener, resource_names_subscribe: ['*'] }));
    if (routeNames.length > 0) this.#call.write(adsCodec.encodeDeltaRequest({ type_url: XDS_TYPE_URL.route, resource_names_subscribe: [...routeNames] }));
    this.#call.write(adsCodec.encodeDeltaRequest({ type_url: XDS_TYPE_URL.secret, resource_names_subscribe: [identityCertSecretName(mesh), meshCaSecretName(mesh)] }));
  }

  arm(): void {
    this.bytes = 0;
    this.frames = 0;
    this.history = [];
  }

  /**
   * The arrival time of the response after which the stream held `digest` without interruption, once it
   * does; 0 if it already did with nothing received since `arm`; undefined past `timeoutMs`.
   */
  async until(digest: string, timeoutMs: number): Promise<number | undefined> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      let i = this.history.length;
      while (i > 0 && this.history[i - 1]!.digest === digest) i--;
      if (i < this.history.length) return this.history[i]!.at;
      if (this.history.length === 0 && this.#digest.toString() === digest) return 0;
      const left = deadline - performance.now();
      if (left <= 0 || this.error) return undefined;
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.#wake = () => {
          clearTimeout(t);
          this.#wake = undefined;
          resolve();
        };
      });
    }
  }

  close(): void {
    this.#call.end();
    this.#channel.close();
  }

  #onResponse(frame: Buffer): void {
    const at = performance.now();
    this.bytes += frame.length;
    this.frames++;
    const r = decodeLeanDeltaResponse(frame);
    let held = this.#held.get(r.typeUrl);
    if (!held) this.#held.set(r.typeUrl, (held = new Map()));
    const added: string[] = [];
    for (const [name, version] of r.resources) {
      const prev = held.get(name);
      if (prev === undefined) added.push(name);
      else this.#digest.remove(prev);
      const h = HeldDigest.hash(r.typeUrl, name, version);
      held.set(name, h);
      this.#digest.add(h);
    }
    for (const name of r.removed) {
      const prev = held.get(name);
      if (prev === undefined) continue;
      this.#digest.remove(prev);
      held.delete(name);
    }
    // Like Envoy: the endpoints of new clusters are asked for (those of removed ones dropped), then the ACK.
    if (r.typeUrl === XDS_TYPE_URL.cluster) {
      const sub = added.filter((n) => !this.#eds.has(n));
      const unsub = r.removed.filter((n) => this.#eds.has(n));
      for (const n of sub) this.#eds.add(n);
      for (const n of unsub) this.#eds.delete(n);
      if (sub.length > 0 || unsub.length > 0) this.#call.write(adsCodec.encodeDeltaRequest({ type_url: XDS_TYPE_URL.endpoint, resource_names_subscribe: sub, resource_names_unsubscribe: unsub }));
    }
    this.#call.write(encodeAck(r.typeUrl, r.nonce));
    this.history.push({ at, digest: this.#digest.toString() });
    this.#wake?.();
  }
}
