/**
 * A read cache bounded by what its entries really cost: key, value and a fixed per-entry overhead (the Map
 * slot, the entry object, the typed-array header). Eviction is CLOCK (second chance): a hit only sets a
 * flag, so reads never reorder the map; the oldest entries are looked at when room is needed, and a
 * flagged one gets one more round at the back. The map's size therefore follows the live entries only,
 * whatever the churn of writes and deletions; deleted keys are dropped, never remembered as absent.
 *
 * Invariants: `bytes` is the sum of the costs of the entries held, and `bytes <= limitBytes` between calls.
 */

/**
 * What an entry costs beyond its key and value bytes, as measured in a V8 heap snapshot of a loaded server: the
 * Uint8Array (~104 bytes) and its ArrayBuffer (~96), the entry object (~40), the Map slot and the key string's
 * header (~60).
 */
export const ENTRY_OVERHEAD_BYTES = 300;

interface Entry {
  value: Uint8Array;
  cost: number;
  referenced: boolean;
}

export interface CacheStats {
  entries: number;
  bytes: number;
  hits: number;
  misses: number;
  evictions: number;
}

export class ReadCache {
  readonly limitBytes: number;
  private readonly map = new Map<string, Entry>();
  private bytes = 0;
  private hits = 0;
  private misses = 0;
  private evictions = 0;

  constructor(limitBytes: number) {
    this.limitBytes = limitBytes;
  }

  get(key: string): Uint8Array | undefined {
    const e = this.map.get(key);
    if (e === undefined) {
      this.misses++;
      return undefined;
    }
    this.hits++;
    e.referenced = true;
    return e.value;
  }

  /** Remembers `value` for `key` (replacing what was there); values too large for the cache are not kept. */
  set(key: string, value: Uint8Array): void {
    this.delete(key);
    // A small view of a large buffer would keep the whole buffer alive: keep a copy of its own instead.
    const own =
      value.byteLength * 2 < value.buffer.byteLength && value.buffer.byteLength > 4096 ? value.slice() : value;
    const cost = ENTRY_OVERHEAD_BYTES + key.length + own.byteLength;
    // Large values are read rarely: keep the room for many small ones.
    if (cost > this.limitBytes / 8) return;
    this.map.set(key, { value: own, cost, referenced: false });
    this.bytes += cost;
    this.evict();
  }

  delete(key: string): void {
    const e = this.map.get(key);
    if (e === undefined) return;
    this.map.delete(key);
    this.bytes -= e.cost;
  }

  stats(): CacheStats {
    return {
      entries: this.map.size,
      bytes: this.bytes,
      hits: this.hits,
      misses: this.misses,
      evictions: this.evictions,
    };
  }

  private evict(): void {
    // A fresh iterator per call: a Map iterator kept across calls would pin every table the map outgrows
    // (V8 chains obsolete tables to the live one for its iterators), a leak under insert/delete churn.
    let hand = this.map.entries();
    while (this.bytes > this.limitBytes) {
      let next = hand.next();
      if (next.done) {
        // Every entry had its second chance: start over (the unflagged ones are evicted now).
        hand = this.map.entries();
        next = hand.next();
        if (next.done) return;
      }
      const [key, e] = next.value;
      this.map.delete(key);
      if (e.referenced) {
        // Second chance: to the back, unflagged.
        e.referenced = false;
        this.map.set(key, e);
      } else {
        this.bytes -= e.cost;
        this.evictions++;
      }
    }
  }
}
