/** What authenticated a long-lived stream: enough to end it when that credential stops being valid. */
export interface StreamCredential {
  /** Which kind of token: its revocation list and signing keys are that kind's. */
  readonly kind: 'zone' | 'dataplane' | 'user';
  /** The token's `jti`. */
  readonly id: string;
  /** The id of the key that signed it (the JWT header's `kid`). */
  readonly kid: string;
}

interface Watch {
  readonly credential: StreamCredential;
  readonly end: (reason: string) => void;
}

interface Ending {
  readonly at: number;
  readonly match: (c: StreamCredential) => boolean;
  readonly reason: string;
}

/**
 * A stream's credential is checked before the stream is watched, and there are awaits in between (a
 * store read on KDS): an `endMatching` in that gap would miss it. Endings are remembered this long,
 * and a stream watched after one that matches it is ended as if it had been open.
 */
const REMEMBER_ENDINGS_MS = 10_000;
const MAX_REMEMBERED_ENDINGS = 1000;

/**
 * The open streams of a control plane (KDS from zones, ADS from proxies) by the credential that opened
 * them, so that revoking a token or removing a signing key ends them at once instead of at their next
 * reconnect. Bounded by the streams themselves: a stream removes its watch when it closes.
 */
export class StreamGuard {
  private readonly watches = new Set<Watch>();
  private recent: Ending[] = [];

  constructor(private readonly now: () => number = Date.now) {}

  /** Registers an open stream; `end` is called at most once. Answers the function that unregisters it. */
  watch(credential: StreamCredential, end: (reason: string) => void): () => void {
    let ended = false;
    const w: Watch = {
      credential,
      end: (reason) => {
        if (ended) return;
        ended = true;
        this.watches.delete(w);
        end(reason);
      },
    };
    this.watches.add(w);
    const late = this.recentEnding(credential);
    // Deferred, so that the caller holds the unregister function before its stream ends.
    if (late !== undefined) queueMicrotask(() => w.end(late));
    return () => {
      ended = true;
      this.watches.delete(w);
    };
  }

  /** Ends every open stream whose credential matches, with `reason`; answers how many. */
  endMatching(match: (c: StreamCredential) => boolean, reason: string): number {
    const hit = [...this.watches].filter((w) => match(w.credential));
    this.recent.push({ at: this.now(), match, reason });
    if (this.recent.length > MAX_REMEMBERED_ENDINGS) this.recent.shift();
    for (const w of hit) w.end(reason);
    return hit.length;
  }

  private recentEnding(credential: StreamCredential): string | undefined {
    const since = this.now() - REMEMBER_ENDINGS_MS;
    this.recent = this.recent.filter((e) => e.at >= since);
    return this.recent.find((e) => e.match(credential))?.reason;
  }

  get size(): number {
    return this.watches.size;
  }
}
