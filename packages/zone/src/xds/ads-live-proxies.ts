import type { AdsProtocol } from './proxy-insights.js';

/** The stream that holds a proxy id: who (the gRPC peer), since when, over which protocol. */
export interface LiveStream {
  readonly peer: string;
  readonly since: string;
  readonly protocol: AdsProtocol;
}

/**
 * Which proxy ids have a live stream, one stream per id: a second stream for an id already held is
 * refused rather than allowed to fight the first over the same configuration and insights.
 */
export class LiveProxies {
  readonly #byId = new Map<string, LiveStream>();

  /** Takes the id for a stream; when another stream holds it, says which and takes nothing. */
  claim(proxyId: string, stream: LiveStream): { ok: true; release: () => void } | { ok: false; holder: LiveStream } {
    const holder = this.#byId.get(proxyId);
    if (holder) return { ok: false, holder };
    this.#byId.set(proxyId, stream);
    // Only the claimant releases, and only its own claim.
    return { ok: true, release: () => void (this.#byId.get(proxyId) === stream && this.#byId.delete(proxyId)) };
  }

  get(proxyId: string): LiveStream | undefined {
    return this.#byId.get(proxyId);
  }

  ids(): string[] {
    return [...this.#byId.keys()];
  }

  get size(): number {
    return this.#byId.size;
  }
}
