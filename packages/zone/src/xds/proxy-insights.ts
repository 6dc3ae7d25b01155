import type { XdsKind } from '@meshfed/shared';

export type AdsProtocol = 'sotw' | 'delta';

/** One proxy's sync state for one xDS type. */
export interface TypeInsight {
  lastSent?: { version: string; nonce: string; at: string; resources: number };
  lastAcked?: { version: string; nonce: string; at: string };
  lastNack?: { version: string; nonce: string; at: string; error: string };
  /** A response left un-answered (neither ACK nor NACK) past the ACK timeout: the stream was restarted. */
  lastStall?: { at: string; unansweredMs: number };
  acks: number;
  nacks: number;
  stalls: number;
}

export interface ProxyInsight {
  readonly proxyId: string;
  proxyType: string;
  protocol: AdsProtocol;
  connected: boolean;
  connectedAt: string;
  disconnectedAt?: string;
  /** Why the control plane ended the last stream (a revoked token, a stall), when it did. */
  disconnectReason?: string;
  /** Streams this proxy opened since the control plane started. */
  streams: number;
  /** Second streams refused while this proxy already had a live one (a duplicate node id, or a reconnect racing a dead stream). */
  refusedDuplicates: number;
  lastRefusedDuplicate?: { at: string; peer: string };
  /** Why the proxy gets no (or partial) configuration, set by the generator side; kept across reconnects. */
  problem?: string;
  readonly types: Partial<Record<XdsKind, TypeInsight>>;
}

/**
 * What each proxy was sent and what it answered, per type: in memory, for the inspect API. A NACK is
 * kept with its error until a later ACK of a newer version (it stays as lastNack for the record).
 */
export class ProxyInsights {
  readonly #proxies = new Map<string, ProxyInsight>();
  /** Without an injected clock: the ISO time, formatted once per millisecond (every response and ACK records one). */
  readonly #iso: () => string;

  constructor(now?: () => Date) {
    if (now) this.#iso = () => now().toISOString();
    else {
      let lastMs = -1;
      let last = '';
      this.#iso = () => {
        const ms = Date.now();
        if (ms !== lastMs) {
          lastMs = ms;
          last = new Date(ms).toISOString();
        }
        return last;
      };
    }
  }

  connected(proxyId: string, proxyType: string, protocol: AdsProtocol): void {
    const at = this.#iso();
    const p = this.#proxies.get(proxyId);
    if (p) {
      Object.assign(p, { proxyType, protocol, connected: true, connectedAt: at, streams: p.streams + 1 });
      delete p.disconnectedAt;
      delete p.disconnectReason;
    } else {
      this.#proxies.set(proxyId, { proxyId, proxyType, protocol, connected: true, connectedAt: at, streams: 1, refusedDuplicates: 0, types: {} });
    }
  }

  /** `reason`: why the control plane ended the stream; absent when the proxy closed it. */
  disconnected(proxyId: string, reason?: string): void {
    const p = this.#proxies.get(proxyId);
    if (!p) return;
    p.connected = false;
    p.disconnectedAt = this.#iso();
    if (reason !== undefined) p.disconnectReason = reason;
  }

  sent(proxyId: string, type: XdsKind, info: { version: string; nonce: string; resources: number }): void {
    const t = this.#type(proxyId, type);
    if (!t) return;
    // Updated in place (get and list hand out clones): one object less per response of a push to thousands.
    const l = t.lastSent;
    if (l) {
      l.version = info.version;
      l.nonce = info.nonce;
      l.at = this.#iso();
      l.resources = info.resources;
    } else t.lastSent = { version: info.version, nonce: info.nonce, at: this.#iso(), resources: info.resources };
  }

  acked(proxyId: string, type: XdsKind, info: { version: string; nonce: string }): void {
    const t = this.#type(proxyId, type);
    if (!t) return;
    const l = t.lastAcked;
    if (l) {
      l.version = info.version;
      l.nonce = info.nonce;
      l.at = this.#iso();
    } else t.lastAcked = { version: info.version, nonce: info.nonce, at: this.#iso() };
    t.acks++;
  }

  nacked(proxyId: string, type: XdsKind, info: { version: string; nonce: string; error: string }): void {
    const t = this.#type(proxyId, type);
    if (!t) return;
    t.lastNack = { ...info, at: this.#iso() };
    t.nacks++;
  }

  /** A response of `type` went un-answered past the ACK timeout (the stream is then restarted). */
  stalled(proxyId: string, type: XdsKind, info: { unansweredMs: number }): void {
    const t = this.#type(proxyId, type);
    if (!t) return;
    t.lastStall = { at: this.#iso(), unansweredMs: info.unansweredMs };
    t.stalls++;
  }

  /** A second stream for a proxy with a live one was refused; `peer` is the refused stream's address. */
  refusedDuplicate(proxyId: string, peer: string): void {
    const p = this.#proxies.get(proxyId);
    if (!p) return;
    p.refusedDuplicates++;
    p.lastRefusedDuplicate = { at: this.#iso(), peer };
  }

  /**
   * Sets (or clears, with undefined) why the proxy gets no configuration, e.g. its Dataplane is not
   * registered yet. Returns false for a proxy never seen: call it once the proxy has connected.
   */
  setProblem(proxyId: string, problem: string | undefined): boolean {
    const p = this.#proxies.get(proxyId);
    if (!p) return false;
    if (problem === undefined) delete p.problem;
    else p.problem = problem;
    return true;
  }

  get(proxyId: string): ProxyInsight | undefined {
    const p = this.#proxies.get(proxyId);
    return p ? structuredClone(p) : undefined;
  }

  list(): ProxyInsight[] {
    return [...this.#proxies.values()].map((p) => structuredClone(p));
  }

  /** Forgets a proxy gone for good. */
  forget(proxyId: string): boolean {
    return this.#proxies.delete(proxyId);
  }

  #type(proxyId: string, type: XdsKind): TypeInsight | undefined {
    const p = this.#proxies.get(proxyId);
    if (!p) return undefined;
    return (p.types[type] ??= { acks: 0, nacks: 0, stalls: 0 });
  }
}
