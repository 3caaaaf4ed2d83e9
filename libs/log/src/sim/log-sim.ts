import { Prng, SimClock, SimNetwork } from '@stead/testing/sim';
import { Bifrost, type ChainStore, type Placement, type SequencerApi } from '../bifrost/bifrost.ts';
import { type LogChain, readChain, type SequencerRef } from '../bifrost/chain.ts';
import { LogServerCore, MemoryLogServerStorage, type StorageBatch } from '../replicated/log-server-core.ts';
import { Quorum, type Random, type Timers } from '../replicated/quorum.ts';
import { callAsync, withTimeout } from '../replicated/sealer.ts';
import { SequencerHost } from '../replicated/sequencer-host.ts';
import type { LogServerApi, LogServerDirectory, NodesetMember, ReplicationProperty } from '../replicated/types.ts';
import { LogletSealedError, LogUnavailableError } from '../replicated/types.ts';

/**
 * Deterministic simulation of the replicated log on the shared toolkit (`@stead/testing/sim`: seeded PRNG,
 * simulated clock and network): log servers, sequencer processes, appending clients and a
 * controller, connected by a network that loses, delays, reorders and duplicates messages and can be
 * partitioned; log servers and sequencers crash and restart. After the faults stop and everything heals, it
 * checks: every acknowledged append is readable at its offset by independent readers that agree on the whole
 * log; a reader that drops duplicates by (producer, sequence number) applies every acknowledged append exactly
 * once; no offset of any loglet holds two different records on any two log servers; an acknowledged order is
 * never inverted; sealed loglets accept no new appends; appends work again after healing.
 */

export interface SimOptions {
  /** Virtual milliseconds of appending with faults. */
  durationMs?: number;
  clients?: number;
  /** Sequencer calls in flight per log of each appending client (Bifrost's default when absent). */
  maxInflightAppends?: number;
  /**
   * Whether sequencers see the clients' call numbering (default true). Without it they sequence calls as they
   * arrive, as before numbering: pipelined calls can then land out of order (the checks show it).
   */
  numbering?: boolean;
  /** Print a trace of faults and reconfigurations. */
  trace?: (line: string) => void;
}

export interface SimResult {
  seed: number;
  violations: string[];
  acked: number;
  failed: number;
  reconfigurations: number;
  segments: number;
  records: number;
  steps: number;
  scenario: string;
  /** Records the deduplicating reader dropped (second copies left by retried calls). */
  copiesDropped: number;
}

/**
 * A request from `from` to `to` and its answer, each a message on the simulated network: `fn` runs at `to` when
 * the request arrives (twice if it is duplicated); a lost request or answer leaves the promise pending forever,
 * as a real call does until its timeout.
 */
function call<T>(net: SimNetwork, from: string, to: string, fn: () => Promise<T>): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    net.send(from, to, () => {
      callAsync(fn).then(
        (v) => net.send(to, from, () => resolve(v)),
        (e: unknown) => net.send(to, from, () => reject(e)),
      );
    });
  });
}

/** The log's `Timers` on the simulated clock. */
function simTimers(clock: SimClock): Timers {
  return {
    now: () => clock.now(),
    after: (ms, fn) => {
      const h = clock.setTimeout(fn, ms);
      return () => clock.clearTimeout(h);
    },
  };
}

/** Storage of one log-server incarnation: after the crash it writes nothing more. */
class IncarnationStorage extends MemoryLogServerStorage {}

class SimLogServer {
  readonly id: string;
  readonly zone: string | undefined;
  readonly disk = new IncarnationStorage();
  core: LogServerCore;
  private incarnation = 0;
  constructor(id: string, zone: string | undefined) {
    this.id = id;
    this.zone = zone;
    this.core = this.boot();
  }
  private boot(): LogServerCore {
    const mine = ++this.incarnation;
    const disk = this.disk;
    const gated = {
      loadState: disk.loadState.bind(disk),
      readRecords: disk.readRecords.bind(disk),
      readOffsets: disk.readOffsets.bind(disk),
      write: async (b: StorageBatch) => {
        if (mine !== this.incarnation) throw new Error('crashed');
        await disk.write(b);
      },
    };
    return new LogServerCore(gated);
  }
  restart(): void {
    this.core = this.boot();
  }
}

class SimMetadata implements ChainStore {
  private readonly data = new Map<string, { value: Uint8Array; version: number }>();
  async get(key: string) {
    return this.data.get(key);
  }
  async put(
    key: string,
    value: Uint8Array,
    pre: { kind: 'does-not-exist' } | { kind: 'matches-version'; version: number },
  ): Promise<number> {
    const cur = this.data.get(key);
    const ok = pre.kind === 'does-not-exist' ? !cur : cur?.version === pre.version;
    if (!ok) throw Object.assign(new Error('precondition failed'), { code: 'precondition-failed' });
    const version = (cur?.version ?? 0) + 1;
    this.data.set(key, { value, version });
    return version;
  }
}

interface Ack {
  client: number;
  /** The producer's sequence number of the append (issue order). */
  seq: number;
  payloads: string[];
  offset: bigint;
  issuedAt: number;
  ackedAt: number;
}

/**
 * Exactly once through (producer, sequence number): a reader that keeps a record only when its (seq, index in the
 * append) is above the highest it kept from that producer (the partition state machine's duplicate rule) must see
 * every acknowledged record exactly once, although retried calls leave second copies in the log. Records are
 * `c<producer>:<seq>:<index>`.
 */
export function checkExactlyOnce(
  log: string[],
  acks: Array<{ client: number; payloads: string[] }>,
): { violations: string[]; copiesDropped: number } {
  const highest = new Map<number, [number, number]>();
  const kept = new Map<string, number>();
  let copiesDropped = 0;
  for (const record of log) {
    const m = /^c(\d+):(\d+):(\d+)$/.exec(record);
    if (!m) continue;
    const [c, seq, j] = [Number(m[1]), Number(m[2]), Number(m[3])];
    const h = highest.get(c);
    if (h && (seq < h[0] || (seq === h[0] && j <= h[1]))) {
      copiesDropped++; // a copy, or older than what was applied
      continue;
    }
    highest.set(c, [seq, j]);
    kept.set(record, (kept.get(record) ?? 0) + 1);
  }
  const out: string[] = [];
  for (const [record, n] of kept) if (n > 1) out.push(`the deduplicating reader applied ${record} ${n} times`);
  for (const a of acks) {
    if (a.client < 0) continue;
    for (const p of a.payloads)
      if (!kept.has(p)) out.push(`acknowledged ${p} is dropped by the deduplicating reader (a later one landed first)`);
  }
  return { violations: out, copiesDropped };
}

const enc = new TextEncoder();
const dec = new TextDecoder();

export async function runLogSimulation(seed: number, opts: SimOptions = {}): Promise<SimResult> {
  const rng = new Prng(seed);
  const random: Random = () => rng.next();
  const clock = new SimClock();
  const timers = simTimers(clock);
  const net = new SimNetwork({ clock, random: rng });
  const trace = opts.trace ?? (() => {});
  /** Heals partitions and stops losing and duplicating messages (crashed nodes stay down). */
  const healNet = () => {
    net.heal();
    net.loss = 0;
    net.duplicate = 0;
  };
  const violations: string[] = [];
  const durationMs = opts.durationMs ?? 2_000;

  // Scenario from the seed.
  const zoneMode = rng.chance(0.25);
  const nLogServers = zoneMode ? 6 : rng.int(3, 5);
  const replication: ReplicationProperty = zoneMode
    ? { scope: 'zone', count: 2 }
    : { scope: 'node', count: rng.int(1, Math.min(3, nLogServers - 1)) };
  const logServers = new Map<string, SimLogServer>();
  for (let i = 1; i <= nLogServers; i++) {
    const id = `ls${i}`;
    logServers.set(id, new SimLogServer(id, zoneMode ? `z${(i - 1) % 3}` : undefined));
  }
  const members = (): NodesetMember[] =>
    [...logServers.values()].map((l) => (l.zone ? { id: l.id, zone: l.zone } : { id: l.id }));
  const nSequencers = rng.int(2, 3);
  const metadata = new SimMetadata();
  // Like the real metadata client: every call is retried until it gets an answer (lost messages time out).
  const retrying = async <T>(call: () => Promise<T>): Promise<T> => {
    for (;;) {
      try {
        return await withTimeout(timers, 50, call);
      } catch (e) {
        if (!(e instanceof LogUnavailableError)) throw e;
      }
    }
  };
  const metaVia = (from: string): ChainStore => ({
    get: (k) => retrying(() => call(net, from, 'meta', () => metadata.get(k))),
    put: (k, v, p) => retrying(() => call(net, from, 'meta', () => metadata.put(k, v, p))),
  });
  const lsDirectory =
    (from: string): LogServerDirectory =>
    (node) => {
      const target = (): LogServerApi => {
        const l = logServers.get(node);
        if (!l) throw new LogUnavailableError(`no log server ${node}`);
        return l.core;
      };
      return {
        store: (r) => call(net, from, node, () => target().store(r)),
        getRecords: (r) => call(net, from, node, () => target().getRecords(r)),
        getDigest: (r) => call(net, from, node, () => target().getDigest(r)),
        waitForTail: (r) => call(net, from, node, () => target().waitForTail(r)),
        seal: (r) => call(net, from, node, () => target().seal(r)),
        trim: (r) => call(net, from, node, () => target().trim(r)),
      };
    };
  const hosts = new Map<string, SequencerHost>();
  let instances = 0;
  const bootHost = (id: string) => {
    const h = new SequencerHost({
      id,
      instance: `i${++instances}`,
      metadata: metaVia(id),
      logServers: lsDirectory(id),
      timers: timers,
      random,
      sequencer: { storeTimeoutMs: 60, avoidMs: 200, maxWaveRecords: rng.int(1, 16), maxInflightWaves: rng.int(1, 8) },
    });
    hosts.set(id, h);
    return h;
  };
  for (let i = 1; i <= nSequencers; i++) bootHost(`seq${i}`);
  const seqDirectory =
    (from: string) =>
    (ref: SequencerRef): SequencerApi => ({
      append: (l, p, c) =>
        call(net, from, ref.id, () => hosts.get(ref.id)!.append(l, p, opts.numbering === false ? undefined : c)),
      tail: (l) => call(net, from, ref.id, () => hosts.get(ref.id)!.tail(l)),
    });
  const place = (failed?: SequencerRef): Placement => {
    const live = [...hosts.values()].filter((h) => !net.isDown(h.id) && h.id !== failed?.id);
    const h = live.length > 0 ? rng.pick(live) : rng.pick([...hosts.values()]);
    let nodeset = members();
    if (!zoneMode && rng.chance(0.3) && nodeset.length > replication.count + 1) {
      // A smaller nodeset: scaling in and out between segments.
      const drop = rng.pick(nodeset).id;
      nodeset = nodeset.filter((m) => m.id !== drop);
    }
    return { sequencer: { id: h.id, instance: h.instance }, nodeset, replication };
  };
  const bifrost = (name: string, failoverAfterMs = 150, maxInflightAppends = opts.maxInflightAppends) =>
    new Bifrost({
      metadata: metaVia(name),
      logServers: lsDirectory(name),
      sequencers: seqDirectory(name),
      place: (_c, failed) => place(failed),
      timers: timers,
      random,
      failoverAfterMs,
      ...(maxInflightAppends === undefined ? {} : { maxInflightAppends }),
      callTimeoutMs: 100,
      appendTimeoutMs: 10_000,
      onReconfigured: (c, tail, why) =>
        trace(
          `t=${clock.now()} ${name} reconfigured -> segment ${c.segments.length - 1} (sealed tail ${tail}): ${why}`,
        ),
    });

  const logId = 'log';
  const scenario = `${nLogServers} log servers, replication {${replication.scope}: ${replication.count}}, ${nSequencers} sequencers`;
  const admin = bifrost('admin');
  let created = false;
  void admin.create(logId).then(() => {
    created = true;
  });
  await clock.runAsync(1_000, () => created);

  // Appending clients.
  const acks: Ack[] = [];
  const byOffset = new Map<bigint, string>();
  let failed = 0;
  let running = 0;
  const nClients = opts.clients ?? 3;
  const clients: Bifrost[] = [];
  for (let c = 0; c < nClients; c++) {
    // Calls in flight per log: the option, or from the seed (1..8) so that both queueing and pipelining happen.
    const client = bifrost(`c${c}`, 150, opts.maxInflightAppends ?? rng.int(1, 8));
    clients.push(client);
    running++;
    void (async () => {
      // A producer that pipelines: up to `depth` appends outstanding, issued in sequence-number order.
      const depth = rng.int(1, 8);
      const outstanding: Promise<void>[] = [];
      let n = 0;
      while (clock.now() < durationMs) {
        const seq = n++;
        const payloads = Array.from({ length: rng.int(1, 3) }, (_, j) => `c${c}:${seq}:${j}`);
        const issuedAt = clock.now();
        outstanding.push(
          client
            .append(
              logId,
              payloads.map((p) => enc.encode(p)),
            )
            .then(
              (offset) => {
                acks.push({ client: c, seq, payloads, offset, issuedAt, ackedAt: clock.now() });
                payloads.forEach((p, j) => {
                  const o = offset + BigInt(j);
                  const had = byOffset.get(o);
                  if (had !== undefined && had !== p)
                    violations.push(`offset ${o} acknowledged for ${had} and for ${p}`);
                  byOffset.set(o, p);
                });
              },
              (e: unknown) => {
                failed++;
                trace(`t=${clock.now()} c${c} append ${seq} failed: ${String(e)}`);
              },
            ),
        );
        if (outstanding.length >= depth) await outstanding.shift();
        if (rng.chance(0.3)) await new Promise<void>((r) => timers.after(rng.int(1, 20), r));
      }
      await Promise.all(outstanding);
      running--;
    })();
  }

  // Faults.
  const faultsUntil = durationMs - 200;
  const controller = bifrost('controller');
  const faultLoop = () => {
    if (clock.now() >= faultsUntil) return;
    const r = rng.next();
    const lsIds = [...logServers.keys()];
    if (r < 0.2) {
      const id = rng.pick(lsIds);
      if (!net.isDown(id)) {
        net.setDown(id, true);
        trace(`t=${clock.now()} crash ${id}`);
        clock.setTimeout(
          () => {
            if (!net.isDown(id)) return; // already healed
            logServers.get(id)!.restart();
            net.setDown(id, false);
            trace(`t=${clock.now()} restart ${id}`);
          },
          rng.int(50, 500),
        );
      }
    } else if (r < 0.35) {
      const id = rng.pick([...hosts.keys()]);
      if (!net.isDown(id)) {
        net.setDown(id, true);
        hosts.get(id)!.close();
        trace(`t=${clock.now()} crash ${id}`);
        clock.setTimeout(
          () => {
            if (!net.isDown(id)) return; // already healed
            bootHost(id);
            net.setDown(id, false);
            trace(`t=${clock.now()} restart ${id}`);
          },
          rng.int(50, 500),
        );
      }
    } else if (r < 0.5) {
      const a = rng.pick([...hosts.keys(), 'c0', 'c1', 'c2', 'controller']);
      const b = rng.pick(lsIds);
      net.partition(a, b);
      trace(`t=${clock.now()} partition ${a} | ${b}`);
      clock.setTimeout(
        () => {
          healNet();
          trace(`t=${clock.now()} heal`);
        },
        rng.int(50, 400),
      );
    } else if (r < 0.6) {
      net.loss = rng.next() * 0.2;
      net.duplicate = rng.next() * 0.2;
      trace(`t=${clock.now()} loss ${net.loss.toFixed(2)} dup ${net.duplicate.toFixed(2)}`);
    } else if (r < 0.7) {
      void controller
        .reconfigure(logId, 'controller move')
        .catch((e: unknown) => trace(`t=${clock.now()} controller: ${String(e)}`));
    }
    clock.setTimeout(faultLoop, rng.int(20, 150));
  };
  clock.setTimeout(faultLoop, rng.int(20, 100));

  await clock.runAsync(faultsUntil);
  // Heal everything and let the clients finish.
  healNet();
  for (const id of net.downNodes()) {
    if (logServers.has(id)) logServers.get(id)!.restart();
    else bootHost(id);
    net.setDown(id, false);
  }
  trace(`t=${clock.now()} healed`);
  await clock.runAsync(clock.now() + 60_000, () => running === 0);
  if (running > 0) violations.push(`${running} client(s) still stuck in an append 60 s after healing`);

  // A fresh append must work after healing.
  let lastOk = false;
  const fresh = bifrost('fresh');
  void fresh
    .append(logId, [enc.encode('final')])
    .then((o) => {
      lastOk = true;
      acks.push({ client: -1, seq: 0, payloads: ['final'], offset: o, issuedAt: clock.now(), ackedAt: clock.now() });
    })
    .catch((e: unknown) => violations.push(`append after healing failed: ${String(e)}`));
  await clock.runAsync(clock.now() + 30_000, () => lastOk || violations.length > 0);
  if (!lastOk && violations.length === 0) violations.push('append after healing did not finish');

  // Read the whole log back with two independent readers.
  const readAll = async (name: string): Promise<string[] | undefined> => {
    const b = bifrost(name);
    let out: string[] | undefined;
    let err: unknown;
    void (async () => {
      const tail = await b.tail(logId);
      const all: string[] = [];
      let at = 0n;
      while (at < tail) {
        const recs = await b.read(logId, at, 200, tail);
        if (recs.length === 0) throw new Error(`read returned nothing at ${at} below tail ${tail}`);
        for (const r of recs) {
          if (r.offset !== at) throw new Error(`read returned offset ${r.offset}, expected ${at}`);
          all.push(dec.decode(r.payload));
          at++;
        }
      }
      out = all;
    })().catch((e: unknown) => {
      err = e;
    });
    await clock.runAsync(clock.now() + 30_000, () => out !== undefined || err !== undefined);
    if (err !== undefined) violations.push(`${name}: ${String(err)}`);
    else if (!out) violations.push(`${name}: did not finish`);
    return out;
  };
  const log1 = await readAll('reader1');
  const log2 = await readAll('reader2');
  if (log1 && log2) {
    const n = Math.min(log1.length, log2.length);
    for (let i = 0; i < n; i++)
      if (log1[i] !== log2[i]) {
        violations.push(`readers disagree at offset ${i}: ${log1[i]} vs ${log2[i]}`);
        break;
      }
    // Both read up to the tail at their time; the log is quiet, so they must have the same length.
    if (log1.length !== log2.length) violations.push(`readers read ${log1.length} and ${log2.length} records`);
    for (const a of acks)
      a.payloads.forEach((p, j) => {
        const o = Number(a.offset) + j;
        if (log1[o] !== p) violations.push(`acknowledged ${p} at ${o} but the log holds ${log1[o]}`);
      });
  }
  // A producer's order: an acknowledged append lands before everything its producer issued after it (first
  // copies: a retried call may leave a second copy later). Dropping duplicates by the highest sequence number
  // seen per producer (the partition state machine) is only right under this rule.
  if (log1) {
    const acked = new Set(acks.map((a) => `${a.client}:${a.seq}`));
    const highest = new Map<number, number>();
    const landed = new Set<string>();
    log1.forEach((record, at) => {
      const m = /^c(\d+):(\d+):0$/.exec(record);
      if (!m) return;
      const [c, seq] = [Number(m[1]), Number(m[2])];
      if (landed.has(`${c}:${seq}`)) return;
      landed.add(`${c}:${seq}`);
      const max = highest.get(c) ?? -1;
      if (acked.has(`${c}:${seq}`) && max > seq)
        violations.push(
          `c${c}:${seq} was acknowledged, but c${c}:${max}, issued after it, landed first (offset ${at})`,
        );
      if (seq > max) highest.set(c, seq);
    });
  }
  let copiesDropped = 0;
  if (log1) {
    const once = checkExactlyOnce(log1, acks);
    violations.push(...once.violations);
    copiesDropped = once.copiesDropped;
  }
  // Acknowledged order: an append issued after another was acknowledged lands after it.
  const sorted = [...acks].sort((a, b) => a.ackedAt - b.ackedAt);
  for (const a of acks)
    for (const b of sorted) {
      if (b.ackedAt >= a.issuedAt) break;
      if (b.offset >= a.offset)
        violations.push(`${a.payloads[0]} issued after ${b.payloads[0]} was acknowledged but precedes it`);
    }
  // No offset of any loglet holds two different records.
  const seen = new Map<string, Map<bigint, string>>();
  for (const l of logServers.values())
    for (const [loglet, recs] of l.disk.records) {
      let m = seen.get(loglet);
      if (!m) {
        m = new Map();
        seen.set(loglet, m);
      }
      for (const [o, p] of recs) {
        const s = dec.decode(p);
        const had = m.get(o);
        if (had !== undefined && had !== s)
          violations.push(`${loglet} offset ${o}: ${had} on one node, ${s} on ${l.id}`);
        m.set(o, s);
      }
    }
  const chain: LogChain | undefined = (await readChain(metadata, logId))?.chain;
  // Durability: every record below a sealed tail (or the released tail of the open segment) has a write quorum.
  for (const seg of chain?.segments ?? []) {
    const quorum = new Quorum(seg.nodeset, seg.replication);
    let end = seg.sealedTail;
    if (end === undefined) {
      const host = hosts.get(seg.sequencer.id);
      end =
        host && host.instance === seg.sequencer.instance ? ((await host.tail(seg.logletId).catch(() => 0n)) ?? 0n) : 0n;
    }
    for (let o = 0n; o < end; o++) {
      const holders = [...logServers.values()].filter((l) => l.disk.records.get(seg.logletId)?.has(o)).map((l) => l.id);
      if (!quorum.isWriteQuorum(holders)) {
        violations.push(`${seg.logletId} offset ${o} (below tail ${end}) is held only by [${holders.join(', ')}]`);
        break;
      }
    }
  }
  // Sealed loglets accept nothing new.
  for (const seg of chain?.segments ?? []) {
    if (seg.sealedTail === undefined) continue;
    const host = hosts.get(seg.sequencer.id);
    if (!host || host.instance !== seg.sequencer.instance) continue;
    let outcome: string | undefined;
    void host.append(seg.logletId, [enc.encode('probe')]).then(
      (o) => {
        outcome = `accepted at ${o}`;
      },
      (e: unknown) => {
        outcome = e instanceof LogletSealedError ? 'sealed' : `error ${String(e)}`;
      },
    );
    await clock.runAsync(clock.now() + 10_000, () => outcome !== undefined);
    if (outcome === undefined) trace(`probe hang: ${JSON.stringify(host.loglets().map(([id, c]) => [id, c.debug()]))}`);
    if (outcome !== 'sealed')
      violations.push(`sealed loglet ${seg.logletId} answered a new append with: ${outcome ?? 'nothing'}`);
  }

  const reconfigurations = [admin, controller, fresh, ...clients].reduce((n, b) => n + b.stats.reconfigurations, 0);
  return {
    seed,
    violations: [...new Set(violations)],
    acked: acks.length,
    failed,
    reconfigurations,
    segments: chain ? chain.segments.at(-1)!.index + 1 : 0,
    records: log1?.length ?? 0,
    steps: clock.fired,
    scenario,
    copiesDropped,
  };
}
