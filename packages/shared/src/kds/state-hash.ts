import { createHash } from 'node:crypto';

const MOD = 1n << 60n;

function entryHash(key: string, version: string): bigint {
  return BigInt(`0x${createHash('sha1').update(key).update('\u0000').update(version).digest('hex').slice(0, 15)}`);
}

/**
 * An order-independent hash of a set of (key, version) pairs, updated one pair at a time, so a sync
 * can name the state it brings a peer to without re-hashing ten thousand entries on every push.
 */
export class StateHash {
  #sum = 0n;

  add(key: string, version: string): void {
    this.#sum = (this.#sum + entryHash(key, version)) % MOD;
  }

  remove(key: string, version: string): void {
    this.#sum = (this.#sum - entryHash(key, version) + MOD) % MOD;
  }

  clone(): StateHash {
    const h = new StateHash();
    h.#sum = this.#sum;
    return h;
  }

  toString(): string {
    return this.#sum.toString(16).padStart(15, '0');
  }
}
