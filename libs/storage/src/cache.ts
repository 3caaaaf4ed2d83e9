/**
 * A read cache bounded by what its entries really cost: key, value and a fixed per-entry overhead (the Map
 * slot, the entry object, the typed-array header). Eviction is CLOCK (second chance): a hit only sets a
 * flag; when room is needed the hand moves over the entries in slot order, evicting the first unflagged one
 * and unflagging the others it passes. The entry count follows the live entries only, whatever the churn
 * of writes and deletions; deleted keys are dropped, never remembered as absent.
 *
 * Invariants: `bytes` is the sum of the costs of the entries held, and `bytes <= limitBytes` between calls.
 */

/**
 * What an entry costs beyond its key and value bytes, as measured in a V8 heap snapshot of a loaded server: the
 * Uint8Array (~104 bytes) and its ArrayBuffer (~96), the Map slot and the key string's header (~60), and the
 * entry's place in the slot arrays (~40). Rounded up.
 */
export const ENTRY_OVERHEAD_BYTES = 300;

export interface CacheStats {
  entries: number;
  bytes: number;
  hits: number;
  misses: number;
  evictions: number;
  /** Slots the clock hand has passed over, in all: stays within a small multiple of the sets (see the class). */
  handSteps: number;
}

/**
 * Entries live in parallel slot arrays; `index` maps a key to its slot. The clock hand walks the slots, never
 * the map: iterating a Map from its start would first skip every entry deleted since its last rehash, so the
 * cost of an eviction would grow with the churn (tens of microseconds per insert in a full cache under load).
 * A freed slot is reused by the next insert, so the slot arrays never outgrow the peak entry count, and the
 * hand passes each slot at most twice per entry it evicts (once to clear the flag, once to evict).
 */
export class ReadCache {
  readonly limitBytes: number;
  private readonly index = new Map<string, number>();
  /** Per slot: the key (undefined: the slot is free), value, cost and second-chance flag. */
  private keys: (string | undefined)[] = [];
  private values: (Uint8Array | undefined)[] = [];
  private costs: number[] = [];
  private referenced: boolean[] = [];
  private readonly free: number[] = [];
  private hand = 0;
  private bytes = 0;
  private readonly counts = { hits: 0, misses: 0, evictions: 0, handSteps: 0 };

  constructor(limitBytes: number) {
    this.limitBytes = limitBytes;
  }

  get(key: string): Uint8Array | undefined {
    const slot = this.index.get(key);
    if (slot === undefined) {
      this.counts.misses++;
      return undefined;
    }
    this.counts.hits++;
    this.referenced[slot] = true;
    return this.values[slot];
  }

  /** Remembers `value` for `key` (replacing what was there); values too large for the cache are not kept. */
  set(key: string, value: Uint8Array): void {
    // A small view of a large buffer would keep the whole buffer alive: keep a copy of its own instead.
    const own =
      value.byteLength * 2 < value.buffer.byteLength && value.buffer.byteLength > 4096 ? value.slice() : value;
    const cost = ENTRY_OVERHEAD_BYTES + key.length + own.byteLength;
    const existing = this.index.get(key);
    // Large values are read rarely: keep the room for many small ones.
    if (cost > this.limitBytes / 8) {
      if (existing !== undefined) this.release(existing);
      return;
    }
    if (existing !== undefined) {
      this.bytes += cost - this.costs[existing];
      this.values[existing] = own;
      this.costs[existing] = cost;
    } else {
      const slot = this.free.pop() ?? this.keys.length;
      this.keys[slot] = key;
      this.values[slot] = own;
      this.costs[slot] = cost;
      this.referenced[slot] = false;
      this.index.set(key, slot);
      this.bytes += cost;
    }
    this.evict();
  }

  delete(key: string): void {
    const slot = this.index.get(key);
    if (slot !== undefined) this.release(slot);
  }

  stats(): CacheStats {
    return {
      entries: this.index.size,
      bytes: this.bytes,
      ...this.counts,
    };
  }

  /** Slots allocated (held and free): never more than the peak number of entries. */
  get slots(): number {
    return this.keys.length;
  }

  private release(slot: number): void {
    this.index.delete(this.keys[slot]!);
    this.bytes -= this.costs[slot];
    this.keys[slot] = undefined;
    this.values[slot] = undefined;
    this.free.push(slot);
  }

  private evict(): void {
    const n = this.keys.length;
    while (this.bytes > this.limitBytes && this.index.size > 0) {
      if (this.hand >= n) this.hand = 0;
      const slot = this.hand++;
      this.counts.handSteps++;
      if (this.keys[slot] === undefined) continue;
      if (this.referenced[slot]) {
        // Second chance: passed over once, unflagged.
        this.referenced[slot] = false;
        continue;
      }
      this.release(slot);
      this.counts.evictions++;
    }
  }
}
