import { type AdsDiscoveryRequest, type AdsDiscoveryResponse, type EnvoyNode, XDS_TYPE_URL } from '@meshfed/shared';

/** The app's side of the relay: its one local ADS stream, while it is connected. */
export interface AppSink {
  /** The zone's response frame, passed through as received. */
  write(frame: Buffer): void;
}

export interface AdsRelayOptions {
  /** The agent's node: sent on the first request of every upstream stream, never the app's. */
  readonly node: EnvoyNode;
  /** The SDS secrets the agent itself subscribes to (the mesh's identity and CA). */
  readonly secretNames: readonly string[];
}

/** google.rpc.Code INVALID_ARGUMENT: what a NACK's error_detail carries. */
const INVALID_ARGUMENT = 3;

/**
 * One upstream SotW stream shared by the agent and the app, as a plain value: frames in, requests out,
 * no I/O. Secrets belong to the agent; every other type to the app. The app's latest request per type
 * is kept so that a new upstream stream (zone restart) asks for the same again, and so that the agent
 * can ACK the app's types itself while no app is connected — the zone then never waits on anyone.
 */
export class AdsRelay {
  readonly #o: AdsRelayOptions;
  /** The app's latest request per type URL, node removed: what a new upstream stream replays. */
  readonly #appRequests = new Map<string, AdsDiscoveryRequest>();
  /**
   * The last nonce the current upstream stream sent per type URL. The zone numbers each stream's
   * responses from 1, so an app's answer to the old stream could carry a nonce the new one also used.
   */
  readonly #issued = new Map<string, string>();
  /** Responses passed to the app that it has not answered yet, per type URL (version, nonce). */
  readonly #unanswered = new Map<string, { readonly version: string; readonly nonce: string }>();
  /** The last secret response the agent accepted: its version is what a NACK reports as held. */
  #secretVersion = '';
  #app: AppSink | undefined;
  #upstreamOpen = false;

  constructor(options: AdsRelayOptions) {
    this.#o = options;
  }

  get appConnected(): boolean {
    return this.#app !== undefined;
  }

  /** A new upstream stream: the node with the agent's subscription first, then the app's, replayed. */
  upstreamOpened(): AdsDiscoveryRequest[] {
    this.#upstreamOpen = true;
    // Nonces belonged to the old stream: nothing the app holds is awaited on the new one.
    this.#unanswered.clear();
    this.#issued.clear();
    const out: AdsDiscoveryRequest[] = [{ node: this.#o.node, type_url: XDS_TYPE_URL.secret, resource_names: [...this.#o.secretNames] }];
    for (const req of this.#appRequests.values()) out.push({ type_url: req.type_url ?? '', resource_names: req.resource_names ?? [] });
    return out;
  }

  upstreamClosed(): void {
    this.#upstreamOpen = false;
    this.#unanswered.clear();
    this.#issued.clear();
  }

  /**
   * A response from the zone. A secret is the agent's (`kind: 'secret'`, answered by `secretHandled`);
   * another type goes to the app when one is connected, else the agent ACKs it in the app's place.
   */
  upstreamResponse(res: AdsDiscoveryResponse, frame: Buffer): { kind: 'secret' } | { kind: 'to-app' } | { kind: 'ack'; request: AdsDiscoveryRequest } {
    const typeUrl = res.type_url ?? '';
    if (typeUrl === XDS_TYPE_URL.secret) return { kind: 'secret' };
    this.#issued.set(typeUrl, res.nonce ?? '');
    if (this.#app) {
      this.#unanswered.set(typeUrl, { version: res.version_info ?? '', nonce: res.nonce ?? '' });
      this.#app.write(frame);
      return { kind: 'to-app' };
    }
    return { kind: 'ack', request: this.#ackInAppsPlace(typeUrl, res.version_info ?? '', res.nonce ?? '') };
  }

  /** The agent's answer to a secret response: an ACK, or a NACK saying why it could not use it. */
  secretHandled(res: AdsDiscoveryResponse, error?: string): AdsDiscoveryRequest {
    const base = { type_url: XDS_TYPE_URL.secret, resource_names: [...this.#o.secretNames], response_nonce: res.nonce ?? '' };
    if (error !== undefined) return { ...base, version_info: this.#secretVersion, error_detail: { code: INVALID_ARGUMENT, message: error } };
    this.#secretVersion = res.version_info ?? '';
    return { ...base, version_info: this.#secretVersion };
  }

  /**
   * A request from the app: kept as its latest for the type, and returned, node removed, to send
   * upstream (undefined while no upstream stream is open: the next one replays it).
   */
  appRequest(req: AdsDiscoveryRequest): AdsDiscoveryRequest | undefined {
    const { node: _node, ...given } = req;
    const typeUrl = given.type_url ?? '';
    if (typeUrl === XDS_TYPE_URL.secret) return undefined; // the agent's type: not the app's to steer
    // An answer to a response of an older upstream stream: only its subscription still means something.
    const stale = (given.response_nonce ?? '') !== '' && this.#issued.get(typeUrl) !== given.response_nonce;
    const rest: AdsDiscoveryRequest = stale ? { type_url: typeUrl, resource_names: given.resource_names ?? [] } : given;
    this.#appRequests.set(typeUrl, rest);
    if (this.#unanswered.get(typeUrl)?.nonce === (rest.response_nonce ?? '')) this.#unanswered.delete(typeUrl);
    return this.#upstreamOpen ? rest : undefined;
  }

  /** Refused (a second app stream) or accepted: at most one app stream at a time. */
  appOpened(sink: AppSink): boolean {
    if (this.#app) return false;
    this.#app = sink;
    return true;
  }

  /**
   * The app's stream ended. What it was sent and had not answered yet is ACKed for it, so the zone's
   * stall timer does not end the shared stream (and deregister the workload) because an app restarted
   * mid-push; its next stream asks with empty nonces and is answered at once.
   */
  appClosed(sink: AppSink): AdsDiscoveryRequest[] {
    if (this.#app !== sink) return [];
    this.#app = undefined;
    const out = [...this.#unanswered].map(([typeUrl, r]) => this.#ackInAppsPlace(typeUrl, r.version, r.nonce));
    this.#unanswered.clear();
    return this.#upstreamOpen ? out : [];
  }

  #ackInAppsPlace(typeUrl: string, version: string, nonce: string): AdsDiscoveryRequest {
    return { type_url: typeUrl, version_info: version, response_nonce: nonce, resource_names: this.#appRequests.get(typeUrl)?.resource_names ?? [] };
  }
}
