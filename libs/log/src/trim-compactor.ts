/**
 * Compacts the key ranges of trimmed records, one after the other in the background. Deleted records stay in
 * LevelDB's files as tombstones over their data until a compaction rewrites those files, which a log appended at
 * one end and trimmed at the other may not cause for a long time; compacting the trimmed ranges gives the disk
 * space back. Ranges asked for one log while an earlier one waits are merged.
 */
export class TrimCompactor<Id, K> {
  private readonly pending = new Map<Id, { from: bigint; below: bigint }>();
  private running: Promise<void> | undefined;
  private closed = false;
  /** Compactions done (for tests and metrics). */
  compactions = 0;

  private readonly db: { compactRange(start: K, end: K): Promise<void> };
  private readonly range: (id: Id, from: bigint, below: bigint) => [K, K];

  /** `range` gives the keys of log `id`'s records from offset `from` up to (not including) `below`. */
  constructor(
    db: { compactRange(start: K, end: K): Promise<void> },
    range: (id: Id, from: bigint, below: bigint) => [K, K],
  ) {
    this.db = db;
    this.range = range;
  }

  /** The records of log `id` in [from, below) were deleted: compact their range soon. */
  add(id: Id, from: bigint, below: bigint): void {
    const waiting = this.pending.get(id);
    this.pending.set(id, { from: waiting && waiting.from < from ? waiting.from : from, below });
    if (this.running || this.closed) return;
    this.running = (async () => {
      while (this.pending.size > 0 && !this.closed) {
        const [next, r] = this.pending.entries().next().value!;
        this.pending.delete(next);
        try {
          await this.db.compactRange(...this.range(next, r.from, r.below));
          this.compactions++;
        } catch {
          // closed meanwhile, or LevelDB refused: the records are deleted either way, only the space waits
        }
      }
    })().finally(() => {
      this.running = undefined;
    });
  }

  /** Resolves once the compactions asked for so far are done. */
  async idle(): Promise<void> {
    while (this.running) await this.running;
  }

  /** No compaction starts from now on; resolves once the one running (if any) is done. Call before closing the db. */
  async close(): Promise<void> {
    this.closed = true;
    await this.running;
  }
}
