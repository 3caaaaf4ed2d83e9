// One failover round against a cluster: closed-loop clients call Bench/steps through an ingress that is not
// killed, the node leading the most partitions is killed with SIGKILL, the clients keep going for a while, then
// the node is restarted and the round ends once the cluster is whole again. Reports failed requests, the longest
// stretch without any successful answer and the slowest request.
import { Agent } from 'node:http';
import { waitFor } from '@stead/testing';
import { stepsCall, waitAnswering } from './cells.ts';
import { busiestLeader, type ClusterTarget } from './cluster-targets.ts';
import { post } from './load.ts';

export interface FailoverOptions {
  /** Closed-loop clients during the round. */
  clients: number;
  steps: number;
  /** Load before the kill (steady state), and after it until the clients stop sending. */
  beforeKillMs: number;
  afterKillMs: number;
  /** A request without an answer after this long counts as failed. */
  requestTimeoutMs: number;
  /** How long the cluster may take to be whole again (before the round and after the restart). */
  wholeTimeoutMs: number;
}

export interface FailoverRound {
  round: number;
  /** The node killed, and how many partitions it led just before. */
  killed: string;
  killedLed: number;
  /** Process whose ingress the clients called. */
  ingress: string;
  succeeded: number;
  failed: number;
  firstError?: string;
  /** Longest time (ms) without any successful answer, from the clients' start until they stopped sending. */
  longestGapMs: number;
  /** Slowest request (ms), successful or not. */
  slowestMs: number;
  /** Time (ms) from the kill to the first request sent after it that succeeded. */
  recoveryMs: number;
  /** Time (ms) from the restart of the killed node until the cluster was whole again. */
  wholeAgainMs: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Longest interval between consecutive points of `[start, ...successes]`, closed by `end` if none comes later. */
export function longestGap(start: number, successes: readonly number[], end: number): number {
  const points = [start, ...successes.filter((t) => t >= start)].sort((a, b) => a - b);
  if (points[points.length - 1]! < end) points.push(end);
  let gap = 0;
  for (let i = 1; i < points.length; i++) gap = Math.max(gap, points[i]! - points[i - 1]!);
  return gap;
}

export async function failoverRound(t: ClusterTarget, round: number, o: FailoverOptions): Promise<FailoverRound> {
  await waitFor(() => t.whole(), {
    timeoutMs: o.wholeTimeoutMs,
    intervalMs: 250,
    what: `${t.name} whole before round ${round}`,
  });
  const victim = await busiestLeader(t);
  const ingress = t.ingress(victim.node);
  await waitAnswering(t.name, ingress);
  const { url, body, expect } = stepsCall(ingress, o.steps);
  const agent = new Agent({ keepAlive: true, maxSockets: o.clients, maxFreeSockets: o.clients });
  const successes: number[] = [];
  let failed = 0;
  let firstError: string | undefined;
  let slowestMs = 0;
  let killAt = Number.POSITIVE_INFINITY;
  let recoveredAt = Number.POSITIVE_INFINITY;
  let sending = true;
  const start = performance.now();
  const clients = Array.from({ length: o.clients }, async () => {
    while (sending) {
      const t0 = performance.now();
      let ok = false;
      try {
        const res = await post(agent, url, body, o.requestTimeoutMs);
        ok = res.status === 200 && res.body === expect;
        if (!ok) firstError ??= `${res.status} ${res.body.slice(0, 300)}`;
      } catch (err) {
        firstError ??= String(err);
      }
      const t1 = performance.now();
      slowestMs = Math.max(slowestMs, t1 - t0);
      if (ok) {
        successes.push(t1);
        if (t0 >= killAt) recoveredAt = Math.min(recoveredAt, t1);
      } else failed++;
    }
  });
  let stopAt = start;
  let wholeAgainMs = Number.NaN;
  try {
    await sleep(o.beforeKillMs);
    killAt = performance.now();
    await t.kill(victim.node);
    await sleep(Math.max(0, killAt + o.afterKillMs - performance.now()));
  } finally {
    stopAt = performance.now();
    sending = false;
    await Promise.all(clients);
    agent.destroy();
  }
  const restartAt = performance.now();
  await t.restart(victim.node);
  await waitFor(() => t.whole(), {
    timeoutMs: o.wholeTimeoutMs,
    intervalMs: 100,
    what: `${t.name} whole after restarting ${victim.node}`,
  });
  wholeAgainMs = performance.now() - restartAt;
  const r: FailoverRound = {
    round,
    killed: victim.node,
    killedLed: victim.partitions,
    ingress: t.ingressNode(victim.node),
    succeeded: successes.length,
    failed,
    longestGapMs: longestGap(start, successes, stopAt),
    slowestMs,
    recoveryMs: recoveredAt - killAt,
    wholeAgainMs,
  };
  if (failed > 0 && firstError !== undefined) r.firstError = firstError;
  return r;
}
