const TWO_52 = 2 ** 52;
const HEX_DIGIT = Array.from({ length: 16 }, (_, i) => i.toString(16));
const HEX_BYTE = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

/** FNV-1a over UTF-16 code units: cheap, and good enough to name states (it is not a security hash). */
function fnv1a(s: string, seed: number): number {
  let h = seed;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

/** 52 bits from two differently seeded FNV-1a passes, so sums of them stay exact in a double. */
export function entryHash(key: string, version: string): number {
  const s = `${key}\u0000${version}`;
  return (fnv1a(s, 0x811c9dc5) & 0xfffff) * 2 ** 32 + fnv1a(s, 0x050c5d1f);
}

/**
 * An order-independent hash of a set of (key, version) pairs, updated one pair at a time, so a sync
 * can name the state it brings a peer to without re-hashing ten thousand entries on every push.
 */
export class StateHash {
  #sum = 0;

  add(key: string, version: string): void {
    this.#sum = (this.#sum + entryHash(key, version)) % TWO_52;
  }

  remove(key: string, version: string): void {
    this.#sum = (this.#sum - entryHash(key, version) + TWO_52) % TWO_52;
  }

  /** add(key, version) given entryHash(key, version), computed once by the caller and reused. */
  addHash(h: number): void {
    this.#sum = (this.#sum + h) % TWO_52;
  }

  /** remove(key, version) given entryHash(key, version). */
  removeHash(h: number): void {
    this.#sum = (this.#sum - h + TWO_52) % TWO_52;
  }

  clone(): StateHash {
    const h = new StateHash();
    h.#sum = this.#sum;
    return h;
  }

  /** 13 hex digits (52 bits); by table, as Number#toString(16) of a 52-bit double is slow and this runs per response. */
  toString(): string {
    const sum = this.#sum;
    const hi = Math.floor(sum / 2 ** 32);
    const lo = sum - hi * 2 ** 32;
    return HEX_DIGIT[(hi >>> 16) & 0xf]! + HEX_BYTE[(hi >>> 8) & 0xff]! + HEX_BYTE[hi & 0xff]!
      + HEX_BYTE[(lo >>> 24) & 0xff]! + HEX_BYTE[(lo >>> 16) & 0xff]! + HEX_BYTE[(lo >>> 8) & 0xff]! + HEX_BYTE[lo & 0xff]!;
  }
}
