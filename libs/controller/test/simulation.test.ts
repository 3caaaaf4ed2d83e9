import { describe, expect, it } from '@jest/globals';
import {
  type ControllerConfig,
  DEFAULT_MAX_MOVES_PER_ROUND,
  type DecideInput,
  type Decision,
  decide,
  type NodeView,
  type PartitionPlacement,
} from '@stead/controller';
import { Prng } from '@stead/testing/sim';

// SIM_SEEDS / SIM_START override the range; a failure names its seed (SIM_START=<seed> SIM_SEEDS=1 replays it).
const seeds = Number(process.env.SIM_SEEDS ?? 300);
const start = Number(process.env.SIM_START ?? 1);
const NOW = 1_000_000;
const TIMEOUT_MS = 10_000;
const MAX_ROUNDS = 400;

function randomNodes(rng: Prng): NodeView[] {
  const zones = rng.int(1, 3);
  const nodes: NodeView[] = [];
  for (let i = rng.int(1, 7); i > 0; i--) {
    const node: NodeView = {
      id: `w${rng.int(0, 9)}${i}`,
      roles: rng.chance(0.9) ? ['worker'] : ['log-server'],
      lastHeartbeatMs: NOW - (rng.chance(0.25) ? rng.int(TIMEOUT_MS + 1, 5 * TIMEOUT_MS) : rng.int(0, TIMEOUT_MS)),
    };
    if (rng.chance(0.8)) node.location = `r.z${rng.int(1, zones)}`;
    if (rng.chance(0.15)) node.draining = true;
    nodes.push(node);
  }
  return nodes;
}

/** A prior table with garbage: unknown nodes, duplicate replicas and entries, leaders outside the set. */
function randomTable(rng: Prng, nodes: NodeView[], partitions: number): PartitionPlacement[] {
  const names = [...nodes.map((n) => n.id), 'ghost1', 'ghost2'];
  const table: PartitionPlacement[] = [];
  for (let p = 0; p < partitions + 2; p++) {
    if (rng.chance(0.3)) continue;
    const replicas = Array.from({ length: rng.int(0, 4) }, () => rng.pick(names));
    const entry: PartitionPlacement = {
      partition: rng.chance(0.1) ? rng.int(0, partitions + 3) : p,
      replicas,
      epoch: rng.int(0, 20),
    };
    if (rng.chance(0.8)) entry.leader = rng.chance(0.8) && replicas.length > 0 ? rng.pick(replicas) : rng.pick(names);
    table.push(entry);
  }
  return table;
}

function randomInput(seed: number): DecideInput {
  const rng = new Prng(seed);
  const nodes = randomNodes(rng);
  const config: ControllerConfig = {
    partitions: rng.int(1, 8),
    partitionReplication: rng.int(1, 3),
    nodeFailureTimeoutMs: TIMEOUT_MS,
  };
  if (rng.chance(0.7)) config.maxMovesPerRound = rng.int(1, 3);
  const table = rng.chance(0.3) ? [] : randomTable(rng, nodes, config.partitions);
  return { nowMs: NOW, nodes, table, config };
}

function check(cond: boolean, what: string): void {
  if (!cond) throw new Error(what);
}

function spread(counts: number[]): number {
  return counts.length === 0 ? 0 : Math.max(...counts) - Math.min(...counts);
}

/** The live, non-draining workers of `input`, which alone hold replicas and leaderships once settled. */
function eligibleOf(input: DecideInput): string[] {
  const live = (n: NodeView) => n.roles.includes('worker') && NOW - n.lastHeartbeatMs <= TIMEOUT_MS;
  return input.nodes.filter((n) => live(n) && !n.draining).map((n) => n.id);
}

/** Every invariant of a settled table (rules 1–5). */
function checkSettled(input: DecideInput, final: Decision): void {
  const { nodes, config } = input;
  const live = (id: string) =>
    nodes.some((n) => n.id === id && n.roles.includes('worker') && NOW - n.lastHeartbeatMs <= TIMEOUT_MS);
  const eligible = eligibleOf(input);
  const factor = Math.min(config.partitionReplication, eligible.length);
  check(final.table.map((p) => p.partition).join() === [...Array(config.partitions).keys()].join(), 'partitions');
  for (const p of final.table) {
    check(new Set(p.replicas).size === p.replicas.length, `partition ${p.partition}: duplicate replicas`);
    if (factor > 0) {
      check(p.replicas.length === factor, `partition ${p.partition}: ${p.replicas.length} replicas, want ${factor}`);
      check(
        p.replicas.every((r) => eligible.includes(r)),
        `partition ${p.partition}: replica not live or draining`,
      );
      check(p.leader !== undefined && eligible.includes(p.leader), `partition ${p.partition}: leader ${p.leader}`);
    } else if (p.leader !== undefined) {
      check(p.replicas.includes(p.leader) && live(p.leader), `partition ${p.partition}: leader ${p.leader}`);
    }
    if (p.leader !== undefined) check(p.replicas.includes(p.leader), `partition ${p.partition}: leader not a replica`);
    const noLive = !p.replicas.some(live);
    check(noLive === final.unavailable.includes(p.partition), `partition ${p.partition}: unavailable report`);
    if (noLive) check(p.leader === undefined, `partition ${p.partition}: leader without live replica`);
  }
  if (factor === 0) return;
  const replicas = eligible.map((id) => final.table.filter((p) => p.replicas.includes(id)).length);
  const leaders = eligible.map((id) => final.table.filter((p) => p.leader === id).length);
  check(spread(replicas) <= 1, `replica counts ${replicas} on ${eligible}`);
  check(spread(leaders) <= 1, `leader counts ${leaders} on ${eligible}`);
}

/** Each round: deterministic (also for shuffled nodes), epochs grow by exactly one per leader change. */
function checkRound(input: DecideInput, d: Decision, rng: Prng): void {
  check(JSON.stringify(decide(input)) === JSON.stringify(d), 'not deterministic');
  const shuffled = [...input.nodes].sort(() => (rng.chance(0.5) ? 1 : -1));
  check(JSON.stringify(decide({ ...input, nodes: shuffled })) === JSON.stringify(d), 'depends on node order');
  for (const p of d.table) {
    const prior = input.table.find((q) => q.partition === p.partition);
    const priorEpoch = prior && Number.isFinite(prior.epoch) && prior.epoch > 0 ? Math.ceil(prior.epoch) : 0;
    const want = priorEpoch + (p.leader === prior?.leader ? 0 : 1);
    check(p.epoch === want, `partition ${p.partition}: epoch ${p.epoch} after ${priorEpoch}, want ${want}`);
  }
}

/** Each round: balancing moves within the bound, one per partition; at most one replica beyond the factor. */
function checkBounds(input: DecideInput, d: Decision): void {
  const moves = d.changes.filter(
    (c) => c.kind === 'replica-added' && (c.reason === 'drain' || c.reason === 'rebalance'),
  );
  check(moves.length <= (input.config.maxMovesPerRound ?? DEFAULT_MAX_MOVES_PER_ROUND), `${moves.length} moves`);
  check(new Set(moves.map((c) => c.partition)).size === moves.length, 'two moves of one partition');
  const factor = Math.min(input.config.partitionReplication, eligibleOf(input).length);
  if (factor === 0) return;
  for (const p of d.table) check(p.replicas.length <= factor + 1, `partition ${p.partition}: beyond factor + 1`);
}

/** Iterates `decide` on its own output to the fixpoint, checking every round; returns the settled decision. */
function converge(input: DecideInput, rng: Prng, settled: boolean): { final: Decision; rounds: number } {
  let current = input;
  for (let round = 0; round < MAX_ROUNDS; round++) {
    const d = decide(current);
    checkRound(current, d, rng);
    if (settled || round > 0) checkBounds(current, d);
    if (d.changes.length === 0) {
      check(round === 0 || JSON.stringify(d.table) === JSON.stringify(current.table), 'fixpoint changed the table');
      checkSettled(current, d);
      return { final: d, rounds: round };
    }
    current = { ...current, table: d.table };
  }
  throw new Error(`no fixpoint after ${MAX_ROUNDS} rounds`);
}

/** The cluster changes under a settled table: a worker joins, dies, comes back, starts or stops draining. */
function perturb(rng: Prng, nodes: readonly NodeView[]): NodeView[] {
  const next = nodes.map((n) => ({ ...n }));
  for (let i = rng.int(1, 3); i > 0; i--) {
    const n = rng.pick(next);
    const what = rng.int(0, 3);
    if (what === 0) next.push({ id: `n${next.length}`, roles: ['worker'], lastHeartbeatMs: NOW, location: 'r.z1' });
    else if (what === 1) n.lastHeartbeatMs = NOW - 2 * TIMEOUT_MS;
    else if (what === 2) n.lastHeartbeatMs = NOW;
    else n.draining = !n.draining;
  }
  return next;
}

function runScenario(seed: number): number {
  const input = randomInput(seed);
  const rng = new Prng(seed ^ 0x5eed);
  const first = converge(input, rng, false);
  const nodes = perturb(rng, input.nodes);
  const second = converge({ ...input, nodes, table: first.final.table }, rng, true);
  return Math.max(first.rounds, second.rounds);
}

describe('controller simulation', () => {
  it(`${seeds} random clusters and garbage tables converge to a fixpoint that keeps every invariant`, () => {
    const failures: string[] = [];
    let roundsMax = 0;
    for (let seed = start; seed < start + seeds; seed++) {
      try {
        roundsMax = Math.max(roundsMax, runScenario(seed));
      } catch (err) {
        failures.push(`seed ${seed}: ${(err as Error).message} (replay: SIM_START=${seed} SIM_SEEDS=1)`);
      }
    }
    expect(failures).toEqual([]);
    expect(roundsMax).toBeGreaterThan(3);
  });
});
