/**
 * No unbounded queue in the replicated log's write path: a sequencer whose waves cannot complete refuses
 * appends beyond its queue bound (LogOverloadedError, nothing of them assigned), and everything it accepted
 * completes, densely, once the log servers answer again.
 */
import { describe, expect, test } from '@jest/globals';
import { LogServerCore, MemoryLogServerStorage } from '../src/replicated/log-server-core.ts';
import type { Timers } from '../src/replicated/quorum.ts';
import { SequencerCore } from '../src/replicated/sequencer-core.ts';
import { LogOverloadedError, type LogServerApi } from '../src/replicated/types.ts';

/** Timers that never fire: stores are not timed out, so the waves wait for the gate below. */
const still: Timers = { now: () => 0, after: () => () => {} };
const tick = () => new Promise((r) => setImmediate(r));

describe('sequencer backpressure', () => {
  test('refuses appends beyond its queue bound and completes every accepted one in order', async () => {
    let open!: () => void;
    const gate = new Promise<void>((r) => {
      open = r;
    });
    const servers = new Map<string, LogServerApi>();
    for (const id of ['a', 'b', 'c']) {
      const core = new LogServerCore(new MemoryLogServerStorage());
      // The real log server, with its Store answers held back until the gate opens.
      const held: LogServerApi = Object.assign(Object.create(core) as LogServerApi, {
        store: async (req: Parameters<LogServerApi['store']>[0]) => {
          await gate;
          return core.store(req);
        },
      });
      servers.set(id, held);
    }
    const seq = new SequencerCore(
      { logletId: 'l.0', nodeset: [{ id: 'a' }, { id: 'b' }, { id: 'c' }], replication: { scope: 'node', count: 2 } },
      (node) => servers.get(node)!,
      { timers: still, random: () => 0.5, maxInflightWaves: 1, maxQueuedRecords: 10 },
    );
    const accepted = [seq.append([new Uint8Array([0])])];
    await tick(); // the first wave is out (and stuck at the gate)
    for (let i = 1; i <= 10; i++) accepted.push(seq.append([new Uint8Array([i])]));
    await expect(seq.append([new Uint8Array([99])])).rejects.toBeInstanceOf(LogOverloadedError);
    await expect(seq.append([new Uint8Array([98]), new Uint8Array([97])])).rejects.toThrow(/records .* waiting/);
    open();
    expect(await Promise.all(accepted)).toEqual(Array.from({ length: 11 }, (_, i) => BigInt(i)));
    expect(seq.tail).toBe(11n);
    // Room again once the queue drained.
    expect(await seq.append([new Uint8Array([11])])).toBe(11n);
  });
});
