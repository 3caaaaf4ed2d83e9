/**
 * Property test: random sequences of invocations on a few object keys, handler steps, cancels, kills and
 * crashes (the store loses what it had not committed and replays the log) against a small reference model
 * of the single-writer rule (one exclusive invocation per key at a time, FIFO) and exactly-once state
 * effects (a read-modify-write counter per key equals the number of writes the model expects).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BinaryWriter, WireType } from '@bufbuild/protobuf/wire';
import type { PartitionStore, StorageEngine } from '@stead/storage';
import fc from 'fast-check';
import * as J from '../src/journal.ts';
import { PartitionReader, PartitionStateMachine, type StateMachineOptions } from '../src/state-machine.ts';
import { openPartitionStorage, PartitionTables } from '../src/tables.ts';
import type { Command, InvocationStatus, Target } from '../src/types.ts';

const KEYS = ['a', 'b', 'c'];
const counterOf = (key: string): Target => ({ service: 'Counter', handler: 'add', key });

type Op =
  | { t: 'invoke'; key: number; shared: boolean }
  | { t: 'step'; pick: number }
  | { t: 'cancel'; pick: number }
  | { t: 'kill'; pick: number }
  | { t: 'crash' }
  | { t: 'commit' };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ t: fc.constant('invoke' as const), key: fc.nat(2), shared: fc.boolean() }) },
  { weight: 8, arbitrary: fc.record({ t: fc.constant('step' as const), pick: fc.nat(50) }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('cancel' as const), pick: fc.nat(50) }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('kill' as const), pick: fc.nat(50) }) },
  { weight: 1, arbitrary: fc.constant({ t: 'crash' as const }) },
  { weight: 2, arbitrary: fc.constant({ t: 'commit' as const }) },
);

const opts: StateMachineOptions = {
  partitionId: 0,
  partitionKeyOfInvocation: () => 0n,
  childId: (p, i) => `${p}.${i}`,
  awakeable: () => {
    throw new Error('unused');
  },
  idempotentId: () => 'unused',
  workflowId: () => 'unused',
};

function target(key: string, shared: boolean): Target {
  return {
    service: 'Counter',
    handler: shared ? 'get' : 'add',
    key,
    serviceType: 'VIRTUAL_OBJECT',
    handlerType: shared ? 'SHARED' : 'EXCLUSIVE',
  };
}

function setState(value: number): Uint8Array {
  const w = new BinaryWriter();
  w.uint32((1 << 3) | WireType.LengthDelimited).bytes(Buffer.from('n'));
  w.uint32((3 << 3) | WireType.LengthDelimited).fork();
  w.uint32((1 << 3) | WireType.LengthDelimited).bytes(Buffer.from(String(value)));
  w.join();
  return w.finish();
}

function output(): Uint8Array {
  const w = new BinaryWriter();
  w.uint32((14 << 3) | WireType.LengthDelimited)
    .fork()
    .join();
  return w.finish();
}

interface ModelInv {
  id: string;
  key: string;
  shared: boolean;
  phase: 'queued' | 'running' | 'done';
  didSet: boolean;
}

class Harness {
  dir = mkdtempSync(join(tmpdir(), 'stead-prop-'));
  engine!: StorageEngine;
  store!: PartitionStore;
  sm!: PartitionStateMachine;
  log: Command[] = [];
  private n = 0;
  // the reference model
  invs: ModelInv[] = [];
  holder = new Map<string, string | undefined>();
  queue = new Map<string, string[]>(KEYS.map((k) => [k, []]));
  counter = new Map<string, number>(KEYS.map((k) => [k, 0]));

  async open(): Promise<void> {
    this.engine = await openPartitionStorage(this.dir);
    this.store = this.engine.partition(0);
    this.sm = new PartitionStateMachine(this.store, opts);
    // Replay whatever the store has not applied (crash recovery); effects of a replay are dropped.
    const applied = (await new PartitionTables(this.store).appliedOffset()) ?? -1n;
    for (let i = Number(applied) + 1; i < this.log.length; i++) await this.sm.apply(this.log[i]);
  }

  async close(): Promise<void> {
    await this.engine.close();
  }

  async apply(cmd: Command): Promise<void> {
    this.log.push(cmd);
    await this.sm.apply(cmd);
  }

  private live(): ModelInv[] {
    return this.invs.filter((i) => i.phase !== 'done');
  }

  private finish(inv: ModelInv): void {
    const wasRunning = inv.phase === 'running';
    if (inv.phase === 'queued')
      this.queue.set(
        inv.key,
        this.queue.get(inv.key)!.filter((x) => x !== inv.id),
      );
    inv.phase = 'done';
    if (!inv.shared && wasRunning) {
      const next = this.queue.get(inv.key)!.shift();
      this.holder.set(inv.key, next);
      if (next) this.invs.find((i) => i.id === next)!.phase = 'running';
    }
  }

  async run(op: Op): Promise<void> {
    const ts = this.log.length;
    switch (op.t) {
      case 'invoke': {
        const key = KEYS[op.key];
        const id = `inv${++this.n}`;
        const inv: ModelInv = { id, key, shared: op.shared, phase: 'running', didSet: false };
        if (!op.shared) {
          if (this.holder.get(key)) {
            inv.phase = 'queued';
            this.queue.get(key)!.push(id);
          } else this.holder.set(key, id);
        }
        this.invs.push(inv);
        await this.apply({
          kind: 'Invoke',
          ts,
          inv: { id, target: target(key, op.shared), input: new Uint8Array(), headers: [] },
        });
        return;
      }
      case 'step': {
        const running = this.invs.filter((i) => i.phase === 'running');
        if (running.length === 0) return;
        const inv = running[op.pick % running.length];
        const effect = (e: Extract<Command, { kind: 'Effect' }>['effect']) =>
          this.apply({ kind: 'Effect', ts, epoch: 0, invocationId: inv.id, effect: e });
        if (!inv.shared && !inv.didSet) {
          // Read-modify-write as a handler does with eager state from its Start message.
          const raw = await new PartitionTables(this.store).stateValue(counterOf(inv.key), Buffer.from('n'));
          const current = raw ? Number(Buffer.from(raw).toString()) : 0;
          await effect({ kind: 'command', entry: { type: J.T.SetState, bytes: setState(current + 1) } });
          inv.didSet = true;
          this.counter.set(inv.key, this.counter.get(inv.key)! + 1);
          return;
        }
        await effect({ kind: 'command', entry: { type: J.T.Output, bytes: output() } });
        await effect({ kind: 'end' });
        this.finish(inv);
        return;
      }
      case 'cancel':
      case 'kill': {
        const live = this.live();
        if (live.length === 0) return;
        const inv = live[op.pick % live.length];
        await this.apply({ kind: 'Control', ts, invocationId: inv.id, op: op.t });
        // Cancel ends queued invocations at once; running ones get a signal (the handler decides).
        if (op.t === 'kill' || inv.phase === 'queued') this.finish(inv);
        return;
      }
      case 'commit':
        if (this.log.length > 0) new PartitionTables(this.store).putAppliedOffset(BigInt(this.log.length - 1));
        await this.store.commit();
        return;
      case 'crash':
        await this.close(); // uncommitted writes are lost
        await this.open();
        return;
    }
  }

  async check(): Promise<void> {
    const reader = new PartitionReader(this.store);
    const statuses = await reader.invocations();
    const byId = new Map(statuses.map((s) => [s.id, s]));
    for (const key of KEYS) {
      const holders = statuses.filter((s: InvocationStatus) => s.target.key === key && s.locked);
      expect(holders.length).toBeLessThanOrEqual(1);
      expect(holders[0]?.id).toBe(this.holder.get(key));
      const tables = new PartitionTables(this.store);
      expect(await tables.inbox(counterOf(key))).toEqual(this.queue.get(key));
      const raw = await tables.stateValue(counterOf(key), Buffer.from('n'));
      expect(raw ? Number(Buffer.from(raw).toString()) : 0).toBe(this.counter.get(key));
    }
    for (const inv of this.invs) {
      const st = byId.get(inv.id);
      if (inv.phase === 'done') expect(st).toBeUndefined();
      else expect(st?.phase).toBe(inv.phase === 'queued' ? 'inboxed' : 'invoked');
    }
  }

  cleanup(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

describe('partition state machine against a reference model', () => {
  it('keeps one writer per key, FIFO order and exactly-once state effects across crashes', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(opArb, { minLength: 1, maxLength: 60 }), async (ops) => {
        const h = new Harness();
        await h.open();
        try {
          for (const op of ops) {
            await h.run(op);
            await h.check();
          }
        } finally {
          await h.close();
          h.cleanup();
        }
      }),
      { numRuns: Number(process.env.PROPERTY_RUNS ?? 150) },
    );
  });
});
