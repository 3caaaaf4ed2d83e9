import { Prng } from '@stead/testing/sim';
import { Raft, type RaftConfig } from '../src/raft.ts';
import type { Entry, HardState, Message, NodeId, Snapshot } from '../src/types.ts';

/** A tiny synchronous cluster for unit tests: messages are delivered immediately unless dropped. */
export class TestCluster {
  readonly rafts = new Map<NodeId, Raft>();
  readonly applied = new Map<NodeId, Entry[]>();
  readonly disks = new Map<NodeId, { hard?: HardState; snapshot?: Snapshot; entries: Entry[] }>();
  readonly dropped = new Set<string>();
  readonly sent: Message[] = [];
  readonly readStates = new Map<NodeId, { index: number; ctx: string }[]>();
  private readonly rng = new Prng(42);

  readonly extra: Partial<RaftConfig>;

  constructor(ids: string[], extra: Partial<RaftConfig> = {}) {
    this.extra = extra;
    const members = ids.map((id) => ({ id, addr: `addr-${id}` }));
    for (const id of ids) this.add(id, { members });
  }

  add(id: NodeId, bootstrap?: { members: { id: string; addr: string }[] }): Raft {
    const disk = this.disks.get(id) ?? { entries: [] };
    this.disks.set(id, disk);
    const r = new Raft({
      id,
      electionTicks: 10,
      heartbeatTicks: 1,
      random: () => this.rng.next(),
      storage: { hardState: disk.hard, snapshot: disk.snapshot, entries: disk.entries.slice() },
      bootstrap,
      ...this.extra,
    });
    this.rafts.set(id, r);
    if (!this.applied.has(id)) this.applied.set(id, []);
    return r;
  }

  get(id: NodeId): Raft {
    return this.rafts.get(id)!;
  }

  cut(a: NodeId, b: NodeId): void {
    this.dropped.add(`${a}>${b}`);
    this.dropped.add(`${b}>${a}`);
  }
  isolate(a: NodeId): void {
    for (const b of this.rafts.keys()) if (b !== a) this.cut(a, b);
  }
  heal(): void {
    this.dropped.clear();
  }

  /** Processes Readys and delivers messages until quiet. */
  settle(maxRounds = 1000): void {
    if (!this.deliver(maxRounds)) throw new Error('cluster did not settle');
  }

  /** Runs at most `rounds` rounds of Ready processing and delivery; returns whether the cluster went quiet. */
  deliver(rounds: number): boolean {
    for (let round = 0; round < rounds; round++) {
      const queue: Message[] = [];
      for (const [id, r] of this.rafts) {
        while (r.hasReady()) {
          const rd = r.ready();
          const disk = this.disks.get(id)!;
          if (rd.snapshot) {
            disk.snapshot = rd.snapshot;
            disk.entries = [];
          }
          if (rd.entries.length > 0) {
            const first = rd.entries[0].index;
            disk.entries = disk.entries.filter((e) => e.index < first).concat(rd.entries);
          }
          if (rd.hardState) disk.hard = rd.hardState;
          queue.push(...rd.messages);
          this.applied.get(id)!.push(...rd.committed);
          if (rd.readStates.length) this.readStates.set(id, [...(this.readStates.get(id) ?? []), ...rd.readStates]);
          r.advance();
        }
      }
      if (queue.length === 0) return true;
      for (const m of queue) {
        this.sent.push(m);
        if (this.dropped.has(`${m.from}>${m.to}`)) continue;
        this.rafts.get(m.to)?.step(m);
      }
    }
    return false;
  }

  tick(n = 1, ids?: NodeId[]): void {
    for (let i = 0; i < n; i++) {
      for (const [id, r] of this.rafts) if (!ids || ids.includes(id)) r.tick();
      this.settle();
    }
  }

  /** Ticks until some node leads; returns it. */
  elect(within = 200): Raft {
    for (let i = 0; i < within; i++) {
      const l = this.leader();
      if (l) return l;
      this.tick();
    }
    throw new Error('no leader elected');
  }

  leader(): Raft | undefined {
    let best: Raft | undefined;
    for (const r of this.rafts.values()) {
      const s = r.softState();
      if (s.role === 'leader' && !this.dropped.has(`${r.id}>*`) && (!best || s.term > best.softState().term)) best = r;
    }
    return best;
  }

  appliedData(id: NodeId): string[] {
    const dec = new TextDecoder();
    return this.applied
      .get(id)!
      .filter((e) => e.type === 'normal' && e.data.length > 0)
      .map((e) => dec.decode(e.data));
  }

  crash(id: NodeId): void {
    this.rafts.delete(id);
    this.applied.set(id, []);
  }
}

export const bytes = (s: string) => new TextEncoder().encode(s);
